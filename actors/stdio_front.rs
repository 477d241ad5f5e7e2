//! `StdioFront`: the Claude Desktop entry. Reads client frames from stdin into one [`Session`], writes every
//! outbound frame to stdout, and ends the gateway at end of input. stdout carries protocol frames only.
//!
//! When stdin/stdout are pipes (as under a desktop client) they are driven as non-blocking pipes on the
//! runtime's reactor; otherwise (a terminal, a file) tokio's blocking-pool stdio is used.

use std::os::fd::AsFd;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::session::{Session, Shared};
use crate::transport::framing::{write_frames, FrameReader};

pub(crate) struct StdioFrontArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) max_frame_bytes: usize,
    /// Cancelled at end of input: the gateway then shuts down.
    pub(crate) shutdown: CancellationToken,
}

pub(crate) struct StdioFrontState {
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

pub(crate) struct StdioFront;

impl Actor for StdioFront {
    type Msg = ();
    type State = StdioFrontState;
    type Arguments = StdioFrontArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        args: StdioFrontArgs,
    ) -> Result<StdioFrontState, ActorProcessingErr> {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_frames(stdout(), rx, CancellationToken::new()));
        let session = Session::new(args.shared, tx);
        let mut frames = FrameReader::new(stdin(), args.max_frame_bytes).counting_activity();
        let shutdown = args.shutdown;
        let reader = tokio::spawn(async move {
            loop {
                match frames.next().await {
                    Ok(Some(frame)) => session.handle_frame(frame),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "reading stdin failed");
                        break;
                    }
                }
            }
            tracing::info!("stdin closed; shutting down");
            shutdown.cancel();
        });
        Ok(StdioFrontState { reader, writer })
    }

    async fn post_stop(&self, _myself: ActorRef<()>, state: &mut StdioFrontState) -> Result<(), ActorProcessingErr> {
        state.reader.abort();
        state.writer.abort();
        Ok(())
    }
}

fn stdin() -> Box<dyn AsyncRead + Unpin + Send> {
    let pipe = std::io::stdin().as_fd().try_clone_to_owned().and_then(tokio::net::unix::pipe::Receiver::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdin()),
    }
}

fn stdout() -> Box<dyn AsyncWrite + Unpin + Send> {
    let pipe = std::io::stdout().as_fd().try_clone_to_owned().and_then(tokio::net::unix::pipe::Sender::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdout()),
    }
}
