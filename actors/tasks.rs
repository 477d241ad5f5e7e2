//! Tasks an actor owns (the stdio front's reader and writer, the HTTP front's listener and sweeper). A task that
//! panics must not end silently, leaving the gateway up but deaf: its owner hears of the end as a message and
//! decides, by restarting the task or by failing, so that its own supervisor decides.

use std::any::Any;
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

/// How an owned task ended.
#[derive(Debug)]
pub(crate) enum TaskEnd {
    /// It returned (the end of its input, or its owner closed it).
    Returned,
    /// It panicked, with this message.
    Panicked(String),
    /// Its owner aborted it.
    Aborted,
}

/// A running task of an actor's, watched: its end is reported to the actor.
pub(crate) struct Owned {
    abort: AbortHandle,
    /// Becomes true once the task has ended.
    done: watch::Receiver<bool>,
}

impl Owned {
    /// Watches `task`: when it ends, the actor gets `report(how)` (unless the actor has stopped by then).
    pub(crate) fn watch<M: ractor::Message>(
        actor: &ActorRef<M>,
        task: JoinHandle<()>,
        report: impl FnOnce(TaskEnd) -> M + Send + 'static,
    ) -> Owned {
        let abort = task.abort_handle();
        let (done_tx, done) = watch::channel(false);
        let actor = actor.clone();
        tokio::spawn(async move {
            let end = match task.await {
                Ok(()) => TaskEnd::Returned,
                Err(e) if e.is_panic() => TaskEnd::Panicked(panic_message(e.into_panic())),
                Err(_) => TaskEnd::Aborted,
            };
            let _ = done_tx.send(true);
            let _ = actor.cast(report(end));
        });
        Owned { abort, done }
    }

    pub(crate) fn abort(&self) {
        self.abort.abort();
    }

    /// Gives the task `grace` to end by itself (its owner has told it to), then aborts it.
    pub(crate) async fn stop_within(&mut self, grace: Duration) {
        if tokio::time::timeout(grace, self.done.wait_for(|d| *d)).await.is_err() {
            self.abort();
        }
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(|| "(no message)".to_owned(), |s| (*s).to_owned()),
    }
}
