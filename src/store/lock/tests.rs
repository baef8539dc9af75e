//! The lock record: claiming, releasing, taking over stale records truthfully, and races in which
//! every loser names the winner.

use std::sync::{Arc, Barrier};

use super::*;

fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn write_record(dir: &Path, holder: &LockHolder) {
    std::fs::write(dir.join(LOCK_FILE), serde_json::to_vec(holder).unwrap()).unwrap();
}

fn here(pid: u32) -> LockHolder {
    LockHolder {
        pid,
        host: host_name(),
        since_ms: 1,
        command: "minifleet reconcile".into(),
    }
}

/// A `sleep` child: a live process that is not minifleet. Killed when dropped.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(
            std::process::Command::new("sleep")
                .arg("60")
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    assert!(!dir.path().join(LOCK_FILE).exists(), "the file is removed");
}

#[test]
fn a_second_claim_while_held_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let Claim::Claimed { guard, .. } = claim(dir.path()).unwrap() else {
        panic!("a fresh directory is claimed");
    };
    let Claim::Held(Some(holder)) = claim(dir.path()).unwrap() else {
        panic!("the lock is held");
    };
    assert_eq!(holder.pid, std::process::id());
    drop(guard);
    assert!(matches!(
        claim(dir.path()).unwrap(),
        Claim::Claimed {
            taken_over: None,
            ..
        }
    ));
}

#[test]
fn a_dead_processes_record_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let stale = here(dead_pid());
    assert!(stale.is_dead_here());
    write_record(dir.path(), &stale);
    let Claim::Claimed {
        guard: _guard,
        taken_over,
    } = claim(dir.path()).unwrap()
    else {
        panic!("a dead process's record is taken over");
    };
    let taken_over = taken_over.unwrap();
    assert_eq!(taken_over.holder, stale);
    assert_eq!(taken_over.stale, Stale::Gone);
    assert!(
        taken_over
            .describe()
            .ends_with("which is no longer running"),
        "{}",
        taken_over.describe()
    );
    assert_eq!(holder(dir.path()).unwrap().pid, std::process::id());
}

#[test]
fn a_record_naming_a_live_pid_that_is_not_minifleet_is_taken_over_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let sleeper = Sleeper::start();
    let stale = here(sleeper.0.id());
    write_record(dir.path(), &stale);
    let Claim::Claimed {
        guard: _guard,
        taken_over,
    } = claim(dir.path()).unwrap()
    else {
        panic!("a reused pid's record is taken over");
    };
    let taken_over = taken_over.unwrap();
    assert_eq!(taken_over.stale, Stale::NotMinifleet("sleep".into()));
    let text = taken_over.describe();
    let pid = stale.pid;
    assert!(
        text.contains(&format!(
            "pid {pid} is alive but is not minifleet (it is `sleep`): the lock is stale"
        )),
        "{text}"
    );
    assert!(!text.contains("no longer running"), "{text}");
}

#[test]
fn another_hosts_record_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let other = LockHolder {
        pid: 1,
        host: "elsewhere-7".into(),
        since_ms: 1,
        command: String::new(),
    };
    write_record(dir.path(), &other);
    assert!(matches!(claim(dir.path()).unwrap(), Claim::OtherHost(h) if h == other));
    assert_eq!(holder(dir.path()), Some(other.clone()));
    assert!(pid_alive(std::process::id()));
    assert!(
        other
            .describe()
            .contains("pid 1 on host `elsewhere-7` since 1970-01-01")
    );
}

#[test]
fn restore_puts_the_previous_record_back() {
    let dir = tempfile::tempdir().unwrap();
    let stale = here(dead_pid());
    write_record(dir.path(), &stale);
    let Claim::Claimed { guard, .. } = claim(dir.path()).unwrap() else {
        panic!("claimed");
    };
    guard.restore();
    assert_eq!(holder(dir.path()), Some(stale));
}

/// `threads` claims of `dir` at once; returns the winner's record and what every loser found.
fn race(dir: &Path, threads: usize) -> (LockHolder, Vec<Option<LockHolder>>) {
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (dir, start) = (dir.to_path_buf(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                claim(&dir).unwrap()
            })
        })
        .collect();
    let claims: Vec<Claim> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut guards = Vec::new();
    let mut losers = Vec::new();
    for claim in claims {
        match claim {
            Claim::Claimed { guard, .. } => guards.push(guard),
            Claim::Held(found) => losers.push(found),
            Claim::OtherHost(h) => panic!("no other host here: {h:?}"),
        }
    }
    assert_eq!(guards.len(), 1, "exactly one winner");
    let winner = holder(dir).expect("the winner's record");
    drop(guards);
    (winner, losers)
}

#[test]
fn every_loser_of_a_race_names_the_winner_even_over_a_stale_record() {
    let sleeper = Sleeper::start();
    for round in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let stale = match round % 3 {
            0 => None,
            1 => Some(here(dead_pid())),
            _ => Some(here(sleeper.0.id())),
        };
        if let Some(stale) = &stale {
            write_record(dir.path(), stale);
        }
        let (winner, losers) = race(dir.path(), 8);
        assert_eq!(losers.len(), 7);
        for found in losers {
            assert_eq!(
                found.as_ref(),
                Some(&winner),
                "round {round}: a loser must name the winner, not {stale:?}"
            );
        }
    }
}
