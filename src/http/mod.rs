//! The HTTP side: `/metrics`, a landing page, `/-/healthy` and `/-/ready`.
//!
//! Scrapes render the currently published snapshot and never wait on AWS; gzip when the scraper accepts it
//! (the snapshot's part compressed once per snapshot). hyper with a header read timeout; connections are
//! drained on shutdown. With `--web.config.file`: TLS (optionally mutual), basic auth and extra headers,
//! looked up again for every connection, in that connection's task (see [`web_config`]).

mod routes;
pub mod web_config;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::exposition::Families;
use crate::metrics::Exposition;
use web_config::WebConfigWatcher;

/// Whether `/-/ready` says yes: set once by whoever has the exporter's first result (the refresh loop
/// when it publishes the first snapshot; the kiro-cli loop after its first success when it runs alone).
#[derive(Debug, Default)]
pub struct ReadyLatch(AtomicBool);

impl ReadyLatch {
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What the handlers read.
pub struct HttpState {
    /// The published snapshot's exposition (`None` until the first successful refresh).
    pub published: watch::Receiver<Option<Arc<Exposition>>>,
    /// Families rendered on every scrape after the snapshot's (self-metrics, kiro-cli).
    pub live: Vec<Arc<dyn Families>>,
    pub ready: Arc<ReadyLatch>,
    pub telemetry_path: String,
    /// `--web.config.file`, when given.
    pub web: Option<Arc<WebConfigWatcher>>,
    /// `--web.health-without-auth`: `/-/healthy` and `/-/ready` answer without credentials.
    pub health_without_auth: bool,
    /// `--web.max-connections`.
    pub max_connections: usize,
}

/// The open connections, bounded by `--web.max-connections`: when full, the oldest idle one (no request
/// in progress: never sent one, between keep-alive requests, or in its TLS handshake) is told to close for
/// the new one; with none idle, the new one is closed at once. Idle sockets cannot starve scrapes.
struct Slots {
    limit: usize,
    /// By id: ids grow, so the first idle entry is the oldest idle connection.
    open: std::sync::Mutex<std::collections::BTreeMap<u64, Slot>>,
    next: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
struct Slot {
    idle: Arc<AtomicBool>,
    close: CancellationToken,
}

/// A connection's place in [`Slots`], given back when the connection ends.
struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
    slot: Slot,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

impl Slots {
    fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self { limit, open: Default::default(), next: Default::default() })
    }

    /// A place for a new connection (closing the oldest idle one if full), or `None` when all are busy.
    /// `close` is the parent of the connection's own close token (the server's shutdown).
    fn admit(self: &Arc<Self>, close: &CancellationToken) -> Option<SlotGuard> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= self.limit {
            let oldest_idle = open.iter().find(|(_, s)| s.idle.load(Ordering::Acquire)).map(|(id, _)| *id)?;
            if let Some(evicted) = open.remove(&oldest_idle) {
                evicted.close.cancel();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Slot { idle: Arc::new(AtomicBool::new(true)), close: close.child_token() };
        open.insert(id, slot.clone());
        Some(SlotGuard { slots: self.clone(), id, slot })
    }
}

/// Marks a connection busy while a request is handled (idle again when dropped).
struct Busy(Arc<AtomicBool>);

impl Busy {
    fn new(idle: &Arc<AtomicBool>) -> Self {
        idle.store(false, Ordering::Release);
        Self(idle.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// How long a connection told to close may take to finish its response.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serves until `shutdown`, then lets open connections finish (bounded by a grace period).
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, shutdown: CancellationToken) {
    let slots = Slots::new(state.max_connections);
    // Cancelled after the accept loop ends: every connection finishes its response and closes.
    let draining = CancellationToken::new();
    // Each connection holds a sender; all dropped means all connections ended.
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = slots.admit(&draining) else {
            tracing::debug!(%peer, limit = state.max_connections, "refusing a connection: --web.max-connections reached and none is idle");
            continue;
        };
        // Nothing here waits: the web config, the TLS handshake and the requests are the connection's task.
        tokio::spawn(connection(stream, peer, state.clone(), slot, open_tx.clone()));
    }
    drop(listener);
    draining.cancel();
    drop(open_tx);
    if tokio::time::timeout(Duration::from_secs(5), open_rx.recv()).await.is_err() {
        tracing::warn!("open connections did not finish within 5s of shutdown");
    }
}

/// One connection, under the web config as of its start; ends early (finishing a response in progress)
/// when its slot is taken by a newer connection or the server shuts down.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<HttpState>,
    slot: SlotGuard,
    _open: tokio::sync::mpsc::Sender<()>,
) {
    let close = slot.slot.close.clone();
    // The web config as of this connection (the toolkit's behaviour): a changed file applies now (a reload
    // that would weaken it does not).
    let web = match &state.web {
        None => None,
        Some(w) => match tokio::select! { c = w.current() => c, _ = close.cancelled() => return } {
            Ok(c) => Some(c),
            Err(_) => {
                tracing::debug!(%peer, "refusing a connection: the web config is invalid");
                return;
            }
        },
    };
    let tls = web.as_ref().and_then(|w| w.tls.clone());
    let idle = slot.slot.idle.clone();
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let (state, web, busy) = (state.clone(), web.clone(), Busy::new(&idle));
        async move {
            let resp = routes::handle(state, web, req).await;
            drop(busy);
            Ok::<_, Infallible>(resp)
        }
    });
    let builder = {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).max_buf_size(64 * 1024);
        b
    };
    let result = match tls {
        None => serve_until_closed(builder.serve_connection(TokioIo::new(stream), service), &close).await,
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
            let stream = match tokio::select! { h = handshake => h, _ = close.cancelled() => return } {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            serve_until_closed(builder.serve_connection(TokioIo::new(stream), service), &close).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
    drop(slot);
}

/// Serves a connection; when `close` fires, lets a response in progress finish (up to [`CLOSE_GRACE`])
/// and closes.
async fn serve_until_closed<I, S>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    close: &CancellationToken,
) -> hyper::Result<()>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: hyper::service::HttpService<Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => return r,
        _ = close.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    tokio::time::timeout(CLOSE_GRACE, conn).await.unwrap_or(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_closes_the_oldest_idle_connection_or_refuses() {
        let server = CancellationToken::new();
        let slots = Slots::new(3);
        let a = slots.admit(&server).unwrap();
        let b = slots.admit(&server).unwrap();
        let c = slots.admit(&server).unwrap();
        // a is busy; b is the oldest idle one.
        let busy_a = Busy::new(&a.slot.idle);
        let d = slots.admit(&server).unwrap();
        assert!(!a.slot.close.is_cancelled());
        assert!(b.slot.close.is_cancelled(), "the oldest idle connection is told to close");
        assert!(!c.slot.close.is_cancelled());
        // All busy: a new connection is refused, nobody is closed.
        let (_busy_c, _busy_d) = (Busy::new(&c.slot.idle), Busy::new(&d.slot.idle));
        assert!(slots.admit(&server).is_none());
        assert!(!a.slot.close.is_cancelled() && !c.slot.close.is_cancelled() && !d.slot.close.is_cancelled());
        // A finished request makes a idle again; an ended connection frees its place.
        drop(busy_a);
        let e = slots.admit(&server).unwrap();
        assert!(a.slot.close.is_cancelled());
        drop(b);
        drop(e);
        assert_eq!(slots.open.lock().unwrap().len(), 2);
        assert!(slots.admit(&server).is_some());
        // Shutdown reaches every connection.
        server.cancel();
        assert!(c.slot.close.is_cancelled() && d.slot.close.is_cancelled());
    }
}
