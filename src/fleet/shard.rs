//! Shards: which process owns which app when one fleet is split over N processes (a Kubernetes
//! StatefulSet with a volume per replica). Rendezvous hashing: every shard scores every appid and
//! the highest score owns it, so going from N to N+1 shards moves only the apps the new shard
//! wins — about 1/(N+1) of them — and no coordination is needed. Pure: the same answer on every
//! machine and in every version (the hash is fixed here, not `std`'s randomized one).

use std::fmt;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's shard, `0..count`.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

/// Most shards a fleet may be split into.
pub const MAX_SHARDS: u32 = 1024;

impl Shard {
    /// Parses `I/N`, or `pod/N` with I the StatefulSet ordinal ending `hostname`
    /// (`minifleet-2` → 2).
    pub fn parse(text: &str, hostname: Option<&str>) -> Result<Shard, String> {
        let (index, count) = text.split_once('/').ok_or_else(|| {
            format!("`{text}` is not I/N (e.g. `0/3`, or `pod/3` in a StatefulSet)")
        })?;
        let count: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=MAX_SHARDS).contains(n))
            .ok_or_else(|| format!("the shard count in `{text}` must be 1 to {MAX_SHARDS}"))?;
        let index: u32 = if index.trim() == "pod" {
            let host = hostname
                .filter(|h| !h.is_empty())
                .ok_or("`pod/N` reads the ordinal from $HOSTNAME, which is not set")?;
            host.rsplit_once('-')
                .and_then(|(_, n)| n.parse().ok())
                .ok_or_else(|| {
                    format!(
                        "the host name `{host}` does not end in a StatefulSet ordinal (`name-0`)"
                    )
                })?
        } else {
            index
                .trim()
                .parse()
                .map_err(|_| format!("the shard index in `{text}` is not a number"))?
        };
        if index >= count {
            return Err(format!(
                "shard {index} of {count} does not exist (shards are 0 to {})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard owns the app with `appid`.
    pub fn owns(&self, appid: &str) -> bool {
        owner(appid, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard of `count` that owns `appid`: the one scoring highest.
pub fn owner(appid: &str, count: u32) -> u32 {
    let key = fnv1a(appid.as_bytes());
    (0..count.max(1))
        .max_by_key(|&shard| mix(key ^ mix(u64::from(shard) + 1)))
        .unwrap_or(0)
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64's finalizer: every input bit moves every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("wx{i:016x}")).collect()
    }

    #[test]
    fn every_app_has_exactly_one_owner_and_the_shards_are_even() {
        let ids = appids(30_000);
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut per = [0usize; 3];
        for id in &ids {
            let owners: Vec<&Shard> = shards.iter().filter(|s| s.owns(id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            per[owners[0].index as usize] += 1;
        }
        for n in per {
            assert!((9_000..11_000).contains(&n), "uneven: {per:?}");
        }
    }

    #[test]
    fn a_shard_more_moves_about_one_in_n_plus_one_apps_and_only_to_the_new_shard() {
        let ids = appids(30_000);
        for n in [1u32, 2, 3, 4, 7] {
            let moved: Vec<&String> = ids
                .iter()
                .filter(|id| owner(id, n) != owner(id, n + 1))
                .collect();
            for id in &moved {
                assert_eq!(owner(id, n + 1), n, "{id} moved between old shards");
            }
            let share = moved.len() as f64 / ids.len() as f64;
            let ideal = 1.0 / f64::from(n + 1);
            assert!(
                (share - ideal).abs() < 0.02,
                "{n} → {}: {share:.3} moved, ideal {ideal:.3}",
                n + 1
            );
        }
    }

    #[test]
    fn the_hash_is_fixed() {
        // A changed hash would move apps between shards on upgrade: these must never change.
        let fixed: Vec<u32> = [
            "wx1111111111111111",
            "wx2222222222222222",
            "2021004100000001",
        ]
        .iter()
        .map(|id| owner(id, 5))
        .collect();
        assert_eq!(fixed, [3, 2, 1]);
    }

    #[test]
    fn parse_takes_i_of_n_and_the_statefulset_ordinal() {
        assert_eq!(Shard::parse("1/3", None), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            Shard::parse("pod/4", Some("minifleet-2")),
            Ok(Shard { index: 2, count: 4 })
        );
        for (text, host, says) in [
            ("3/3", None, "does not exist"),
            ("1", None, "is not I/N"),
            ("x/3", None, "not a number"),
            ("0/0", None, "must be 1 to"),
            ("pod/3", None, "$HOSTNAME"),
            ("pod/3", Some("worker"), "StatefulSet ordinal"),
            ("pod/2", Some("minifleet-2"), "does not exist"),
        ] {
            let err = Shard::parse(text, host).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
