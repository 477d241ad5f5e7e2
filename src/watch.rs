//! Notices when configuration or policy files change on disk, for hot reload.
//!
//! Editors rarely write a file in place: most write a temporary file and rename it over the original, some delete
//! and recreate it. A watch on the file itself follows the old inode and goes quiet after the first save, so the
//! *parent folders* are watched instead and their events filtered down to the named files. One save is a burst
//! of events (create, modify, close, rename); they are collected until the folder has been quiet for a moment
//! (200 ms by default) and delivered as one notification naming the files that changed.
//!
//! The watcher only says *that* a file changed; the caller re-reads and validates it and keeps the old version
//! when the new one is bad. Reading a file does not count as a change, so a reload never triggers itself.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a folder must be quiet before a burst of events is delivered.
pub(crate) const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// Why files cannot be watched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WatchError {
    #[error("cannot watch `{}`: it does not name a file", path.display())]
    NotAFile { path: PathBuf },
    #[error("cannot watch `{}`: its folder `{}` is not accessible ({source}); create it or fix the path", path.display(), dir.display())]
    Folder {
        path: PathBuf,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the file watcher: {0}")]
    Start(#[source] notify::Error),
    #[error("cannot watch the folder `{}`: {source}", dir.display())]
    Watch {
        dir: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// Watches a set of files; dropping it stops watching.
pub(crate) struct FileWatcher {
    /// The OS watch (inotify on Linux). Held only to be dropped: that removes the watches and ends its thread.
    _watcher: RecommendedWatcher,
    /// What the watcher's thread reports to [`FileWatcher::changed`].
    shared: Arc<Shared>,
    /// The files as the caller named them, so a notification uses the caller's spelling.
    files: Vec<PathBuf>,
    /// Quiet time that ends a burst.
    debounce: Duration,
}

/// State shared with the watcher's thread.
struct Shared {
    /// Indices into `files` changed since the last delivery. A set of indices rather than a queue of events, so a
    /// busy folder nobody reads from costs no memory.
    changed: Mutex<BTreeSet<usize>>,
    /// Wakes `changed()` when `changed` grows.
    wake: Notify,
}

impl Shared {
    fn mark(&self, files: impl IntoIterator<Item = usize>) {
        let mut changed = self.changed.lock().unwrap_or_else(PoisonError::into_inner);
        let before = changed.len();
        changed.extend(files);
        if changed.len() != before {
            drop(changed);
            self.wake.notify_one();
        }
    }

    fn is_empty(&self) -> bool {
        self.changed.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    fn take(&self) -> BTreeSet<usize> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Starts watching `paths` with the default debounce. The files need not exist (a deleted file that comes back is
/// a change); their folders must.
pub(crate) fn watch_files(paths: impl IntoIterator<Item = PathBuf>) -> Result<FileWatcher, WatchError> {
    FileWatcher::new(paths.into_iter().collect(), DEFAULT_DEBOUNCE)
}

impl FileWatcher {
    /// Starts watching `files`, ending bursts after `debounce` of quiet.
    pub(crate) fn new(files: Vec<PathBuf>, debounce: Duration) -> Result<FileWatcher, WatchError> {
        // Each file as (real folder, file name): events carry the folder path that was watched, and resolving
        // symlinks and `..` here makes two spellings of one folder a single watch.
        let mut keys: Vec<(PathBuf, OsString)> = Vec::with_capacity(files.len());
        for path in &files {
            let name = path.file_name().ok_or_else(|| WatchError::NotAFile { path: path.clone() })?;
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let dir = std::fs::canonicalize(parent).map_err(|source| WatchError::Folder {
                path: path.clone(),
                dir: parent.to_path_buf(),
                source,
            })?;
            keys.push((dir, name.to_owned()));
        }
        let shared = Arc::new(Shared { changed: Mutex::new(BTreeSet::new()), wake: Notify::new() });
        let dirs: BTreeSet<PathBuf> = keys.iter().map(|(d, _)| d.clone()).collect();

        let for_thread = Arc::clone(&shared);
        let all: Vec<usize> = (0..keys.len()).collect();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if event.need_rescan() => for_thread.mark(all.iter().copied()),
            Ok(event) => {
                if !counts(&event.kind) {
                    return;
                }
                let hits = keys.iter().enumerate().filter(|(_, (dir, name))| {
                    event.paths.iter().any(|p| p.file_name() == Some(name) && p.parent() == Some(dir))
                });
                for_thread.mark(hits.map(|(i, _)| i));
            }
            Err(e) => {
                // Events may have been lost: a reload of an unchanged file is harmless, a missed change is not.
                tracing::warn!(error = %e, "file watcher error; treating all watched files as changed");
                for_thread.mark(all.iter().copied());
            }
        })
        .map_err(WatchError::Start)?;
        for dir in dirs {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError::Watch { dir: dir.clone(), source })?;
        }
        Ok(FileWatcher { _watcher: watcher, shared, files, debounce })
    }

    #[cfg(test)]
    /// The files watched, as given.
    pub(crate) fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Waits for the next burst of changes and returns the files it touched (as given, in the order given).
    ///
    /// Cancel-safe: changes seen by a call that is dropped (e.g. losing a `select!`) are delivered by the next.
    pub(crate) async fn changed(&mut self) -> Vec<PathBuf> {
        loop {
            if self.shared.is_empty() {
                self.shared.wake.notified().await;
            }
            // A steady stream of writes must not postpone the reload for ever.
            let deadline = Instant::now() + self.debounce * 10;
            loop {
                tokio::select! {
                    () = self.shared.wake.notified() => {
                        if Instant::now() >= deadline {
                            break;
                        }
                    }
                    () = tokio::time::sleep(self.debounce) => break,
                }
            }
            // A stale wake-up (its change already delivered) leaves the set empty: wait again.
            let changed = self.shared.take();
            if !changed.is_empty() {
                return changed.into_iter().map(|i| self.files[i].clone()).collect();
            }
        }
    }
}

impl std::fmt::Debug for FileWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatcher").field("files", &self.files).field("debounce", &self.debounce).finish()
    }
}

/// Whether an event can mean new content. Opening and reading (our own reload included) cannot; closing a file
/// that was open for writing can.
fn counts(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long enough for a loaded CI machine; the tests wait this long only when they fail.
    const PATIENCE: Duration = Duration::from_secs(10);
    /// How long "nothing happens" is watched for.
    const QUIET: Duration = Duration::from_millis(1500);

    async fn next(w: &mut FileWatcher) -> Vec<PathBuf> {
        tokio::time::timeout(PATIENCE, w.changed()).await.expect("no change notification within 10 s")
    }

    async fn assert_quiet(w: &mut FileWatcher) {
        if let Ok(paths) = tokio::time::timeout(QUIET, w.changed()).await {
            panic!("unexpected notification: {paths:?}");
        }
    }

    fn setup() -> (tempfile::TempDir, PathBuf, FileWatcher) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.toml");
        std::fs::write(&file, "# v1\n").unwrap();
        let w = watch_files([file.clone()]).unwrap();
        (dir, file, w)
    }

    #[tokio::test]
    async fn a_write_in_place_is_one_notification() {
        let (_dir, file, mut w) = setup();
        std::fs::write(&file, "# v2\n").unwrap();
        assert_eq!(next(&mut w).await, vec![file.clone()]);
        // Reading it back (as a reload does) is not a change.
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# v2\n");
        assert_quiet(&mut w).await;
    }

    #[tokio::test]
    async fn a_rename_over_the_file_is_noticed_every_time() {
        let (dir, file, mut w) = setup();
        // Twice: a watch on the file's inode would miss the second save.
        for version in ["# v2\n", "# v3\n"] {
            let tmp = dir.path().join(".policy.toml.swp");
            std::fs::write(&tmp, version).unwrap();
            std::fs::rename(&tmp, &file).unwrap();
            assert_eq!(next(&mut w).await, vec![file.clone()]);
        }
    }

    #[tokio::test]
    async fn delete_and_recreate_are_noticed() {
        let (_dir, file, mut w) = setup();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(next(&mut w).await, vec![file.clone()]);
        std::fs::write(&file, "# back\n").unwrap();
        assert_eq!(next(&mut w).await, vec![file.clone()]);
    }

    #[tokio::test]
    async fn other_files_in_the_folder_are_ignored() {
        let (dir, _file, mut w) = setup();
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, "x").unwrap();
        std::fs::rename(&other, dir.path().join("notes2.txt")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub").join("policy.toml"), "x").unwrap();
        assert_quiet(&mut w).await;
    }

    #[tokio::test]
    async fn a_burst_is_one_notification() {
        let (_dir, file, mut w) = setup();
        for i in 0..20 {
            std::fs::write(&file, format!("# v{i}\n")).unwrap();
        }
        assert_eq!(next(&mut w).await, vec![file.clone()]);
        assert_quiet(&mut w).await;
    }

    #[tokio::test]
    async fn reports_the_changed_files_of_several_folders_as_named() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let files = [a.path().join("gateway.toml"), a.path().join("x.toml"), b.path().join("default.toml")];
        for f in &files {
            std::fs::write(f, "").unwrap();
        }
        // The second file reached through `..`: still reported with its given spelling.
        let dotted = a.path().join("sub").join("..").join("x.toml");
        std::fs::create_dir(a.path().join("sub")).unwrap();
        let mut w = watch_files([files[0].clone(), dotted.clone(), files[2].clone()]).unwrap();
        assert_eq!(w.files().len(), 3);
        std::fs::write(&files[2], "1").unwrap();
        std::fs::write(&files[1], "1").unwrap();
        assert_eq!(next(&mut w).await, vec![dotted, files[2].clone()]);
        std::fs::write(&files[0], "1").unwrap();
        assert_eq!(next(&mut w).await, vec![files[0].clone()]);
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_nothing() {
        let (_dir, file, mut w) = setup();
        std::fs::write(&file, "# v2\n").unwrap();
        // Shorter than the debounce: this wait is dropped mid-burst.
        let _ = tokio::time::timeout(Duration::from_millis(50), w.changed()).await;
        assert_eq!(next(&mut w).await, vec![file]);
    }

    #[tokio::test]
    async fn a_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = watch_files([dir.path().join("nope").join("policy.toml")]).unwrap_err();
        assert!(matches!(err, WatchError::Folder { .. }), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
        let err = watch_files([PathBuf::from("/")]).unwrap_err();
        assert!(matches!(err, WatchError::NotAFile { .. }), "{err}");
    }
}
