//! `StdioFront`: the Claude Desktop entry. Reads client frames from stdin into one [`Session`], writes every
//! outbound frame to stdout, and ends the gateway at end of input. stdout carries protocol frames only.
//!
//! It owns two tasks, the reader and the writer. Their work is the data plane (a frame read here goes straight
//! into the session and on to the server's lane); the actor only watches them: if one panics, the front fails
//! and the gateway shuts down cleanly, with the reason logged, rather than stay up unable to hear its client (a
//! half-read stdin cannot be resumed).
//!
//! When stdin/stdout are pipes (as under a desktop client) they are driven as non-blocking pipes on the
//! runtime's reactor; otherwise (a terminal, a file) tokio's blocking-pool stdio is used.

use std::os::fd::AsFd;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::tasks::{Owned, TaskEnd};
use crate::session::{Session, Shared};
use crate::transport::framing::{write_frames, FrameReader};

/// The byte streams of the stdio front: the process's stdin and stdout, or a test's own.
pub(crate) struct StdioStreams {
    pub(crate) input: Box<dyn AsyncRead + Unpin + Send>,
    pub(crate) output: Box<dyn AsyncWrite + Unpin + Send>,
}

impl StdioStreams {
    /// The process's stdin and stdout.
    pub(crate) fn process() -> StdioStreams {
        StdioStreams { input: stdin(), output: stdout() }
    }
}

pub(crate) struct StdioFrontArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) max_frame_bytes: usize,
    /// Cancelled at end of input: the gateway then shuts down.
    pub(crate) shutdown: CancellationToken,
    pub(crate) streams: StdioStreams,
}

pub(crate) enum StdioFrontMsg {
    /// One of the front's tasks ended.
    Ended(&'static str, TaskEnd),
}

pub(crate) struct StdioFrontState {
    reader: Owned,
    writer: Owned,
}

pub(crate) struct StdioFront;

impl Actor for StdioFront {
    type Msg = StdioFrontMsg;
    type State = StdioFrontState;
    type Arguments = StdioFrontArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<StdioFrontMsg>,
        args: StdioFrontArgs,
    ) -> Result<StdioFrontState, ActorProcessingErr> {
        let (tx, rx) = mpsc::unbounded_channel();
        let StdioStreams { input, output } = args.streams;
        let writer = tokio::spawn(write_frames(output, rx, CancellationToken::new()));
        let session = Session::new(args.shared, tx);
        let mut frames = FrameReader::new(input, args.max_frame_bytes).counting_activity();
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
        let reader = Owned::watch(&myself, reader, |end| StdioFrontMsg::Ended("stdin reader", end));
        let writer = Owned::watch(&myself, writer, |end| StdioFrontMsg::Ended("stdout writer", end));
        Ok(StdioFrontState { reader, writer })
    }

    async fn handle(
        &self,
        _myself: ActorRef<StdioFrontMsg>,
        msg: StdioFrontMsg,
        _state: &mut StdioFrontState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StdioFrontMsg::Ended(task, TaskEnd::Panicked(why)) => {
                Err(format!("the stdio front's {task} task panicked: {why}").into())
            }
            // The reader returns at end of input (it has asked for the shutdown itself); the writer when its
            // client is gone, which the reader then sees as end of input.
            StdioFrontMsg::Ended(..) => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<StdioFrontMsg>,
        state: &mut StdioFrontState,
    ) -> Result<(), ActorProcessingErr> {
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
