//! Input rounds between eras. A modern (2026-07-28) client cannot receive a legacy server's own requests: its call
//! is answered `input_required` with them, and the downstream call waits, parked, for the client's retry (see
//! [`crate::dispatch::mrtr`]). A modern server's `input_required` for a legacy client goes the other way: its
//! requests go to the client as ordinary requests, and the call is sent again once every answer is in.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::value::RawValue;

use super::ServerState;
use crate::dispatch::mrtr::{InputRequest, ParkedCall};
use crate::dispatch::{ClientHandle, ClientReply, Requester, Responder, ReturnPath};
use crate::era;
use crate::protocol::{self, Envelope};
use crate::transport::DownstreamError;

/// A legacy client's call that a modern server answered `input_required`: the server's requests went to the
/// client as ordinary requests; once every answer is in, the call is sent again with them.
pub(super) struct Round {
    pub(super) reply: ClientReply,
    /// `requestState` to echo, as the server sent it.
    state: Option<Box<RawValue>>,
    waiting: Vec<String>,
    answers: Vec<(String, Box<RawValue>)>,
}

impl ServerState {
    /// A modern client cannot receive requests: its call is answered `input_required` with the server's request,
    /// and the downstream call waits, parked, for the client's retry (see [`crate::dispatch::mrtr`]).
    pub(super) fn ask_modern_client(
        &self,
        requester: &Requester,
        client: &Arc<ClientHandle>,
        id: &RawValue,
        method: &str,
        params: Option<&RawValue>,
    ) {
        let parking = &self.ctx.clients.parking;
        let input = InputRequest {
            key: parking.next_key(method),
            method: method.to_owned(),
            params: params.map(|p| p.to_owned()),
            downstream_id: id.to_owned(),
        };
        // The server asked again before the client came back: ask with the rest when it does.
        let Err(input) = parking.add_input(client.session, &self.label, input) else { return };
        let parked = requester.pending().latest_call_of(client.session).and_then(|call_id| {
            requester.pending().park(call_id, crate::dispatch::mrtr::HOLD).map(|reply| (call_id, reply))
        });
        let Some((call_id, reply)) = parked else {
            let msg = format!("dfs-gateway has no call of this client to attach `{method}` to");
            requester.send_raw(protocol::error_frame(id, protocol::code::INTERNAL_ERROR, &msg, None));
            return;
        };
        let call = ParkedCall {
            requester: requester.clone(),
            call_id,
            session: client.session,
            owner: client.owner,
            inputs: vec![input],
            timeout: self.cfg.timeout,
        };
        let result = parking.park_with(call, crate::dispatch::mrtr::input_required);
        reply.client.send(protocol::response_frame_bytes(&reply.id, &result));
    }

    /// A modern server needs input for a legacy client's call: ask the client with ordinary requests.
    pub(super) fn on_input_required(&mut self, reply: ClientReply, frame: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Input<'a> {
            method: Cow<'a, str>,
            #[serde(borrow, default)]
            params: Option<&'a RawValue>,
        }
        let parsed = Envelope::parse(frame).ok().and_then(|env| {
            let result = protocol::RawObject::parse(env.result?).ok()?;
            let inputs: Vec<(String, Input<'_>)> = match result.get("inputRequests") {
                Some(raw) => protocol::RawObject::parse(raw)
                    .ok()?
                    .members
                    .iter()
                    .map(|(k, v)| Some((k.to_string(), serde_json::from_str::<Input<'_>>(v.get()).ok()?)))
                    .collect::<Option<_>>()?,
                None => Vec::new(),
            };
            let inputs: Vec<(String, String, Option<Box<RawValue>>)> =
                inputs.into_iter().map(|(k, i)| (k, i.method.into_owned(), i.params.map(|p| p.to_owned()))).collect();
            Some((inputs, result.get("requestState").map(|s| s.to_owned())))
        });
        let Some((inputs, state)) = parsed else {
            let err = DownstreamError::BadResponse {
                server: self.label.to_string(),
                detail: "an input_required result the gateway cannot read".into(),
            };
            return Responder::Call(reply).fail(&err);
        };
        self.next_round += 1;
        let round = self.next_round;
        let client = reply.client.clone();
        let waiting = inputs.iter().map(|(k, _, _)| k.clone()).collect();
        self.rounds.insert(round, Round { reply, state, waiting, answers: Vec::new() });
        for (key, method, params) in inputs {
            let gid = self.ctx.clients.next_request_id();
            let path = ReturnPath::Gather { server: self.handle.clone(), round, key };
            if !client.park_server_request(gid, path) {
                tracing::warn!(server = %self.label, "the client has too many requests outstanding; input request dropped");
                continue;
            }
            client.send(protocol::request_frame(gid, &method, params.as_ref().map(|p| p.get().as_bytes())));
        }
        // A state-only answer (the server shed load) is retried at once.
        self.retry_if_complete(round);
    }

    pub(super) fn on_input_response(&mut self, round: u64, key: String, answer: Result<Box<RawValue>, Box<RawValue>>) {
        let Some(r) = self.rounds.get_mut(&round) else { return };
        match answer {
            Ok(result) => {
                r.waiting.retain(|k| *k != key);
                r.answers.push((key, result));
                self.retry_if_complete(round);
            }
            Err(error) => {
                let r = self.rounds.remove(&round).expect("found above");
                let err = DownstreamError::BadResponse {
                    server: self.label.to_string(),
                    detail: format!("the client refused the server's request for input: {}", error.get()),
                };
                Responder::Call(r.reply).fail(&err);
            }
        }
    }

    /// Sends the call again with every answer, once all are in.
    pub(super) fn retry_if_complete(&mut self, round: u64) {
        if !self.rounds.get(&round).is_some_and(|r| r.waiting.is_empty()) {
            return;
        }
        let r = self.rounds.remove(&round).expect("checked above");
        let (Some(child), Some(resend)) = (&self.child, &r.reply.resend) else {
            return Responder::Call(r.reply).fail(&self.unavailable("it restarted while the client was answering"));
        };
        let mut answers = Vec::with_capacity(256);
        answers.push(b'{');
        for (i, (k, v)) in r.answers.iter().enumerate() {
            if i > 0 {
                answers.push(b',');
            }
            protocol::write_json_str(&mut answers, k);
            answers.push(b':');
            answers.extend_from_slice(v.get().as_bytes());
        }
        answers.push(b'}');
        let original: &RawValue = match serde_json::from_slice(&resend.params) {
            Ok(p) => p,
            Err(_) => return,
        };
        let Ok(obj) = protocol::RawObject::parse(original) else { return };
        let mut with_answers = Vec::with_capacity(resend.params.len() + answers.len() + 64);
        obj.write_with_raw("inputResponses", &answers, &mut with_answers);
        let params = match &r.state {
            Some(state) => {
                let raw: &RawValue = serde_json::from_slice(&with_answers).expect("written as JSON");
                let obj = protocol::RawObject::parse(raw).expect("an object");
                let mut out = Vec::with_capacity(with_answers.len() + state.get().len() + 16);
                obj.write_with_raw("requestState", state.get().as_bytes(), &mut out);
                out
            }
            None => with_answers,
        };
        let method = resend.method;
        let params = match &self.envelope {
            Some(envelope) => era::with_envelope(Some(&params), envelope),
            None => params,
        };
        child.requester().send(method, Some(&params), Responder::Call(r.reply), self.cfg.timeout, true);
    }
}
