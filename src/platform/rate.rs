//! Per-platform request-rate limits: a token bucket in front of every `observe` and `execute` of a
//! platform (`--rate wechat=50/s`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{AuditQuota, BoxFuture, Effect, Known, Platform, PlatformError};
use crate::model::{Action, Desired, Observed, PlatformKind};

/// A rate: `per_sec` calls a second on average, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Calls a second.
    pub per_sec: f64,
    /// The bucket's size.
    pub burst: f64,
}

/// A `--rate` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate `{0}`")]
pub struct RateError(pub String);

impl Rate {
    /// Parses `N/s`, `N/m` or `N/h` (N > 0); the burst is one second's worth (at least 1).
    pub fn parse(text: &str) -> Result<Rate, RateError> {
        let bad = || RateError(text.to_string());
        let (n, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        if !(n.is_finite() && n > 0.0) {
            return Err(bad());
        }
        let per_sec = n / secs;
        Ok(Rate {
            per_sec,
            burst: per_sec.max(1.0),
        })
    }
}

/// A token bucket.
#[derive(Debug)]
pub struct Bucket {
    rate: Rate,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: Rate) -> Bucket {
        Bucket {
            rate,
            state: tokio::sync::Mutex::new((rate.burst, Instant::now())),
        }
    }

    /// Waits for a token and takes it.
    pub async fn take(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(state.1).as_secs_f64() * self.rate.per_sec;
                *state = ((state.0 + refill).min(self.rate.burst), now);
                if state.0 >= 1.0 {
                    state.0 -= 1.0;
                    return;
                }
                (1.0 - state.0) / self.rate.per_sec
            };
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

/// A platform behind a token bucket.
pub struct RateLimited {
    inner: Arc<dyn Platform>,
    bucket: Bucket,
}

impl RateLimited {
    /// `inner`, limited to `rate`.
    pub fn new(inner: Arc<dyn Platform>, rate: Rate) -> RateLimited {
        RateLimited {
            inner,
            bucket: Bucket::new(rate),
        }
    }
}

impl Platform for RateLimited {
    fn kind(&self) -> PlatformKind {
        self.inner.kind()
    }

    fn observe<'a>(&'a self, app: &'a Desired) -> BoxFuture<'a, Result<Observed, PlatformError>> {
        Box::pin(async move {
            self.bucket.take().await;
            self.inner.observe(app).await
        })
    }

    fn observe_with<'a>(
        &'a self,
        app: &'a Desired,
        known: Known<'a>,
    ) -> BoxFuture<'a, Result<Observed, PlatformError>> {
        Box::pin(async move {
            self.bucket.take().await;
            self.inner.observe_with(app, known).await
        })
    }

    fn execute<'a>(
        &'a self,
        app: &'a Desired,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<Effect, PlatformError>> {
        Box::pin(async move {
            self.bucket.take().await;
            self.inner.execute(app, action).await
        })
    }

    fn probe<'a>(
        &'a self,
        app: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<String>, PlatformError>> {
        Box::pin(async move {
            self.bucket.take().await;
            self.inner.probe(app).await
        })
    }

    fn observes_by_version(&self) -> bool {
        self.inner.observes_by_version()
    }

    fn audit_quota<'a>(
        &'a self,
        via: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<AuditQuota>, PlatformError>> {
        Box::pin(async move {
            self.bucket.take().await;
            self.inner.audit_quota(via).await
        })
    }

    fn readiness<'a>(
        &'a self,
        app: &'a Desired,
    ) -> BoxFuture<'a, Result<Option<crate::model::Readiness>, PlatformError>> {
        Box::pin(async move {
            self.bucket.take().await;
            self.inner.readiness(app).await
        })
    }

    fn experience_qr<'a>(
        &'a self,
        app: &'a Desired,
        path: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<crate::platform::QrCode>, PlatformError>> {
        Box::pin(async move {
            self.bucket.take().await;
            self.inner.experience_qr(app, path).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units() {
        assert_eq!(Rate::parse("50/s").unwrap().per_sec, 50.0);
        assert_eq!(Rate::parse("120/m").unwrap().per_sec, 2.0);
        let slow = Rate::parse("36/h").unwrap();
        assert!((slow.per_sec - 0.01).abs() < 1e-9);
        assert_eq!(slow.burst, 1.0);
        for bad in ["50", "0/s", "x/s", "5/d", "-1/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_bucket_spends_its_burst_then_paces_calls() {
        let bucket = Bucket::new(Rate::parse("100/s").unwrap());
        let started = tokio::time::Instant::now();
        let all = async {
            for _ in 0..300 {
                bucket.take().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .unwrap();
        let took = started.elapsed();
        // 100 at once, then 200 more at 100 a second.
        assert!(took >= Duration::from_millis(1900), "{took:?}");
        assert!(took <= Duration::from_millis(3500), "{took:?}");
    }
}
