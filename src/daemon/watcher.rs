//! The fleet file watcher: notify on the file's *directory*, filtered by file name, so editors'
//! atomic saves (write a temporary file, rename it over) and `git checkout` replacing the file
//! are seen like writes in place; a polling backend for filesystems without events; trailing-edge
//! debouncing, so a burst of events becomes one reload.
//!
//! A fleet file that is a symlink into its own directory is watched through the link's first
//! step too: Kubernetes mounts a ConfigMap key as `fleet.yaml -> ..data/fleet.yaml` with
//! `..data -> ..<timestamp>`, and updates it by swapping `..data` (a new directory, a new link
//! renamed over the old one) — no event names `fleet.yaml` itself.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Why the fleet file cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The path names no file.
    #[error("cannot watch `{0}`: it names no file")]
    NoFileName(PathBuf),
    /// notify refused.
    #[error("cannot watch the directory `{dir}`: {source}")]
    Notify {
        /// The fleet file's directory.
        dir: PathBuf,
        /// What notify said.
        source: notify::Error,
    },
}

/// Watches one file; [`FleetWatcher::changed`] resolves after each (debounced) change.
pub struct FleetWatcher {
    _watcher: Box<dyn Watcher + Send>,
    events: mpsc::UnboundedReceiver<()>,
    debounce: Duration,
}

impl FleetWatcher {
    /// Watches `file` with OS events, or with `poll` set by scanning its directory that often.
    pub fn new(
        file: &Path,
        poll: Option<Duration>,
        debounce: Duration,
    ) -> Result<FleetWatcher, WatchError> {
        let name = file
            .file_name()
            .map(OsString::from)
            .ok_or_else(|| WatchError::NoFileName(file.to_path_buf()))?;
        let mut names = vec![name];
        names.extend(link_step(file));
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, events) = mpsc::unbounded_channel();
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(event) if concerns(&event, &names) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "fleet watcher error"),
        };
        let notify_err = |source| WatchError::Notify {
            dir: dir.clone(),
            source,
        };
        let mut watcher: Box<dyn Watcher + Send> = match poll {
            Some(interval) => {
                let config = notify::Config::default()
                    .with_poll_interval(interval)
                    .with_compare_contents(true);
                Box::new(notify::PollWatcher::new(handler, config).map_err(notify_err)?)
            }
            None => Box::new(notify::recommended_watcher(handler).map_err(notify_err)?),
        };
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(notify_err)?;
        Ok(FleetWatcher {
            _watcher: watcher,
            events,
            debounce,
        })
    }

    /// Waits for the next change, then for quiet during the debounce period; `false` when the
    /// watcher died.
    pub async fn changed(&mut self) -> bool {
        if self.events.recv().await.is_none() {
            return false;
        }
        loop {
            match tokio::time::timeout(self.debounce, self.events.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) | Err(_) => return true,
            }
        }
    }
}

/// The name, in `file`'s own directory, of the first step of where `file` links to, when it is
/// a symlink with a relative target that goes through that directory (`..data/fleet.yaml` →
/// `..data`): replacing that entry changes what `file` reads.
fn link_step(file: &Path) -> Option<OsString> {
    let target = std::fs::read_link(file).ok()?;
    if target.is_absolute() {
        return None;
    }
    match target.components().next()? {
        std::path::Component::Normal(step) if step != file.file_name()? => Some(step.into()),
        _ => None,
    }
}

