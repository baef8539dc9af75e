//! The store's lock: `<store>/LOCK.json` is both the lock and the record of who holds it. A
//! process holds the store while it holds an exclusive OS file lock (`flock`) on that file, and
//! writes its record (pid, host, since, command) into it the moment it has the lock — before sled
//! opens, which can take a while — so a process that loses the race always finds the winner's
//! complete record and can name it. The OS drops the file lock when its process dies, so a record
//! left by a killed process is recognised as stale and taken over; sled's own file lock stays the
//! backstop.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The lock record's file name inside the store directory.
pub const LOCK_FILE: &str = "LOCK.json";

/// How long a process that lost the lock waits for the winner's record to appear (the winner
/// writes it microseconds after taking the lock; this only bounds a pathological wait).
const HOLDER_PATIENCE: Duration = Duration::from_secs(3);
/// How often the loser looks again meanwhile.
const HOLDER_POLL: Duration = Duration::from_millis(5);

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

    fn is_me(&self, me: &LockHolder) -> bool {
        self.pid == me.pid && self.host == me.host
    }
}

/// Why a lock record left in the store no longer holds it (the OS lock on it was free).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// The process is gone.
    Gone,
    /// The pid is alive but runs another program (the pid was reused): its name.
    NotMinifleet(String),
    /// The pid is alive and is a minifleet, but it does not hold this store (the pid was reused
    /// by another minifleet, or it runs an older minifleet that kept no OS lock).
    NotHolding,
}

/// A lock record this process took over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// The record that was replaced.
    pub holder: LockHolder,
    /// Why it was stale.
    pub stale: Stale,
}

impl Takeover {
    fn of(holder: LockHolder) -> Takeover {
        let stale = match process_name(holder.pid) {
            None => Stale::Gone,
            Some(name) if is_minifleet(&name) => Stale::NotHolding,
            Some(name) => Stale::NotMinifleet(name),
        };
        Takeover { holder, stale }
    }

    /// What happened, in one line: `took over the store's lock from pid 4711 on host …, which is
    /// no longer running`.
    pub fn describe(&self) -> String {
        let from = self.holder.describe();
        let pid = self.holder.pid;
        match &self.stale {
            Stale::Gone => {
                format!("took over the store's lock from {from}, which is no longer running")
            }
            Stale::NotMinifleet(name) => format!(
                "took over the store's lock from {from}: pid {pid} is alive but is not minifleet (it is `{name}`): the lock is stale"
            ),
            Stale::NotHolding => format!(
                "took over the store's lock from {from}: pid {pid} is a minifleet process that does not hold this store: the lock is stale"
            ),
        }
    }
}

/// Holds the store's lock; releases it (and removes the record) when dropped.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
    file: Option<File>,
    /// What the file held before this process wrote its record.
    previous: Vec<u8>,
}

impl LockGuard {
    /// Puts the previous record back and releases the lock (when the store could not be opened
    /// after all, e.g. an older minifleet without the OS lock holds sled's).
    pub fn restore(mut self) {
        if let Some(mut file) = self.file.take() {
            let _ = write_record(&mut file, &self.previous);
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Remove the record while still holding the lock, and only if the path is still this
            // file: a process waiting on the old file notices it is gone (see `lock_file`).
            if same_file(&file, &self.path) {
                let _ = std::fs::remove_file(&self.path);
            }
            drop(file);
        }
    }
}

/// The lock record of the store in `dir`, if there is a readable one.
pub fn holder(dir: &Path) -> Option<LockHolder> {
    read_at(&dir.join(LOCK_FILE))
}

