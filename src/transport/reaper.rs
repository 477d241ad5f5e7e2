//! Downstream processes never outlive the gateway for long. Two mechanisms, because neither covers everything:
//!
//! - Every child is started through the gateway's own binary (`dfs-gateway __exec-child`, see [`exec_child`]),
//!   which asks the kernel to SIGKILL it when the gateway dies (`PR_SET_PDEATHSIG`) and then `exec`s the
//!   server: a server that ignores EOF on stdin still dies with a `kill -9`ed gateway, at once.
//! - Its grandchildren do not get that signal. Each gateway instance therefore keeps a record in
//!   `<state_dir>/children/<instance>.pgids` (the process groups it started, one per line) and marks its
//!   children's environment with [`INSTANCE_ENV`]. The record file is `flock`ed for the instance's life; the
//!   next start on the same state directory (whichever instance) takes the lock of every record whose owner is
//!   gone, kills every process that carries that instance's mark (the mark proves it is ours: a recycled pid
//!   never carries it; a descendant that cleared its environment escapes), and removes the record.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The environment variable that marks a process as started by one gateway instance (inherited by its
/// descendants unless they clear their environment).
pub(crate) const INSTANCE_ENV: &str = "DFS_GATEWAY_INSTANCE";

/// The hidden first argument that turns the gateway binary into the child launcher.
pub(crate) const EXEC_CHILD: &str = "__exec-child";

/// This process's instance id: pid and start time, unique on the machine even when pids are recycled.
pub(crate) fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        format!("{}-{nanos}", std::process::id())
    })
}

/// The open record of this instance, once [`start`] ran.
struct Record {
    /// Holds the `flock` while this instance lives.
    file: File,
}

static RECORD: OnceLock<Mutex<Record>> = OnceLock::new();

/// The binary that launches children with the death signal set: the gateway's own, set by its `main`. `None`
/// (tests of the library): children are started directly.
static LAUNCHER: OnceLock<PathBuf> = OnceLock::new();

/// The launcher binary, if children are to be started through it.
pub(crate) fn launcher() -> Option<&'static Path> {
    LAUNCHER.get().map(PathBuf::as_path)
}

/// Children are started through `exe` (the gateway's own binary, which knows [`EXEC_CHILD`]) from now on.
pub(crate) fn set_launcher(exe: PathBuf) {
    let _ = LAUNCHER.set(exe);
}

/// At start-up of a gateway: stops what dead instances left behind in `state_dir` and opens this instance's
/// record. Returns how many leftover processes were killed.
pub(crate) fn start(state_dir: &Path) -> std::io::Result<usize> {
    let dir = state_dir.join("children");
    std::fs::create_dir_all(&dir)?;
    let killed = reap(&dir)?;
    if RECORD.get().is_none() {
        let path = dir.join(format!("{}.pgids", instance_id()));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        fs4::FileExt::try_lock(&file).map_err(|e| std::io::Error::other(format!("{}: {e:?}", path.display())))?;
        let _ = RECORD.set(Mutex::new(Record { file }));
    }
    Ok(killed)
}

/// Notes a new child's process group in this instance's record (nothing before [`start`]).
pub(crate) fn note(pgid: u32) {
    if let Some(record) = RECORD.get() {
        let mut r = record.lock().unwrap_or_else(|p| p.into_inner());
        // One short line per write with O_APPEND: a crash leaves at most that line torn, which reads as no pgid.
        if let Err(e) = r.file.write_all(format!("{pgid}\n").as_bytes()) {
            tracing::warn!(error = %e, "cannot record a child's process group; a crash could leave it running");
        }
    }
}

