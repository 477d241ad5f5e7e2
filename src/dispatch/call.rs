//! One call on its way to a server ([`Call`]) and the way back to its client ([`ClientReply`]): the reply path
//! the transport's reader completes (the [`Caller`] implementation), with the client's own id restored, the
//! fallback's `_meta` or the modern result members added, and the call's record finished.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::client::ClientHandle;
use super::record::{is_error_result, Answer, CallLog};
use crate::protocol::{self, Envelope, RawObject};
use crate::transport::{Caller, DownstreamError};

/// A client request to forward to one server.
pub(crate) struct Call {
    /// `tools/call`, `prompts/get`, `resources/read`, ...
    pub(crate) method: &'static str,
    /// The params to send, already rewritten to the downstream's names.
    pub(crate) params: Bytes,
    pub(crate) reply: ClientReply,
    /// A policy rule's timeout for this call, instead of the server's.
    pub(crate) timeout: Option<Duration>,
    /// Starts of the server that failed while this call waited for it (it never reached the server, so it may
    /// wait for another start, up to the server's `retries`).
    pub(crate) start_failures: u32,
}

impl Call {
    /// A call sent for the first time.
    pub(crate) fn new(method: &'static str, params: Bytes, reply: ClientReply, timeout: Option<Duration>) -> Call {
        Call { method, params, reply, timeout, start_failures: 0 }
    }

    /// Answers the client with `err`.
    pub(crate) fn reply_fail(self, err: &DownstreamError) {
        self.reply.fail(err);
    }
}

/// Where a client's request came from, so the answer finds its way back with the client's own id.
pub(crate) struct ClientReply {
    pub(crate) client: Arc<ClientHandle>,
    /// The id exactly as the client wrote it.
    pub(crate) id: Box<RawValue>,
    /// `_meta.progressToken` of the request, if any: progress with this token goes to this client.
    pub(crate) progress_token: Option<Box<RawValue>>,
    /// The token the server was given instead (raw JSON text): client tokens are unique per client only.
    pub(crate) downstream_token: Option<Box<str>>,
    /// `Some(cacheable)` when a modern client waits for a legacy server's result: the result then gets the
    /// modern `resultType` (and cache hints when `cacheable`).
    pub(crate) complete_for_modern: Option<bool>,
    /// The request as this server first got it (before any era conversion), kept when the call may have to be
    /// sent again: a retry, a fallback, or a modern server's round of input requests.
    pub(crate) resend: Option<Resend>,
    /// The call asked for a task (2025-11-25 `params.task`): the task id in the result is remembered, so that
    /// `tasks/*` requests for it reach this server.
    pub(crate) record_task: bool,
    /// Times the call may still be repeated after a timeout or crash: non-zero only when repeating is safe (a
    /// read-only or idempotent tool, by annotation or by policy).
    pub(crate) retries_left: u32,
    /// Where the call goes when it fails (a policy `fallback` rule).
    pub(crate) fallback: Option<Fallback>,
    /// On a fallback call: the tool that answered and the one first asked, for the result's `_meta`.
    pub(crate) answered_by: Option<(Arc<str>, Arc<str>)>,
    /// A modern server serves a legacy client: an `input_required` result must be bridged into requests.
    pub(crate) bridge_input: bool,
    /// The record of a tool call (metrics, evidence, cache): finished when the client is answered.
    pub(crate) log: Option<Box<CallLog>>,
}

impl ClientReply {
    /// A reply to `id` with nothing special about it.
    pub(crate) fn new(client: Arc<ClientHandle>, id: Box<RawValue>) -> Self {
        ClientReply {
            client,
            id,
            progress_token: None,
            downstream_token: None,
            complete_for_modern: None,
            resend: None,
            record_task: false,
            retries_left: 0,
            fallback: None,
            answered_by: None,
            bridge_input: false,
            log: None,
        }
    }