fn read_at(path: &Path) -> Option<LockHolder> {
    let bytes = std::fs::read(path).ok()?;
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Option<LockHolder> {
    serde_json::from_slice(bytes).ok()
}

/// What trying to take the lock found.
#[derive(Debug)]
pub enum Claim {
    /// The lock is ours; `taken_over` is the record left behind by a previous holder.
    Claimed {
        /// The guard that releases the lock on drop.
        guard: LockGuard,
        /// The record that was replaced, and why it was stale.
        taken_over: Option<Takeover>,
    },
    /// Another process holds the lock: its record (`None` only if it wrote none in time).
    Held(Option<LockHolder>),
    /// The lock was free but the record names another host: its process may be alive on a
    /// shared disk whose file locks do not reach this host; refuse.
    OtherHost(LockHolder),
}

/// Takes the lock of the store in `dir` and writes this process's record, or finds who holds it.
pub fn claim(dir: &Path) -> std::io::Result<Claim> {
    let path = dir.join(LOCK_FILE);
    let me = LockHolder::this_process();
    let started = Instant::now();
    let mut seen = None;
    loop {
        if let Some(mut file) = lock_file(&path)? {
            return claim_locked(&mut file, &me).map(|claimed| match claimed {
                Ok((previous, taken_over)) => Claim::Claimed {
                    guard: LockGuard {
                        path,
                        file: Some(file),
                        previous,
                    },
                    taken_over,
                },
                Err(other) => Claim::OtherHost(other),
            });
        }
        // Held: the holder writes its record right after taking the lock; wait for a record
        // naming a live minifleet (not the stale one it is replacing).
        seen = read_at(&path).or(seen);
        if let Some(holder) = seen.as_ref().filter(|h| may_hold(h, &me)) {
            return Ok(Claim::Held(Some(holder.clone())));
        }
        if started.elapsed() > HOLDER_PATIENCE {
            return Ok(Claim::Held(seen));
        }
        std::thread::sleep(HOLDER_POLL);
    }
}

/// With the lock held: reads the previous record and writes ours, unless the previous one names
/// another host. Returns the previous bytes and the takeover, or the other host's record.
type Locked = Result<(Vec<u8>, Option<Takeover>), LockHolder>;

fn claim_locked(file: &mut File, me: &LockHolder) -> std::io::Result<Locked> {
    let mut previous = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut previous)?;
    let old = parse(&previous).filter(|h| !h.is_me(me));
    if let Some(other) = old.as_ref().filter(|h| h.host != me.host) {
        return Ok(Err(other.clone()));
    }
    let text = serde_json::to_vec_pretty(me).map_err(std::io::Error::other)?;
    write_record(file, &text)?;
    Ok(Ok((previous, old.map(Takeover::of))))
}

/// Replaces the file's content with `bytes` (the lock is held, so nobody else writes).
fn write_record(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)?;
    file.sync_data()
}

/// Opens `path` and takes its exclusive lock without waiting: `None` when another process holds
/// it. A file removed by its holder while this process was opening it is opened again, so two
/// processes never hold locks on two different files of one path.
fn lock_file(path: &Path) -> std::io::Result<Option<File>> {
    loop {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path)?;
        match fs2::FileExt::try_lock_exclusive(&file) {
            Ok(()) if same_file(&file, path) => return Ok(Some(file)),
            Ok(()) => continue,
            Err(err) if err.kind() == fs2::lock_contended_error().kind() => return Ok(None),
            Err(err) => return Err(err),
        }
    }
}

/// Whether `path` still names the open `file`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// Whether a process with `pid` runs on this host (`/proc/<pid>` exists). Where there is no
/// `/proc`, every pid counts as alive.
pub fn pid_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// The program a live process of this host runs (the file name of its `argv[0]`, else its
/// `comm`), `None` when it is gone. Where there is no `/proc`, `minifleet` (the lock says nothing
/// more there).
pub fn process_name(pid: u32) -> Option<String> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return Some("minifleet".to_string());
    }
    let dir = proc.join(pid.to_string());
    let from_cmdline = std::fs::read(dir.join("cmdline")).ok().and_then(|bytes| {
        let argv0 = bytes.split(|b| *b == 0).next().unwrap_or_default();
        let argv0 = String::from_utf8_lossy(argv0);
        let name = argv0.rsplit('/').next().unwrap_or_default().trim();
        (!name.is_empty()).then(|| name.to_string())
    });
    let from_comm = || {
        std::fs::read_to_string(dir.join("comm"))
            .ok()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
    };
    from_cmdline.or_else(from_comm).or_else(|| {
        // A zombie or a process of another user: alive, but nothing readable.
        dir.exists().then(|| "unknown".to_string())
    })
}

/// Whether `holder` can be the process holding the lock: another host's, or a live minifleet.
fn may_hold(holder: &LockHolder, me: &LockHolder) -> bool {
    holder.host != me.host || process_name(holder.pid).is_some_and(|name| is_minifleet(&name))
}

/// Whether a program name is minifleet's (the binary, or a test binary `minifleet-<hash>`).
fn is_minifleet(name: &str) -> bool {
    name.starts_with("minifleet")
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
mod tests;
