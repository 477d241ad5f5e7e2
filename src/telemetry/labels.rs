//! Label sets and label values of the gateway's metrics.
//!
//! Every label value comes from a closed set: an enum here ([`Outcome`], [`ErrorKind`]) or a name the gateway
//! itself configured or learned from a downstream's tool list (namespace, server, tool, policy rule). Raw client
//! input (an unknown tool name, arguments, ids) never becomes a label value: a call to a tool that is not in the
//! routing table is recorded under [`UNKNOWN`] for all three names, so a client cannot grow the series count.

use std::fmt;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// The label value for a namespace, server or tool the gateway does not know (unroutable calls).
pub(crate) const UNKNOWN: &str = "unknown";

/// The namespace and server label of errors that belong to the gateway itself rather than to a downstream
/// (e.g. the cache backend).
pub(crate) const GATEWAY: &str = "gateway";

/// `{namespace, server}`: one downstream server. Cloning costs two reference-count increments, no allocation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub(crate) struct ServerLabels {
    /// `app` or `ext` (the config's namespace), or [`GATEWAY`] for the gateway's own series.
    pub(crate) namespace: Arc<str>,
    /// The server's configured name (not the process's self-reported name, which the server could vary).
    pub(crate) server: Arc<str>,
}

impl ServerLabels {
    /// Labels for one server. Intern once per server (at config load) and clone the result afterwards.
    pub(crate) fn new(namespace: impl Into<Arc<str>>, server: impl Into<Arc<str>>) -> ServerLabels {
        ServerLabels { namespace: namespace.into(), server: server.into() }
    }

    /// The labels of series that belong to the gateway itself rather than to a downstream.
    pub(crate) fn gateway() -> ServerLabels {
        ServerLabels::new(GATEWAY, GATEWAY)
    }

    /// The labels under which calls to unroutable tools are counted.
    pub(crate) fn unknown() -> ServerLabels {
        ServerLabels::new(UNKNOWN, UNKNOWN)
    }
}

/// `{namespace, server, tool}`: one tool of one server, as named by the downstream (not the wire name, which
/// depends on the naming scheme and could change with a rename).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ToolLabels {
    /// As [`ServerLabels::namespace`].
    pub(crate) namespace: Arc<str>,
    /// As [`ServerLabels::server`].
    pub(crate) server: Arc<str>,
    /// The downstream's own tool name, taken from the routing table (never from the client's request).
    pub(crate) tool: Arc<str>,
}

impl ToolLabels {
    /// Labels for `tool` of `server`; shares the server's interned strings.
    pub(crate) fn new(server: &ServerLabels, tool: impl Into<Arc<str>>) -> ToolLabels {
        ToolLabels { namespace: server.namespace.clone(), server: server.server.clone(), tool: tool.into() }
    }

    /// The labels of a call whose tool is not in the routing table.
    pub(crate) fn unknown() -> ToolLabels {
        ToolLabels::new(&ServerLabels::unknown(), UNKNOWN)
    }
}

/// `gateway_requests_total` and `gateway_tool_executions_total` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ToolOutcomeLabels {
    /// As [`ServerLabels::namespace`].
    pub(crate) namespace: Arc<str>,
    /// As [`ServerLabels::server`].
    pub(crate) server: Arc<str>,
    /// As [`ToolLabels::tool`].
    pub(crate) tool: Arc<str>,
    /// How the request or execution ended.
    pub(crate) outcome: Outcome,
}

/// `gateway_errors_total` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabels {
    /// As [`ServerLabels::namespace`].
    pub(crate) namespace: Arc<str>,
    /// As [`ServerLabels::server`].
    pub(crate) server: Arc<str>,
    /// What failed.
    pub(crate) kind: ErrorKind,
}

/// `gateway_policy_denials_total` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DenialLabels {
    /// As [`ServerLabels::namespace`].
    pub(crate) namespace: Arc<str>,
    /// As [`ServerLabels::server`].
    pub(crate) server: Arc<str>,
    /// As [`ToolLabels::tool`].
    pub(crate) tool: Arc<str>,
    /// The policy rule's configured name: bounded by the policy file, never derived from the request.
    pub(crate) rule: Arc<str>,
}

/// How a client request (or a downstream execution) ended: the `outcome` label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A result without `isError`.
    Ok,
    /// A result with `isError: true`: the tool ran and reported a failure (the tool's business, not ours).
    ToolError,
    /// A JSON-RPC error: from the downstream, or the gateway's own (crash mid-call, bad frame...).
    Error,
    /// No answer within the call's timeout.
    Timeout,
    /// Refused by policy.
    Denied,
    /// Refused by a rate limit.
    RateLimited,
    /// Not attempted: circuit open, server restarting or stopped, unknown tool.
    Unavailable,
    /// Answered from the cache without reaching the downstream.
    CacheHit,
    /// The client cancelled the request (or went away) before the answer.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in label-slot order.
    pub(crate) const ALL: [Outcome; 9] = [
        Outcome::Ok,
        Outcome::ToolError,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::Denied,
        Outcome::RateLimited,
        Outcome::Unavailable,
        Outcome::CacheHit,
        Outcome::Cancelled,
    ];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Denied => "denied",
            Outcome::RateLimited => "rate_limited",
            Outcome::Unavailable => "unavailable",
            Outcome::CacheHit => "cache_hit",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// Position in [`Outcome::ALL`], so handles can keep one pre-resolved counter per outcome in an array.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// What went wrong: the `kind` label of `gateway_errors_total`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The process could not be started (missing command, permission, bad working directory).
    Spawn,
    /// The process started but the MCP `initialize` exchange failed or timed out.
    Handshake,
    /// The process exited while it should have been running.
    Crash,
    /// A request to the downstream got no answer in time.
    Timeout,
    /// The downstream sent something that is not valid MCP/JSON-RPC (or a frame over the size limit).
    Protocol,
    /// Writing to or reading from the downstream's pipes failed.
    Transport,
    /// The cache backend failed (connection lost, command error); calls continue uncached.
    Cache,
    /// A bug or an unexpected state inside the gateway.
    Internal,
}

impl ErrorKind {
    /// Every kind, in label-slot order.
    pub(crate) const ALL: [ErrorKind; 8] = [
        ErrorKind::Spawn,
        ErrorKind::Handshake,
        ErrorKind::Crash,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Transport,
        ErrorKind::Cache,
        ErrorKind::Internal,
    ];

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Spawn => "spawn",
            ErrorKind::Handshake => "handshake",
            ErrorKind::Crash => "crash",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Transport => "transport",
            ErrorKind::Cache => "cache",
            ErrorKind::Internal => "internal",
        }
    }

    /// Position in [`ErrorKind::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EncodeLabelValue for ErrorKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// A server's circuit breaker state: the value of the `gateway_circuit_state` gauge (the breaker's own type).
pub(crate) use crate::breaker::CircuitState;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_all() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i, "{o}");
        }
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{k}");
        }
    }

    #[test]
    fn label_values_are_snake_case_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for o in Outcome::ALL {
            assert!(o.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{o}");
            assert!(seen.insert(o.as_str()), "duplicate {o}");
        }
        for k in ErrorKind::ALL {
            assert!(k.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{k}");
        }
    }

    #[test]
    fn tool_labels_share_the_server_strings() {
        let server = ServerLabels::new("app", "fs");
        let tool = ToolLabels::new(&server, "read_file");
        assert!(Arc::ptr_eq(&server.server, &tool.server));
        assert_eq!(&*ToolLabels::unknown().tool, UNKNOWN);
    }
}