    /// The response frame carrying a downstream's `result` (or a cached one) as this client gets it: the
    /// fallback's `_meta` added when another tool answered, the modern members when the client is modern.
    pub(crate) fn result_frame(&self, result: &[u8]) -> Bytes {
        let with_meta;
        let result = match &self.answered_by {
            Some((by, from)) => {
                let members = format!(r#""dfs-gateway/answeredBy":"{by}","dfs-gateway/fallbackFrom":"{from}""#);
                with_meta = protocol::merge_meta(Some(result), members.as_bytes(), None);
                &with_meta[..]
            }
            None => result,
        };
        match self.complete_for_modern {
            Some(cacheable) => {
                protocol::response_frame_bytes(&self.id, &crate::era::complete_result(result, cacheable))
            }
            None => protocol::response_frame_bytes(&self.id, result),
        }
    }

    /// Sends `frame` to the client and records the call (`answer` says how it ended).
    pub(crate) fn deliver(mut self, frame: Bytes, answer: Answer<'_>) {
        let log = self.log.take();
        match log {
            Some(log) => {
                self.client.send(frame.clone());
                log.finish(&self, &frame, answer);
            }
            None => self.client.send(frame),
        }
    }

    /// Answers with a failure the gateway saw.
    pub(crate) fn fail(self, err: &DownstreamError) {
        let frame = err.to_frame_for(&self.id, self.client.sees_stderr);
        self.deliver(frame, Answer::Failure(err));
    }
}

/// A policy fallback: the canonical tool to call instead.
pub(crate) struct Fallback {
    pub(crate) target: Arc<str>,
    /// Also fall back when the tool answers `isError: true`.
    pub(crate) on_error: bool,
    /// The canonical tool first asked.
    pub(crate) from: Arc<str>,
    /// The policy the call was decided by: the target is decided by it too, for the same client, as if the
    /// client had called the target (so a fallback is no way around a deny rule).
    pub(crate) policy: Arc<crate::policy::PolicySet>,
}

/// A request as it went to the server, kept when it may have to be sent again (retry, fallback, input rounds).
#[derive(Clone)]
pub(crate) struct Resend {
    pub(crate) method: &'static str,
    pub(crate) params: Bytes,
    /// A policy timeout for the call, if any.
    pub(crate) timeout: Option<Duration>,
}

/// An answer the reader hands to the server's actor instead of the client.
pub(crate) enum Diverted {
    /// A call whose policy falls back on `isError` got an `isError` result.
    ToolError(ClientReply),
    /// A modern server answered a legacy client's call with `input_required` (the whole response frame).
    InputRequired(ClientReply, Bytes),
}

/// The reply path as the transport's reader drives it, once per answer (a direct call: the transport is
/// generic over this type).
impl Caller for ClientReply {
    type Diverted = Diverted;
    type ProgressTo = (Arc<ClientHandle>, Box<RawValue>);

    fn origin(&self) -> u64 {
        self.client.session
    }

    fn request_key(&self) -> &str {
        protocol::raw_key(&self.id)
    }

    fn progress_key(&self) -> Option<&str> {
        match (&self.downstream_token, &self.progress_token) {
            (Some(t), _) => Some(t),
            (None, Some(t)) => Some(protocol::raw_key(t)),
            (None, None) => None,
        }
    }

    fn progress_to(&self) -> Option<Self::ProgressTo> {
        Some((self.client.clone(), self.progress_token.clone()?))
    }

    /// The notification as the client should see it: under its own token.
    fn forward_progress((client, own): Self::ProgressTo, line: &[u8], params: &RawObject<'_>, token: &RawValue) {
        if own.get() == token.get() {
            return client.send(crate::transport::child::with_newline(line));
        }
        let mut rewritten = Vec::with_capacity(line.len() + own.get().len());
        params.write_with_raw("progressToken", own.get().as_bytes(), &mut rewritten);
        client.send(protocol::notification_frame("notifications/progress", Some(&rewritten)));
    }

    fn complete(self, line: &Bytes, env: &Envelope<'_>, server: &str) -> Option<Diverted> {
        if self.fallback.as_ref().is_some_and(|f| f.on_error)
            && env.result.is_some_and(|r| is_error_result(r.get().as_bytes()))
        {
            return Some(Diverted::ToolError(self));
        }
        if self.bridge_input && env.result.is_some_and(is_input_required) {
            return Some(Diverted::InputRequired(self, line.clone()));
        }
        if let (true, Some(result)) = (self.record_task, env.result) {
            if let Some(task_id) = task_id(result) {
                self.client.remember_task(task_id, server);
            }
        }
        match (env.result, env.error) {
            (Some(result), _) => {
                let frame = self.result_frame(result.get().as_bytes());
                self.deliver(frame, Answer::Result(result));
            }
            (None, Some(error)) => {
                let frame = protocol::raw_error_frame(&self.id, error);
                self.deliver(frame, Answer::Error(error));
            }
            (None, None) => unreachable!("a response has a result or an error"),
        }
        None
    }

    fn fail(self, err: &DownstreamError) {
        ClientReply::fail(self, err);
    }
}

/// `result.task.taskId` of a task-creating call.
fn task_id(result: &RawValue) -> Option<String> {
    let task = RawObject::parse(result).ok()?.get("task")?;
    RawObject::parse(task).ok()?.get_str("taskId").map(|t| t.into_owned())
}

/// A modern `input_required` result (checked cheaply first: legacy results never carry the member).
fn is_input_required(result: &RawValue) -> bool {
    crate::find_bytes!(result.get().as_bytes(), b"input_required").is_some()
        && RawObject::parse(result).is_ok_and(|o| o.get_str("resultType").as_deref() == Some("input_required"))
}
