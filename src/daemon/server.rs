//! The HTTP server of `serve` and `watch`: the axum routes on hyper's HTTP/1 connections, with
//! every read bounded so a slow client cannot hold a connection — a request's headers must arrive
//! within [`Limits::header_read`], its whole body within [`Limits::body_read`] (else 408), and a
//! body is at most [`MAX_PUSH_BODY`] (else 413). On shutdown no new connection is accepted and
//! the requests in flight get [`Limits::grace`] to finish.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body accepted (64 KiB); larger ones get HTTP 413.
pub const MAX_PUSH_BODY: usize = 64 * 1024;
/// Largest proposed fleet file `POST /api/v1/plan` takes (4 MiB: a 10,000-app fleet is ~2 MiB).
pub const MAX_PROPOSAL_BODY: usize = 4 << 20;
/// The path whose body may be up to [`MAX_PROPOSAL_BODY`].
pub const PROPOSAL_PATH: &str = "/api/v1/plan";

/// The largest body a request to `path` may carry.
fn body_limit(path: &str) -> usize {
    if path == PROPOSAL_PATH {
        MAX_PROPOSAL_BODY
    } else {
        MAX_PUSH_BODY
    }
}

/// How long the server waits for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// For a request's head (request line and headers).
    pub header_read: Duration,
    /// For a request's whole body (a push is at most 64 KiB: seconds at any real speed).
    pub body_read: Duration,
    /// For requests in flight after the stop signal.
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            grace: Duration::from_secs(5),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, with the default [`Limits`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, Limits::default()).await
}

/// Serves `router` on `listener` until `shutdown` completes; then lets the requests in flight
/// finish for at most `limits.grace`.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    let router = router.layer(axum::middleware::from_fn_with_state(
        limits.body_read,
        read_body_within,
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = connection(
            stream,
            peer,
            router.clone(),
            limits.header_read,
            stop_rx.clone(),
        );
        let open = open_rx.clone();
        tokio::spawn(async move {
            connection.await;
            drop(open);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    if tokio::time::timeout(limits.grace, open_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("HTTP requests outlasted the grace period and were cut off");
    }
    Ok(())
}

/// Serves one connection until it closes, shutting it down gracefully on `stop`.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    header_read: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let service = WithPeer {
        inner: TowerToHyperService::new(router),
        peer,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = async { drop(stop.wait_for(|stop| *stop).await) } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection closed");
    }
}

/// The router as hyper's service, each request carrying its connection's peer address
/// (`ConnectInfo<SocketAddr>`, which the API's loopback rule reads).
#[derive(Clone)]
struct WithPeer {
    inner: TowerToHyperService<Router>,
    peer: SocketAddr,
}

impl hyper::service::Service<axum::http::Request<hyper::body::Incoming>> for WithPeer {
    type Response = <TowerToHyperService<Router> as hyper::service::Service<
        axum::http::Request<hyper::body::Incoming>,
    >>::Response;
    type Error = <TowerToHyperService<Router> as hyper::service::Service<
        axum::http::Request<hyper::body::Incoming>,
    >>::Error;
    type Future = <TowerToHyperService<Router> as hyper::service::Service<
        axum::http::Request<hyper::body::Incoming>,
    >>::Future;

    fn call(&self, mut request: axum::http::Request<hyper::body::Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        self.inner.call(request)
    }
}

/// Reads the whole body within `limit` (408 past it, 413 past [`MAX_PUSH_BODY`]) before the
/// handler runs, so no handler ever waits on a slow client.
async fn read_body_within(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max = body_limit(parts.uri.path());
    if declared.is_some_and(|len| len > max as u64) {
        return too_large(max);
    }
    match tokio::time::timeout(limit, collect(body, max)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(BodyError::TooLarge)) => too_large(max),
        Ok(Err(BodyError::Read(err))) => {
            tracing::debug!(error = %err, "request body not read");
            refuse(StatusCode::BAD_REQUEST, "the body could not be read")
        }
        Err(_) => {
            tracing::warn!(limit = ?limit, "request body too slow; connection closed");
            refuse(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            )
        }
    }
}

/// A refusal that also closes the connection (the rest of the body is not read).
fn refuse(status: StatusCode, reason: &'static str) -> Response {
    (status, [(header::CONNECTION, "close")], reason).into_response()
}

/// 413, saying the limit (in JSON with a `help`, which API clients read; push senders ignore it).
fn too_large(max: usize) -> Response {
    let body = serde_json::json!({
        "error": format!("the body is over {} KiB", max / 1024),
        "help": "send a smaller body; a proposed fleet file may be up to 4 MiB",
    });
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONNECTION, "close")],
        axum::Json(body),
    )
        .into_response()
}

enum BodyError {
    TooLarge,
    Read(axum::Error),
}

/// The body's bytes, at most `max` of them.
async fn collect(mut body: Body, max: usize) -> Result<Bytes, BodyError> {
    let mut bytes = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(BodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > max {
                return Err(BodyError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}