/// Kills the leftovers of every dead instance recorded in `dir` and removes their records.
fn reap(dir: &Path) -> std::io::Result<usize> {
    let mut killed = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(instance) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".pgids")) else {
            continue;
        };
        if instance == instance_id() {
            continue;
        }
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else { continue };
        // Locked: its gateway is alive.
        if fs4::FileExt::try_lock(&file).is_err() {
            continue;
        }
        let groups: HashSet<i32> =
            std::fs::read_to_string(&path)?.lines().filter_map(|l| l.trim().parse().ok()).filter(|g| *g > 1).collect();
        let mark = format!("{INSTANCE_ENV}={instance}");
        // The mark decides, not the group: a group id may have been recycled, and a grandchild may have left
        // its group (setsid) but still carries the mark.
        for pid in processes().into_iter().filter(|pid| carries(*pid, &mark)) {
            let in_group = process_group(pid).is_some_and(|g| groups.contains(&g));
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed += 1;
                tracing::warn!(
                    pid,
                    instance,
                    in_group,
                    "killed a downstream process a dead gateway instance left running"
                );
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    Ok(killed)
}

/// Every process id in `/proc`.
fn processes() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// The process group of `pid` (field 5 of `/proc/<pid>/stat`, after the parenthesised command name).
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

/// Whether `pid`'s environment holds exactly `mark` (`NAME=value`).
fn carries(pid: i32, mark: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == mark.as_bytes()))
}

/// `dfs-gateway __exec-child <gateway pid> <program> [args...]`: asks for SIGKILL when the gateway dies, makes
/// sure the gateway is still there (it may have died before the request took effect), then becomes the server.
/// Returns only on failure, with the exit code to end with.
pub(crate) fn exec_child(args: &[std::ffi::OsString]) -> i32 {
    use std::os::unix::process::CommandExt;
    let [parent, program, rest @ ..] = args else {
        eprintln!("dfs-gateway {EXEC_CHILD}: usage: <gateway pid> <program> [args...]");
        return 64;
    };
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        eprintln!("dfs-gateway {EXEC_CHILD}: PR_SET_PDEATHSIG: {e}");
        return 71;
    }
    if parent.to_str().and_then(|p| p.parse::<i32>().ok()) != Some(nix::unistd::getppid().as_raw()) {
        // The gateway is gone already.
        return 70;
    }
    let err = std::process::Command::new(program).args(rest).exec();
    eprintln!("dfs-gateway {EXEC_CHILD}: cannot start {}: {err}", program.to_string_lossy());
    127
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_instances_marked_processes_are_killed_and_others_spared() {
        let dir = tempfile::tempdir().unwrap();
        let children = dir.path().join("children");
        std::fs::create_dir_all(&children).unwrap();
        let spawn = |mark: Option<&str>| {
            let mut cmd = std::process::Command::new("sleep");
            cmd.arg("60").process_group(0);
            if let Some(m) = mark {
                cmd.env(INSTANCE_ENV, m);
            }
            cmd.spawn().unwrap()
        };
        use std::os::unix::process::CommandExt;
        let mut ours = spawn(Some("dead-1"));
        let mut unmarked = spawn(None);
        let mut other = spawn(Some("dead-2"));
        std::fs::write(children.join("dead-1.pgids"), format!("{}\n{}\n", ours.id(), unmarked.id())).unwrap();
        // A live instance's record (locked) is left alone.
        let live = children.join("live-3.pgids");
        std::fs::write(&live, format!("{}\n", other.id())).unwrap();
        let held = File::open(&live).unwrap();
        fs4::FileExt::try_lock(&held).unwrap();

        assert_eq!(reap(&children).unwrap(), 1);
        assert!(ours.wait().unwrap().code().is_none(), "killed by a signal");
        assert!(unmarked.try_wait().unwrap().is_none() && other.try_wait().unwrap().is_none());
        assert!(!children.join("dead-1.pgids").exists() && live.exists());
        for c in [&mut unmarked, &mut other] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    #[test]
    fn process_groups_read_from_proc() {
        assert_eq!(process_group(std::process::id() as i32), Some(nix::unistd::getpgrp().as_raw()));
    }
}