/// Whether `event` may have changed a file called by one of `names` (reads do not).
fn concerns(event: &notify::Event, names: &[OsString]) -> bool {
    !matches!(event.kind, EventKind::Access(_))
        && event.paths.iter().any(|p| {
            p.file_name()
                .is_some_and(|n| names.iter().any(|name| name == n))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(600);

    async fn fires(w: &mut FleetWatcher) -> bool {
        tokio::time::timeout(Duration::from_secs(5), w.changed())
            .await
            .unwrap_or(false)
    }

    async fn stays_quiet(w: &mut FleetWatcher) -> bool {
        tokio::time::timeout(QUIET, w.changed()).await.is_err()
    }

    fn atomic_save(file: &Path, text: &str) {
        let temp = file.with_file_name(".fleet.yaml.swp");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, file).unwrap();
    }

    async fn check(poll: Option<Duration>) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleet.yaml");
        std::fs::write(&file, "version: 1\n").unwrap();
        let mut w = FleetWatcher::new(&file, poll, Duration::from_millis(100)).unwrap();
        // Polling needs one scan to learn the directory before it can see changes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&file, "version: 1\n# in place\n").unwrap();
        assert!(fires(&mut w).await, "a write in place");
        atomic_save(&file, "version: 1\n# atomic\n");
        assert!(fires(&mut w).await, "an atomic save");
        // A burst of writes is one change.
        for i in 0..5 {
            std::fs::write(&file, format!("version: 1\n# {i}\n")).unwrap();
        }
        assert!(fires(&mut w).await, "a burst");
        assert!(
            stays_quiet(&mut w).await,
            "the burst was debounced into one"
        );
        std::fs::write(dir.path().join("other.yaml"), "x").unwrap();
        assert!(stays_quiet(&mut w).await, "another file of the directory");
        // git checkout: the file is removed and created anew.
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, "version: 1\n# checked out\n").unwrap();
        assert!(fires(&mut w).await, "a replaced file");
    }

    /// A ConfigMap volume as the kubelet lays it out and updates it.
    async fn config_map(poll: Option<Duration>) {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("..2026_12_03_10_00_00.1")).unwrap();
        std::fs::write(d.join("..2026_12_03_10_00_00.1/fleet.yaml"), "version: 1\n").unwrap();
        symlink("..2026_12_03_10_00_00.1", d.join("..data")).unwrap();
        symlink("..data/fleet.yaml", d.join("fleet.yaml")).unwrap();
        let file = d.join("fleet.yaml");
        let mut w = FleetWatcher::new(&file, poll, Duration::from_millis(100)).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The update: a new directory, a new link renamed over `..data`, the old one removed.
        std::fs::create_dir(d.join("..2026_12_03_11_00_00.2")).unwrap();
        std::fs::write(
            d.join("..2026_12_03_11_00_00.2/fleet.yaml"),
            "version: 1\n# updated\n",
        )
        .unwrap();
        symlink("..2026_12_03_11_00_00.2", d.join("..data_tmp")).unwrap();
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
        std::fs::remove_dir_all(d.join("..2026_12_03_10_00_00.1")).unwrap();
        assert!(fires(&mut w).await, "the ConfigMap update");
        assert!(
            std::fs::read_to_string(&file).unwrap().contains("updated"),
            "and the file reads the new text"
        );
        assert!(stays_quiet(&mut w).await, "one reload");
    }

    #[tokio::test]
    async fn a_config_map_update_is_seen_with_os_events() {
        tokio::time::timeout(Duration::from_secs(30), config_map(None))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_config_map_update_is_seen_by_polling() {
        tokio::time::timeout(
            Duration::from_secs(30),
            config_map(Some(Duration::from_millis(50))),
        )
        .await
        .unwrap();
    }

    #[test]
    fn only_a_relative_link_through_the_directory_adds_a_step() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("real.yaml"), "version: 1\n").unwrap();
        assert_eq!(link_step(&d.join("real.yaml")), None, "not a link");
        symlink("..data/fleet.yaml", d.join("k8s.yaml")).unwrap();
        assert_eq!(link_step(&d.join("k8s.yaml")), Some("..data".into()));
        symlink(d.join("real.yaml"), d.join("absolute.yaml")).unwrap();
        assert_eq!(link_step(&d.join("absolute.yaml")), None);
        symlink("../elsewhere/fleet.yaml", d.join("up.yaml")).unwrap();
        assert_eq!(link_step(&d.join("up.yaml")), None);
    }

    #[tokio::test]
    async fn os_events_see_writes_atomic_saves_and_replacements() {
        tokio::time::timeout(Duration::from_secs(30), check(None))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn polling_sees_them_too() {
        tokio::time::timeout(
            Duration::from_secs(30),
            check(Some(Duration::from_millis(50))),
        )
        .await
        .unwrap();
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let err = FleetWatcher::new(Path::new("/"), None, QUIET)
            .err()
            .unwrap();
        assert!(matches!(err, WatchError::NoFileName(_)));
    }
}
