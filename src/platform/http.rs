//! The one transport of every platform client: bounded connect and request times, a breaker that
//! stops calling a platform that does not answer (so a dead gateway costs one timeout, not one per
//! app and retry), the one retry schedule for reads, and the environment's proxy
//! (`HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY`, minus `NO_PROXY`) for every host but loopback —
//! WeChat's IP whitelist makes a fixed egress proxy the usual set-up.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{ErrorClass, PlatformError};
use crate::model::PlatformKind;

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole call may take (the platforms answer in well under a second).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a platform that did not answer is not called again.
pub const COOLDOWN: Duration = Duration::from_secs(30);
/// Calls in a row that did not reach the platform before the breaker opens.
pub const TRIP_AFTER: u32 = 2;

/// The error code of a call the breaker refused.
pub const UNREACHABLE: &str = "unreachable";

/// How a transport behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// See [`CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// See [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`COOLDOWN`].
    pub cooldown: Duration,
    /// The platform's own forward proxy (`platforms.<name>.proxy`, an http(s) URL the fleet
    /// checked); it takes the place of the environment's. Never used for loopback (the sandbox).
    pub proxy: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            cooldown: COOLDOWN,
            proxy: None,
        }
    }
}

impl Options {
    /// The default options with the proxy of `config` (`platforms.<name>.proxy`).
    pub fn for_config(config: &crate::fleet::PlatformConfig) -> Options {
        Options {
            proxy: config.proxy.clone(),
            ..Options::default()
        }
    }
}

/// An HTTP client for one platform host, behind a breaker.
pub struct Transport {
    client: reqwest::Client,
    platform: PlatformKind,
    host: String,
    breaker: Breaker,
}

impl Transport {
    /// A transport to `base` (a URL) of `platform`, through the environment's proxy for it.
    pub fn new(platform: PlatformKind, base: &str, options: Options) -> Transport {
        Transport::with_env(platform, base, options, &|name| std::env::var(name).ok())
    }

    /// [`Transport::new`] with the environment read through `env`.
    fn with_env(
        platform: PlatformKind,
        base: &str,
        options: Options,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Transport {
        let builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout);
        let configured = options.proxy.clone();
        let env = |name: &str| match &configured {
            // The platform's own proxy stands for every proxy variable; NO_PROXY does not apply.
            Some(url) if name.ends_with("PROXY") && !name.eq_ignore_ascii_case("NO_PROXY") => {
                Some(url.clone())
            }
            Some(_) => None,
            None => env(name),
        };
        let builder = match proxy_for(base, &env) {
            Some(Ok(proxy)) => builder.proxy(proxy),
            Some(Err(err)) => {
                tracing::warn!(%platform, error = %err, "the proxy setting is not a URL; calling directly");
                builder.no_proxy()
            }
            None => builder.no_proxy(),
        };
        let client = builder
            .build()
            .unwrap_or_else(|err| {
                tracing::warn!(%platform, error = %err, "cannot configure the HTTP client; using defaults");
                reqwest::Client::default()
            });
        Transport {
            client,
            platform,
            host: host_of(base),
            breaker: Breaker::new(options.cooldown),
        }
    }

    /// The same transport to the same host, configured with `options` (a fresh breaker).
    pub fn reconfigured(&self, base: &str, options: Options) -> Transport {
        Transport::new(self.platform, base, options)
    }

    /// The client to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The host calls go to (`api.weixin.qq.com`, `127.0.0.1:8690`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends `request` (for `call`). A platform that did not answer the last calls is not called
    /// until its cooldown passed: the call fails at once with code [`UNREACHABLE`]. A call that
    /// could not connect or timed out counts towards that; any answer at all resets it.
    pub async fn send(
        &self,
        call: &str,
        request: reqwest::RequestBuilder,
        hint: &str,
    ) -> Result<reqwest::Response, PlatformError> {
        if let Some(refusal) = self.breaker.refuse(self.platform, call, &self.host) {
            return Err(refusal);
        }
        match request.send().await {
            Ok(response) => {
                self.breaker.answered();
                Ok(response)
            }
            Err(err) => {
                let unreachable = err.is_connect() || err.is_timeout();
                let error = PlatformError::network(self.platform, call, err, hint);
                if unreachable {
                    self.breaker.missed(&error);
                }
                Err(error)
            }
        }
    }
}

