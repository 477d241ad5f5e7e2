//! Bearer tokens: the HTTP front as an OAuth 2.1 resource server with static tokens from configuration.
//!
//! A token is known only by its SHA-256; a request's token is hashed and looked up, and the identity it maps to
//! is what policy `when.clients` rules see. Without configured tokens, `/mcp` is open (and bound to loopback by
//! default). The token itself goes nowhere: it is not logged, not kept, and never passed to a downstream.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{token_hash, HttpFrontConfig};

/// Why a request was refused (answered 401 with a challenge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("this MCP endpoint needs `Authorization: Bearer <token>`")]
    Missing,
    #[error("the bearer token is not valid for this MCP endpoint")]
    Invalid,
}

/// The accepted tokens and what the 401 challenge points to.
pub(crate) struct Auth {
    /// SHA-256 of a token → client identity.
    tokens: HashMap<[u8; 32], Arc<str>>,
    /// The resource URL in the metadata (configured), else built from the request's `Host`.
    resource: Option<String>,
    authorization_servers: Vec<String>,
    name: String,
}

impl Auth {
    pub(crate) fn new(cfg: &HttpFrontConfig, gateway_name: &str) -> Self {
        Auth {
            tokens: cfg.tokens.iter().map(|t| (t.sha256, Arc::from(t.client.as_str()))).collect(),
            resource: cfg.resource.clone(),
            authorization_servers: cfg.authorization_servers.clone(),
            name: gateway_name.to_owned(),
        }
    }

    pub(crate) fn required(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The identity a request's `Authorization` header proves: `Ok(None)` when no tokens are configured.
    pub(crate) fn check(&self, authorization: Option<&str>) -> Result<Option<Arc<str>>, AuthError> {
        if !self.required() {
            return Ok(None);
        }
        let header = authorization.ok_or(AuthError::Missing)?.trim();
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Invalid);
        }
        self.tokens.get(&token_hash(token.trim())).cloned().map(Some).ok_or(AuthError::Invalid)
    }

    /// This resource's URL: configured, or `http://<Host>/mcp`.
    pub(crate) fn resource(&self, host: Option<&str>) -> String {
        match (&self.resource, host) {
            (Some(r), _) => r.clone(),
            (None, Some(host)) => format!("http://{host}/mcp"),
            (None, None) => "http://127.0.0.1/mcp".to_owned(),
        }
    }

    /// Where the protected resource metadata of `resource` lives (RFC 9728 §3.1: the well-known segment goes
    /// between the host and the resource's path).
    pub(crate) fn metadata_url(&self, host: Option<&str>) -> String {
        let resource = self.resource(host);
        let (scheme, rest) = resource.split_once("://").unwrap_or(("http", &resource));
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
        format!("{scheme}://{authority}/.well-known/oauth-protected-resource{}", path.trim_end_matches('/'))
    }

    /// The `WWW-Authenticate` value of a 401.
    pub(crate) fn challenge(&self, host: Option<&str>, err: AuthError) -> String {
        let url = self.metadata_url(host);
        match err {
            AuthError::Missing => format!(r#"Bearer resource_metadata="{url}""#),
            AuthError::Invalid => format!(
                r#"Bearer error="invalid_token", error_description="The token is not valid for this resource", resource_metadata="{url}""#
            ),
        }
    }

    /// The protected resource metadata document (RFC 9728).
    pub(crate) fn metadata(&self, host: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "resource": self.resource(host),
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
            "resource_name": self.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenEntry;

    fn auth() -> Auth {
        let cfg = HttpFrontConfig {
            tokens: vec![TokenEntry { client: "alice".into(), sha256: token_hash("s3cret") }],
            ..HttpFrontConfig::default()
        };
        Auth::new(&cfg, "dfs-gateway")
    }

    #[test]
    fn tokens_map_to_identities() {
        let a = auth();
        assert_eq!(a.check(Some("Bearer s3cret")).unwrap().as_deref(), Some("alice"));
        assert_eq!(a.check(Some("bearer  s3cret ")).unwrap().as_deref(), Some("alice"));
        assert_eq!(a.check(None), Err(AuthError::Missing));
        assert_eq!(a.check(Some("Bearer nope")), Err(AuthError::Invalid));
        assert_eq!(a.check(Some("Basic s3cret")), Err(AuthError::Invalid));
        let open = Auth::new(&HttpFrontConfig::default(), "gw");
        assert_eq!(open.check(None), Ok(None));
    }

    #[test]
    fn the_challenge_points_at_the_metadata() {
        let a = auth();
        assert_eq!(
            a.metadata_url(Some("127.0.0.1:8000")),
            "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"
        );
        let c = a.challenge(Some("h:1"), AuthError::Missing);
        assert_eq!(c, r#"Bearer resource_metadata="http://h:1/.well-known/oauth-protected-resource/mcp""#);
        assert!(a.challenge(Some("h:1"), AuthError::Invalid).contains(r#"error="invalid_token""#));
        assert_eq!(a.metadata(Some("h:1"))["resource"], "http://h:1/mcp");
    }
}
