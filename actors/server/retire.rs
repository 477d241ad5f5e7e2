//! Retiring a server for good when a configuration reload removes or changes it: unlike a crash, nothing is
//! restarted, and every call it holds is answered with the reason.

use ractor::ActorRef;

use super::{Phase, ServerMsg, ServerState};
use crate::dispatch::Responder;

impl ServerState {
    /// Answers everything waiting here with `reason`, stops the process group (stdin closed, then SIGTERM, then
    /// SIGKILL after the grace time), and lets the actor end once the messages already sent to it are answered.
    pub(super) async fn retire(&mut self, myself: &ActorRef<ServerMsg>, reason: String) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        self.set_phase(Phase::Stopping);
        // Late events of the process (its exit, a handshake that ends now) belong to no current generation.
        self.generation += 1;
        let err = self.unavailable(&reason);
        self.retired = Some(reason);
        // Calls that were queued or in flight: a fallback rule may still answer them elsewhere.
        for (_, call) in std::mem::take(&mut self.queue) {
            self.recover_or_fail(myself, call.reply, err.clone(), false);
        }
        for (_, round) in std::mem::take(&mut self.rounds) {
            Responder::Call(round.reply).fail(&err);
        }
        self.stop_sessions(&err).await;
        if let Some(child) = self.child.take() {
            for entry in child.requester().pending().drain() {
                match entry.responder {
                    Responder::Call(reply) => self.recover_or_fail(myself, reply, err.clone(), false),
                    other => other.fail(&err),
                }
            }
            let pid = child.pid();
            child.stop(self.ctx.stop_grace).await;
            tracing::info!(server = %self.label, pid, reason = self.retired.as_deref(), "server process stopped");
        }
        // Not running: a replacement reports itself up once ready (same series); a removed server stays down.
        self.metrics.set_up(false);
        // Calls already in the mailbox are answered with the reason (phase Stopping); later ones cannot be sent.
        let _ = myself.drain();
    }
}
