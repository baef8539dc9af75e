//! The store's lock record: `<store>/LOCK.json` names the process that owns the store (pid, host,
//! since, command), beside sled's own file lock, so a second minifleet can say who holds it, and a
//! record left by a dead process can be recognised and taken over.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The lock record's file name inside the store directory.
pub const LOCK_FILE: &str = "LOCK.json";

/// Who owns (or owned) a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The owner's process id.
    pub pid: u32,
    /// The owner's host name.
    pub host: String,
    /// Unix ms when the owner opened the store.
    pub since_ms: u64,
    /// The owner's command line, for people.
    #[serde(default)]
    pub command: String,
}

impl LockHolder {
    /// This process, now.
    pub fn this_process() -> LockHolder {
        LockHolder {
            pid: std::process::id(),
            host: host_name(),
            since_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    /// Whether the holder is a process of this host that no longer runs.
    pub fn is_dead_here(&self) -> bool {
        self.host == host_name() && !pid_alive(self.pid)
    }

    /// `pid 4242 on host ci-7 since 2026-11-21T10:00:00Z`.
    pub fn describe(&self) -> String {
        let since = std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.since_ms);
        format!(
            "pid {} on host `{}` since {}",
            self.pid,
            self.host,
            humantime::format_rfc3339_seconds(since)
        )
    }
}

/// Holds the lock record while the store is open; removes it when dropped (if it still names us).
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
    pid: u32,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if read_at(&self.path).is_some_and(|h| h.pid == self.pid) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The lock record of the store in `dir`, if there is a readable one.
pub fn holder(dir: &Path) -> Option<LockHolder> {
    read_at(&dir.join(LOCK_FILE))
}

fn read_at(path: &Path) -> Option<LockHolder> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// What claiming the lock record found.
#[derive(Debug)]
pub enum Claim {
    /// The record is ours now; `taken_over` is the previous holder's record when one was left
    /// behind (a dead process, or a reused pid: sled's own lock is free, so nobody uses the store).
    Claimed {
        /// The guard that removes the record on drop.
        guard: LockGuard,
        /// The record that was replaced.
        taken_over: Option<LockHolder>,
    },
    /// Another host's record: its process may be alive on a shared disk; refuse.
    OtherHost(LockHolder),
}

/// Writes this process's record into `dir`, once sled's own lock is held.
pub fn claim(dir: &Path) -> std::io::Result<Claim> {
    let path = dir.join(LOCK_FILE);
    let me = LockHolder::this_process();
    let previous = read_at(&path).filter(|h| h.pid != me.pid || h.host != me.host);
    if let Some(other) = previous.as_ref().filter(|h| h.host != me.host) {
        return Ok(Claim::OtherHost(other.clone()));
    }
    let tmp = dir.join(format!("{LOCK_FILE}.{}", me.pid));
    let text = serde_json::to_vec_pretty(&me).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(Claim::Claimed {
        guard: LockGuard { path, pid: me.pid },
        taken_over: previous,
    })
}

/// Whether a process with `pid` runs on this host (`/proc/<pid>` exists). Where there is no
/// `/proc`, every pid counts as alive.
pub fn pid_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// This host's name (`/proc/sys/kernel/hostname`, `/etc/hostname`, `$HOSTNAME`), or `unknown`.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn claim_writes_our_record_and_drop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let Claim::Claimed { guard, taken_over } = claim(dir.path()).unwrap() else {
            panic!("a fresh directory is claimed");
        };
        assert_eq!(taken_over, None);
        let record = holder(dir.path()).unwrap();
        assert_eq!(record.pid, std::process::id());
        assert_eq!(record.host, host_name());
        drop(guard);
        assert_eq!(holder(dir.path()), None);
    }

    #[test]
    fn a_dead_processes_record_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let stale = LockHolder {
            pid: dead_pid(),
            host: host_name(),
            since_ms: 1,
            command: "minifleet reconcile".into(),
        };
        assert!(stale.is_dead_here());
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_vec(&stale).unwrap(),
        )
        .unwrap();
        let Claim::Claimed {
            guard: _guard,
            taken_over,
        } = claim(dir.path()).unwrap()
        else {
            panic!("a dead process's record is taken over");
        };
        assert_eq!(taken_over, Some(stale));
        assert_eq!(holder(dir.path()).unwrap().pid, std::process::id());
    }

    #[test]
    fn another_hosts_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other = LockHolder {
            pid: 1,
            host: "elsewhere-7".into(),
            since_ms: 1,
            command: String::new(),
        };
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        assert!(matches!(claim(dir.path()).unwrap(), Claim::OtherHost(h) if h == other));
        assert!(pid_alive(std::process::id()));
        assert!(
            other
                .describe()
                .contains("pid 1 on host `elsewhere-7` since 1970-01-01")
        );
    }
}