/// `value` percent-encoded for a query string (everything but RFC 3986's unreserved characters).
pub fn query_value(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The media type an answer says it has (`image/jpeg`), empty when it names none.
pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The proxy the environment names for `base`: `HTTPS_PROXY` for an https URL, `HTTP_PROXY` for
/// http (either also lower-case), else `ALL_PROXY`; with `NO_PROXY`'s exceptions. `None` for a
/// loopback host (the sandbox) or when no proxy is named.
fn proxy_for(
    base: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<reqwest::Result<reqwest::Proxy>> {
    let host = host_of(base);
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host.as_str(), |(name, _)| name)
        .trim_matches(['[', ']']);
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return None;
    }
    let scheme = if base.starts_with("https://") {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    let named = |key: &str| {
        env(key)
            .or_else(|| env(&key.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let url = named(scheme).or_else(|| named("ALL_PROXY"))?;
    let no_proxy = named("NO_PROXY").and_then(|list| reqwest::NoProxy::from_string(&list));
    Some(reqwest::Proxy::all(url.trim()).map(|proxy| proxy.no_proxy(no_proxy)))
}

/// `host[:port]` of a URL, for messages (never its path or query, which may carry a token).
fn host_of(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_string()
}

/// Calls in a row that did not reach the platform, and until when it is not called.
struct Breaker {
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Default)]
struct BreakerState {
    misses: u32,
    open_until: Option<Instant>,
    /// What the last miss said (`the call timed out`…).
    why: String,
}

impl Breaker {
    fn new(cooldown: Duration) -> Breaker {
        Breaker {
            cooldown,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The error of a call refused while the breaker is open; `None` lets the call through (one
    /// probe at a time once the cooldown passed: the next miss reopens it at once).
    fn refuse(&self, platform: PlatformKind, call: &str, host: &str) -> Option<PlatformError> {
        let mut state = self.lock();
        let until = state.open_until?;
        let now = Instant::now();
        if now >= until {
            state.open_until = None;
            state.misses = TRIP_AFTER.saturating_sub(1);
            return None;
        }
        let left = humantime::format_duration(Duration::from_secs((until - now).as_secs() + 1));
        let error = PlatformError::local(
            platform,
            call,
            UNREACHABLE,
            ErrorClass::Transient,
            &format!(
                "{platform} at {host} did not answer ({}); not calling it for {left}",
                state.why
            ),
            &format!("check the network and `{host}`; minifleet calls it again after the cooldown"),
        );
        Some(error)
    }

    fn answered(&self) {
        let mut state = self.lock();
        state.misses = 0;
        state.open_until = None;
    }

    fn missed(&self, error: &PlatformError) {
        let mut state = self.lock();
        state.misses = state.misses.saturating_add(1);
        state.why = error.explanation.clone();
        if state.misses >= TRIP_AFTER && state.open_until.is_none() {
            state.open_until = Some(Instant::now() + self.cooldown);
            tracing::warn!(
                platform = %error.platform,
                call = %error.call,
                cooldown = %humantime::format_duration(self.cooldown),
                "the platform does not answer; calls to it fail at once until the cooldown passed"
            );
        }
    }
}

/// The one retry schedule: attempts of a call that failed transiently, and the pause before each
/// next one (`base · 2ⁿ` plus up to `base` of jitter). Reads retry at once within a pass; a
/// mutating call is retried only after observing it did not take effect (see the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all.
    pub attempts: u32,
    /// The first pause.
    pub base: Duration,
}

/// Reads: 3 attempts, 200 ms, 400 ms (plus jitter) apart.
pub const READS: Retry = Retry {
    attempts: 3,
    base: Duration::from_millis(100),
};

/// Mutating calls, after observing that a failed one did not take effect: 3 attempts, 500 ms and
/// 1 s (plus jitter) apart.
pub const MUTATIONS: Retry = Retry {
    attempts: 3,
    base: Duration::from_millis(250),
};

impl Retry {
    /// The pause after failed attempt `attempt` (1-based).
    pub fn pause(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(6);
        self.base * factor + self.base.mul_f64(fastrand::f64())
    }

    /// Runs `op` until it succeeds, fails with an error `again` does not want retried, or the
    /// attempts are used up; a call the breaker refused is not retried (it would be refused
    /// again).
    pub async fn run<T, F, Fut>(
        &self,
        mut op: F,
        again: impl Fn(&PlatformError) -> bool,
    ) -> Result<T, PlatformError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, PlatformError>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Err(err) if attempt < self.attempts && err.code != UNREACHABLE && again(&err) => {
                    tracing::debug!(call = %err.call, code = %err.code, attempt, "transient error, retrying");
                    tokio::time::sleep(self.pause(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const WECHAT: PlatformKind = crate::platform::wechat::spec::KIND;

    fn options(timeout_ms: u64) -> Options {
        Options {
            connect_timeout: Duration::from_millis(timeout_ms),
            request_timeout: Duration::from_millis(timeout_ms),
            cooldown: Duration::from_secs(30),
            proxy: None,
        }
    }

    /// A forward proxy on loopback that resolves every host to 127.0.0.1 (so `platform.test`
    /// is reachable through it and only through it): it counts the requests it forwarded.
    async fn forward_proxy() -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let counted = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut head = vec![0u8; 4096];
                    let n = client.read(&mut head).await.unwrap_or(0);
                    let text = String::from_utf8_lossy(&head[..n]).to_string();
                    // `GET http://platform.test:PORT/path HTTP/1.1`
                    let Some(port) = text
                        .split_whitespace()
                        .nth(1)
                        .and_then(|uri| uri.strip_prefix("http://"))
                        .and_then(|rest| rest.split('/').next())
                        .and_then(|authority| authority.rsplit(':').next())
                        .map(str::to_owned)
                    else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut upstream) =
                        tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await
                    else {
                        return;
                    };
                    let _ = upstream.write_all(&head[..n]).await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        (url, seen)
    }

    /// A platform on loopback answering `{"errcode":0}` to anything.
    async fn platform() -> u16 {
        let app = axum::Router::new().fallback(|| async { "{\"errcode\":0}" });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    #[tokio::test]
    async fn calls_go_through_the_environments_proxy_except_to_loopback_and_no_proxy_hosts() {
        let (proxy, seen) = forward_proxy().await;
        let port = platform().await;
        let env = |vars: Vec<(&'static str, String)>| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        // `platform.test` resolves nowhere: the call works only through the proxy.
        let base = format!("http://platform.test:{port}");
        let with_proxy = env(vec![("http_proxy", proxy.clone())]);
        let transport = Transport::with_env(WECHAT, &base, options(2000), &with_proxy);
        let request = transport.client().get(format!("{base}/wxa/getversioninfo"));
        let response = transport.send("wxa/getversioninfo", request, "h").await;
        assert_eq!(response.unwrap().status(), 200);
        assert_eq!(seen.load(Ordering::SeqCst), 1, "through the proxy");

        // NO_PROXY names the host: straight, so it cannot be resolved.
        let excepted = env(vec![
            ("HTTP_PROXY", proxy.clone()),
            ("NO_PROXY", "example.com,platform.test".into()),
        ]);
        let transport = Transport::with_env(WECHAT, &base, options(2000), &excepted);
        let request = transport.client().get(format!("{base}/wxa/getversioninfo"));
        let err = transport
            .send("wxa/getversioninfo", request, "h")
            .await
            .unwrap_err();
        assert_eq!(err.code, "network", "{err}");
        assert_eq!(seen.load(Ordering::SeqCst), 1, "not through the proxy");

        // Loopback (the sandbox) is called directly whatever the environment says.
        let local = format!("http://127.0.0.1:{port}");
        let all = env(vec![("ALL_PROXY", proxy.clone())]);
        let transport = Transport::with_env(WECHAT, &local, options(2000), &all);
        let request = transport
            .client()
            .get(format!("{local}/wxa/getversioninfo"));
        let response = transport.send("wxa/getversioninfo", request, "h").await;
        assert_eq!(response.unwrap().status(), 200);
        assert_eq!(seen.load(Ordering::SeqCst), 1, "loopback is never proxied");
    }

    #[tokio::test]
    async fn a_platforms_own_proxy_stands_for_the_environments() {
        let (proxy, seen) = forward_proxy().await;
        let port = platform().await;
        let base = format!("http://platform.test:{port}");
        // The environment names no proxy, or exempts the host: the platform's own still applies.
        let exempt = |name: &str| (name == "NO_PROXY").then(|| "platform.test".to_owned());
        let own = Options {
            proxy: Some(proxy.clone()),
            ..options(2000)
        };
        let transport = Transport::with_env(WECHAT, &base, own.clone(), &exempt);
        let request = transport.client().get(format!("{base}/wxa/getversioninfo"));
        let response = transport.send("wxa/getversioninfo", request, "h").await;
        assert_eq!(response.unwrap().status(), 200);
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "through the platform's proxy"
        );
        // Reconfigured (as a client is for its platform's settings), the same holds.
        let plain = Transport::with_env(WECHAT, &base, options(2000), &exempt);
        let transport = plain.reconfigured(&base, own.clone());
        let request = transport.client().get(format!("{base}/wxa/getversioninfo"));
        assert_eq!(
            transport.send("c", request, "h").await.unwrap().status(),
            200
        );
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        // The sandbox on loopback is still called directly.
        let local = format!("http://127.0.0.1:{port}");
        let transport = Transport::with_env(WECHAT, &local, own, &exempt);
        let request = transport.client().get(format!("{local}/x"));
        assert_eq!(
            transport.send("c", request, "h").await.unwrap().status(),
            200
        );
        assert_eq!(seen.load(Ordering::SeqCst), 2, "loopback is never proxied");
    }

    /// A CONNECT proxy on loopback: it records each `CONNECT host:port` it is asked for, and
    /// tunnels every such host to `upstream` on 127.0.0.1 (so `platform.test` is reachable
    /// through it and only through it).
    async fn connect_proxy(upstream: u16) -> (String, Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = vec![0u8; 4096];
                    let n = client.read(&mut head).await.unwrap_or(0);
                    let text = String::from_utf8_lossy(&head[..n]).to_string();
                    let mut words = text.split_whitespace();
                    if words.next() != Some("CONNECT") {
                        let _ = client
                            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                            .await;
                        return;
                    }
                    seen.lock()
                        .unwrap()
                        .push(words.next().unwrap_or("").to_owned());
                    let Ok(mut tunnel) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut tunnel).await;
                });
            }
        });
        (url, asked)
    }

    #[tokio::test]
    async fn an_https_platform_is_reached_through_the_proxys_connect_tunnel() {
        // Upstream: a listener that takes the tunnelled bytes and notes the TLS ClientHello.
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = upstream.local_addr().unwrap().port();
        let hello = Arc::new(Mutex::new(Vec::<u8>::new()));
        let got = hello.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            while let Ok((mut stream, _)) = upstream.accept().await {
                let mut first = [0u8; 5];
                if stream.read_exact(&mut first).await.is_ok() {
                    got.lock().unwrap().extend_from_slice(&first);
                }
            }
        });
        let (proxy, asked) = connect_proxy(port).await;
        // `platform.test` resolves nowhere: only the proxy can reach it.
        let base = format!("https://platform.test:{port}");
        let env = |name: &str| (name == "HTTPS_PROXY").then(|| proxy.clone());
        let transport = Transport::with_env(WECHAT, &base, options(2000), &env);
        let request = transport.client().get(format!("{base}/wxa/getversioninfo"));
        let err = transport
            .send("wxa/getversioninfo", request, "h")
            .await
            .unwrap_err();
        assert_eq!(
            asked.lock().unwrap().as_slice(),
            [format!("platform.test:{port}")],
            "the proxy was asked for a tunnel to the platform's host, not its IP"
        );
        let first = hello.lock().unwrap().clone();
        assert_eq!(
            first.first(),
            Some(&0x16),
            "TLS began inside the tunnel (a handshake record): {first:?}"
        );
        // The listener is no TLS server: the call fails as a network error (the TLS handshake).
        assert_eq!(err.code, "network", "{err}");
        assert!(err.to_string().contains("tls"), "{err}");
    }

    #[test]
    fn the_proxy_is_chosen_by_scheme_and_never_for_loopback() {
        let vars = [
            ("HTTPS_PROXY", "http://egress.internal:3128"),
            ("http_proxy", "http://plain.internal:3128"),
        ];
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        assert!(proxy_for("https://api.weixin.qq.com", &env).is_some());
        assert!(proxy_for("http://gateway.example", &env).is_some());
        for local in [
            "http://127.0.0.1:8690",
            "http://localhost:1",
            "http://[::1]:8690",
            "http://localhost",
        ] {
            assert!(proxy_for(local, &env).is_none(), "{local}");
        }
        assert!(proxy_for("https://api.weixin.qq.com", &|_| None).is_none());
        let blank = |_: &str| Some("  ".to_string());
        assert!(proxy_for("https://api.weixin.qq.com", &blank).is_none());
    }

    #[test]
    fn messages_name_the_host_never_the_path() {
        assert_eq!(
            host_of("https://api.weixin.qq.com/cgi-bin?access_token=x"),
            "api.weixin.qq.com"
        );
        assert_eq!(host_of("http://127.0.0.1:8690"), "127.0.0.1:8690");
        assert_eq!(host_of("127.0.0.1:1/x"), "127.0.0.1:1");
    }

    /// A host that accepts connections and never answers: the first calls time out, then the
    /// breaker refuses at once, naming the host; it lets a probe through after the cooldown.
    #[tokio::test]
    async fn a_platform_that_never_answers_is_not_called_again_until_the_cooldown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket); // never answered
            }
        });
        let base = format!("http://{addr}");
        let transport = Transport::new(WECHAT, &base, options(200));
        let url = format!("{base}/wxa/getversioninfo");
        for _ in 0..TRIP_AFTER {
            let request = transport.client().get(&url);
            let err = transport
                .send("wxa/getversioninfo", request, "h")
                .await
                .unwrap_err();
            assert_eq!(err.code, "network", "{err}");
        }
        let started = std::time::Instant::now();
        let request = transport.client().get(&url);
        let refused = transport
            .send("wxa/getversioninfo", request, "h")
            .await
            .unwrap_err();
        assert_eq!(refused.code, UNREACHABLE);
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "refused at once"
        );
        assert!(refused.explanation.contains(&addr.to_string()), "{refused}");
        assert!(refused.explanation.contains("timed out"), "{refused:?}");
        assert!(
            !refused.to_string().contains("getversioninfo?"),
            "{refused}"
        );
        accepted.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_closes_the_breaker_and_the_cooldown_lets_a_probe_through() {
        let breaker = Breaker::new(Duration::from_secs(30));
        let miss = PlatformError::local(
            WECHAT,
            "wxa/x",
            "network",
            ErrorClass::Transient,
            "the call timed out",
            "",
        );
        breaker.missed(&miss);
        assert!(
            breaker.refuse(WECHAT, "wxa/x", "h").is_none(),
            "one miss is not enough"
        );
        breaker.answered();
        breaker.missed(&miss);
        assert!(
            breaker.refuse(WECHAT, "wxa/x", "h").is_none(),
            "the count restarted"
        );
        breaker.missed(&miss);
        assert!(breaker.refuse(WECHAT, "wxa/x", "h").is_some());
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(breaker.refuse(WECHAT, "wxa/x", "h").is_none(), "a probe");
        breaker.missed(&miss);
        assert!(
            breaker.refuse(WECHAT, "wxa/x", "h").is_some(),
            "a failed probe reopens at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reads_retry_transient_errors_but_not_refusals() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let transient =
            || PlatformError::local(WECHAT, "wxa/x", "-1", ErrorClass::Transient, "busy", "");
        let result: Result<(), _> = READS
            .run(
                || async {
                    tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Err(transient())
                },
                |_| true,
            )
            .await;
        assert!(result.is_err());
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 3);
        tries.store(0, std::sync::atomic::Ordering::SeqCst);
        let refused =
            || PlatformError::local(WECHAT, "wxa/x", UNREACHABLE, ErrorClass::Transient, "x", "");
        let result: Result<(), _> = READS
            .run(
                || async {
                    tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Err(refused())
                },
                |_| true,
            )
            .await;
        assert!(result.is_err());
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
