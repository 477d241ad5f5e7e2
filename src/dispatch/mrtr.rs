//! Multi-round-trip requests between eras: a legacy server asks a question (sampling, elicitation, roots) while
//! serving a modern client, which cannot receive server→client requests.
//!
//! The gateway answers the client's call with `resultType: "input_required"` carrying the server's requests as
//! `inputRequests`, and parks the downstream call, still waiting, under an opaque `requestState`. The client
//! retries with a new id, its `inputResponses` and that `requestState`; the gateway hands each response to the
//! server as the answer to its own request, and binds the new id to the parked call, whose result then answers
//! the retry. Requests the client left unanswered are asked again at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::value::RawValue;

use super::Requester;
use crate::protocol::write_json_str;

/// How long a parked call waits for the client to come back with answers.
pub(crate) const HOLD: Duration = Duration::from_secs(600);

/// Prefix of the gateway's own `requestState` values (a server's own states pass through untouched).
pub(crate) const STATE_PREFIX: &str = "dfs1.";

/// One request of a server, waiting for the client's answer.
pub(crate) struct InputRequest {
    /// Key in `inputRequests` / `inputResponses`.
    pub(crate) key: String,
    pub(crate) method: String,
    pub(crate) params: Option<Box<RawValue>>,
    /// The server's own id for its request.
    pub(crate) downstream_id: Box<RawValue>,
}

/// A downstream call waiting for its client to answer input requests.
pub(crate) struct ParkedCall {
    pub(crate) requester: Requester,
    /// The gateway's id of the call at the downstream.
    pub(crate) call_id: u64,
    /// The session that was asked.
    pub(crate) session: u64,
    /// Only a client with this [`super::ClientHandle::owner`] may answer (its session, or the identity
    /// stateless HTTP requests share).
    pub(crate) owner: u64,
    pub(crate) inputs: Vec<InputRequest>,
    /// The call's timeout, restored when the client comes back.
    pub(crate) timeout: Duration,
}

/// Parked calls by `requestState`.
#[derive(Default)]
pub(crate) struct Parking {
    parked: Mutex<HashMap<String, ParkedCall>>,
    next: AtomicU64,
}

impl Parking {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ParkedCall>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks a call and returns the `input_required` result that asks the client for its inputs.
    pub(crate) fn park_with(&self, call: ParkedCall, result: impl FnOnce(&[InputRequest], &str) -> Vec<u8>) -> Vec<u8> {
        // Unguessable: over stateless HTTP the state is all that ties a retry to the call.
        let mut secret = [0u8; 8];
        let _ = getrandom::getrandom(&mut secret);
        let token = format!(
            "{STATE_PREFIX}{:x}.{:x}.{:016x}",
            call.session,
            self.next.fetch_add(1, Ordering::Relaxed) + 1,
            u64::from_le_bytes(secret)
        );
        let out = result(&call.inputs, &token);
        self.lock().insert(token, call);
        out
    }

    /// Adds a request to a call of `session` at `server` that is parked already (the server asked again before the
    /// client came back); `false` when no such call is parked.
    pub(crate) fn add_input(&self, session: u64, server: &str, input: InputRequest) -> Result<(), InputRequest> {
        let mut parked = self.lock();
        match parked.values_mut().find(|p| p.session == session && p.requester.server() == server) {
            Some(p) => {
                p.inputs.push(input);
                Ok(())
            }
            None => Err(input),
        }
    }

    pub(crate) fn take(&self, token: &str) -> Option<ParkedCall> {
        self.lock().remove(token)
    }

    /// A unique key for a new input request.
    pub(crate) fn next_key(&self, method: &str) -> String {
        let kind = method.rsplit('/').next().unwrap_or("input");
        format!("{kind}-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// The `input_required` result asking for `inputs`.
pub(crate) fn input_required(inputs: &[InputRequest], state: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"resultType":"input_required","inputRequests":{"#);
    for (i, input) in inputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&mut out, &input.key);
        out.extend_from_slice(br#":{"method":"#);
        write_json_str(&mut out, &input.method);
        if let Some(params) = &input.params {
            out.extend_from_slice(br#","params":"#);
            out.extend_from_slice(params.get().as_bytes());
        }
        out.push(b'}');
    }
    out.extend_from_slice(br#"},"requestState":"#);
    write_json_str(&mut out, state);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_required_lists_every_request_under_its_key() {
        let inputs = vec![
            InputRequest {
                key: "createMessage-1".into(),
                method: "sampling/createMessage".into(),
                params: Some(RawValue::from_string(r#"{"maxTokens":5}"#.into()).unwrap()),
                downstream_id: RawValue::from_string("0".into()).unwrap(),
            },
            InputRequest {
                key: "list-2".into(),
                method: "roots/list".into(),
                params: None,
                downstream_id: RawValue::from_string("1".into()).unwrap(),
            },
        ];
        let v: serde_json::Value = serde_json::from_slice(&input_required(&inputs, "dfs1.1.2")).unwrap();
        assert_eq!(v["resultType"], "input_required");
        assert_eq!(v["requestState"], "dfs1.1.2");
        assert_eq!(v["inputRequests"]["createMessage-1"]["params"]["maxTokens"], 5);
        assert_eq!(v["inputRequests"]["list-2"], serde_json::json!({"method": "roots/list"}));
    }
}
