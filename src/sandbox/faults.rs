//! Fault injection (DESIGN §7): a seedable generator that decides, call by call, whether the
//! sandbox answers normally, with an injected error, after a hang, or applies a mutating call and
//! loses its answer. The decision is pure; the HTTP handlers act on it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::fleet::FaultSpec;

/// What kind of platform call is being answered; decides which faults it may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A token call (`api_component_token`, `api_authorizer_token`, `alipay.open.auth.token.app`):
    /// errors and latency only.
    Token,
    /// A read: errors, latency and timeouts.
    Read,
    /// A call that changes state: every fault, lost answers included.
    Mutating,
}

/// What happens to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answered normally.
    None,
    /// Not applied; answered with an error carrying this code (a configured one), or the
    /// platform's transient "system busy" when `None`.
    Error(Option<String>),
    /// Not applied; the request hangs for the configured time, then fails.
    Timeout,
    /// Applied, but the answer is lost (HTTP 502 without a body).
    LostResponse,
}

/// The seeded fault generator of one simulator. Cheap to share behind an `Arc`.
pub struct Faults {
    spec: FaultSpec,
    rng: Mutex<fastrand::Rng>,
    /// Platform calls answered so far, by kind (token, read, mutating).
    calls: [AtomicU64; 3],
}

/// How many platform calls one simulator has answered (faulted ones included), by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallCounts {
    /// Token calls.
    pub token: u64,
    /// Reads.
    pub read: u64,
    /// Mutating calls.
    pub mutating: u64,
}

impl CallCounts {
    /// Every call.
    pub fn total(&self) -> u64 {
        self.token + self.read + self.mutating
    }
}

impl Faults {
    /// A generator for `spec`, seeded with `spec.seed` mixed with `stream` (so each platform's
    /// simulator draws its own sequence from one configured seed).
    pub fn new(spec: &FaultSpec, stream: u64) -> Faults {
        let rng = match spec.seed {
            Some(seed) => {
                fastrand::Rng::with_seed(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            }
            None => fastrand::Rng::new(),
        };
        Faults {
            spec: spec.clone(),
            rng: Mutex::new(rng),
            calls: Default::default(),
        }
    }

    /// The settings.
    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    /// The fixed delay before every answer.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.spec.latency_ms)
    }

    /// How long an injected timeout hangs.
    pub fn timeout_after(&self) -> Duration {
        Duration::from_millis(self.spec.timeout_after_ms)
    }

    /// Decides the fate of the next call. Every call draws the same amount of randomness whatever
    /// its kind, so one seed gives one sequence of decisions for one sequence of calls.
    pub fn draw(&self, kind: CallKind, codes: &[String]) -> Fault {
        self.calls[kind as usize].fetch_add(1, Ordering::Relaxed);
        if !self.spec.any() {
            return Fault::None;
        }
        let (timeout, error, lost, pick) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (rng.f64(), rng.f64(), rng.f64(), rng.usize(..usize::MAX))
        };
        if kind != CallKind::Token && timeout < self.spec.timeout_rate {
            return Fault::Timeout;
        }
        if error < self.spec.error_rate {
            let code = (!codes.is_empty()).then(|| codes[pick % codes.len()].clone());
            return Fault::Error(code);
        }
        if kind == CallKind::Mutating && lost < self.spec.lost_response_rate {
            return Fault::LostResponse;
        }
        Fault::None
    }

    /// How many calls were drawn for so far (every platform call the simulator answered).
    pub fn calls(&self) -> CallCounts {
        let n = |k: CallKind| self.calls[k as usize].load(Ordering::Relaxed);
        CallCounts {
            token: n(CallKind::Token),
            read: n(CallKind::Read),
            mutating: n(CallKind::Mutating),
        }
    }

    /// The configured codes that are numbers: WeChat errcodes and Douyin `err_no`s.
    pub fn numeric_codes(&self) -> Vec<String> {
        self.spec
            .codes
            .iter()
            .filter(|c| c.parse::<i64>().is_ok())
            .cloned()
            .collect()
    }

    /// The configured codes that are Alipay sub_codes (not numbers).
    pub fn alipay_codes(&self) -> Vec<String> {
        self.spec
            .codes
            .iter()
            .filter(|c| c.parse::<i64>().is_err())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> FaultSpec {
        FaultSpec {
            error_rate: 0.3,
            codes: vec!["45011".into(), "-1".into(), "isp.unknow-error".into()],
            timeout_rate: 0.1,
            lost_response_rate: 0.2,
            seed: Some(seed),
            ..FaultSpec::default()
        }
    }

    fn sequence(faults: &Faults, n: usize) -> Vec<Fault> {
        let codes = faults.numeric_codes();
        (0..n)
            .map(|i| {
                let kind = [CallKind::Token, CallKind::Read, CallKind::Mutating][i % 3];
                faults.draw(kind, &codes)
            })
            .collect()
    }

    #[test]
    fn every_draw_is_counted_by_kind_with_or_without_faults() {
        for spec in [spec(1), FaultSpec::default()] {
            let faults = Faults::new(&spec, 0);
            sequence(&faults, 7);
            let calls = faults.calls();
            assert_eq!((calls.token, calls.read, calls.mutating), (3, 2, 2));
            assert_eq!(calls.total(), 7);
        }
    }

    #[test]
    fn one_seed_gives_one_sequence_and_another_seed_another() {
        let a = sequence(&Faults::new(&spec(42), 1), 300);
        let b = sequence(&Faults::new(&spec(42), 1), 300);
        let c = sequence(&Faults::new(&spec(43), 1), 300);
        let d = sequence(&Faults::new(&spec(42), 2), 300);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d, "each platform's stream differs");
    }

    #[test]
    fn rates_are_respected_and_faults_fit_the_call_kind() {
        let faults = Faults::new(&spec(7), 0);
        let seq = sequence(&faults, 3000);
        let count = |f: &dyn Fn(&Fault) -> bool| seq.iter().filter(|x| f(x)).count();
        let errors = count(&|f| matches!(f, Fault::Error(_)));
        assert!(
            (700..1100).contains(&errors),
            "about 30 % minus timeouts: {errors}"
        );
        for (i, fault) in seq.iter().enumerate() {
            match (i % 3, fault) {
                (0, Fault::Timeout | Fault::LostResponse) => panic!("token call got {fault:?}"),
                (1, Fault::LostResponse) => panic!("read got a lost response"),
                (_, Fault::Error(Some(code))) => assert!(["45011", "-1"].contains(&code.as_str())),
                (_, Fault::Error(None)) => panic!("codes were configured"),
                _ => {}
            }
        }
        assert!(count(&|f| *f == Fault::LostResponse) > 50);
        assert!(count(&|f| *f == Fault::Timeout) > 50);
    }

    #[test]
    fn no_faults_configured_means_none_ever() {
        let faults = Faults::new(&FaultSpec::default(), 0);
        assert!(
            (0..100).all(|_| faults.draw(CallKind::Mutating, &[]) == Fault::None),
            "the default injects nothing"
        );
    }

    #[test]
    fn codes_split_by_platform() {
        let faults = Faults::new(&spec(1), 0);
        assert_eq!(faults.numeric_codes(), ["45011", "-1"]);
        assert_eq!(faults.alipay_codes(), ["isp.unknow-error"]);
    }
}
