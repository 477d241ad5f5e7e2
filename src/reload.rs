//! Hot reload: the configuration file and the policy files are watched ([`crate::watch`]); when one changes, the
//! whole configuration is read and validated again, and only if all of it is good does anything change:
//!
//! - servers added, removed or changed are started, stopped or replaced through the server supervisor
//!   ([`crate::actors::supervisor::SupervisorMsg::Reconcile`]); unchanged ones are not touched;
//! - the new policy replaces the old one;
//! - settings that cannot change under a running gateway (`[gateway]`, the fronts, `[log]`) are logged as
//!   waiting for a restart.
//!
//! A bad file is refused with a logged error and everything stays as it was. The client session is never
//! dropped; clients get `list_changed` when what they see changed.

use std::path::PathBuf;
use std::sync::Arc;

use ractor::ActorRef;

use crate::actors::gateway;
use crate::actors::supervisor::SupervisorMsg;
use crate::config::{Config, Source};
use crate::policy::PolicySet;
use crate::session::{ActivePolicy, Shared};
use crate::watch::FileWatcher;

/// Watches the files of `config` and applies their changes to the running gateway until aborted. `None` when
/// there is nothing to watch (the bundled configuration without policy files) or watching is impossible.
pub(crate) fn spawn(
    config: Arc<Config>,
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
) -> Option<tokio::task::JoinHandle<()>> {
    let config_path = match &config.source {
        Source::File(p) => Some(p.clone()),
        Source::Bundled => None,
    };
    let mut watcher = watch(&config, config_path.as_ref())?;
    Some(tokio::spawn(async move {
        let mut current = config;
        loop {
            let changed = watcher.changed().await;
            tracing::info!(files = ?changed, "configuration changed on disk; reloading");
            let reloaded = Config::load_with_process_env(config_path.as_deref())
                .and_then(|cfg| cfg.load_policy().map(|p| (cfg, p)));
            let (next, policy) = match reloaded {
                Ok(ok) => ok,
                Err(errors) => {
                    tracing::error!(errors = %errors, "the changed configuration does not validate; the previous configuration and policy stay in force");
                    continue;
                }
            };
            apply(&current, &next, policy, &shared, &supervisor).await;
            if next.policy.files != current.policy.files {
                // Other policy files now: watch those (keeping the old watcher if the new one cannot start).
                if let Some(w) = watch(&next, config_path.as_ref()) {
                    watcher = w;
                }
            }
            current = Arc::new(next);
        }
    }))
}

fn watch(config: &Config, config_path: Option<&PathBuf>) -> Option<FileWatcher> {
    let mut files: Vec<PathBuf> = config.policy.files.clone();
    files.extend(config_path.cloned());
    if files.is_empty() {
        return None;
    }
    match crate::watch::watch_files(files) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the configuration for changes; hot reload is off");
            None
        }
    }
}

/// Applies a validated configuration: servers first (so that a new policy's fallback targets exist when it
/// takes over), then the policy.
async fn apply(
    current: &Config,
    next: &Config,
    policy: PolicySet,
    shared: &Shared,
    supervisor: &ActorRef<SupervisorMsg>,
) {
    let pending = needs_restart(current, next);
    if !pending.is_empty() {
        tracing::warn!(settings = ?pending, "these settings changed; they take effect after a restart of the gateway");
    }
    let servers_changed = current.servers.len() != next.servers.len()
        || current.servers.iter().zip(&next.servers).any(|(a, b)| !a.same_definition(b));
    if servers_changed {
        match gateway::reconcile(supervisor, next.servers.clone()).await {
            Ok(report) => tracing::info!(
                added = ?report.added,
                removed = ?report.removed,
                replaced = ?report.replaced,
                unchanged = report.unchanged,
                "servers reconciled with the configuration"
            ),
            Err(e) => tracing::error!(error = %e, "applying the server changes failed"),
        }
    }
    let old = shared.policy.load();
    if same_policy(&old.set, &policy) {
        return;
    }
    let rules = policy.rules().len();
    shared.policy.store(Arc::new(ActivePolicy::new(policy)));
    tracing::info!(rules, "policy reloaded");
    // Any rule may hide or reveal tools for some client.
    for client in shared.clients.all() {
        client.notify_list_changed("tools");
    }
}

/// Rules and default alike, down to where each rule is written (a moved rule is reported as a change, which
/// costs clients one needless re-list, never a missed one).
fn same_policy(a: &PolicySet, b: &PolicySet) -> bool {
    a.default_action() == b.default_action() && format!("{:?}", a.rules()) == format!("{:?}", b.rules())
}

/// Settings outside `[servers]` and `[policy]` that differ: the running gateway was built with the old ones.
fn needs_restart(current: &Config, next: &Config) -> Vec<&'static str> {
    let (a, b) = (&current.gateway, &next.gateway);
    let mut out = Vec::new();
    let named = [
        ("gateway.name", a.name != b.name),
        ("gateway.separator / gateway.max_name_len", a.naming != b.naming),
        ("gateway.state_dir", a.state_dir != b.state_dir),
        ("gateway.max_frame_bytes", a.max_frame_bytes != b.max_frame_bytes),
        ("gateway.log_level", a.log_level != b.log_level),
        ("gateway.page_size", a.page_size != b.page_size),
        ("front.stdio", current.stdio.enabled != next.stdio.enabled),
        ("log", current.log != next.log),
    ];
    out.extend(named.iter().filter(|(_, differs)| *differs).map(|(key, _)| *key));
    // Sections not named above ([cache], [rate_limit], [evidence], and any added later): compared whole.
    let rest = |c: &Config| {
        let rest = Config {
            source: current.source.clone(),
            gateway: current.gateway.clone(),
            stdio: current.stdio.clone(),
            servers: Vec::new(),
            policy: current.policy.clone(),
            log: current.log.clone(),
            ..c.clone()
        };
        format!("{rest:?}")
    };
    if rest(current) != rest(next) {
        out.push("settings outside [gateway], [servers], [policy] and [log]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overlay;

    /// Loads from one fixed place, so that paths resolved against the file's folder compare equal.
    fn load(text: &str) -> Config {
        static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
        let path = dir.path().join(format!("gw-{}.toml", crate::evidence::sha256_hex(text.as_bytes())));
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &Overlay::default()).unwrap()
    }

    #[test]
    fn gateway_settings_that_changed_are_named_and_server_changes_are_not_among_them() {
        let base = load("[gateway]\nseparator = \"__\"\n[servers.a]\nnamespace = \"app\"\ncommand = \"sh\"\n");
        let servers_only = load("[gateway]\nseparator = \"__\"\n[servers.b]\nnamespace = \"ext\"\ncommand = \"sh\"\n");
        assert!(needs_restart(&base, &servers_only).is_empty());
        let sep =
            load("[gateway]\nseparator = \".\"\npage_size = 5\n[servers.a]\nnamespace = \"app\"\ncommand = \"sh\"\n");
        assert_eq!(needs_restart(&base, &sep), ["gateway.separator / gateway.max_name_len", "gateway.page_size"]);
        let cache = load("[gateway]\nseparator = \"__\"\n[cache]\nbackend = \"memory\"\nmax_entries = 7\n");
        assert_eq!(needs_restart(&base, &cache), ["settings outside [gateway], [servers], [policy] and [log]"]);
    }
}
