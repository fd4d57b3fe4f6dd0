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
use hyper_util::server::graceful::Watcher;
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
}

/// Serves until `shutdown`, then lets open connections finish (bounded by a grace period).
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, shutdown: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
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
        // Nothing here waits: the web config, the TLS handshake and the requests are the connection's task.
        tokio::spawn(connection(stream, peer, state.clone(), graceful.watcher()));
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::warn!("open connections did not finish within 5s of shutdown");
    }
}

/// One connection, under the web config as of its start.
async fn connection(stream: TcpStream, peer: SocketAddr, state: Arc<HttpState>, watcher: Watcher) {
    // The web config as of this connection (the toolkit's behaviour): a changed file applies now (a reload
    // that would weaken it does not).
    let web = match &state.web {
        None => None,
        Some(w) => match w.current().await {
            Ok(c) => Some(c),
            Err(_) => {
                tracing::debug!(%peer, "refusing a connection: the web config is invalid");
                return;
            }
        },
    };
    let tls = web.as_ref().and_then(|w| w.tls.clone());
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let (state, web) = (state.clone(), web.clone());
        async move { Ok::<_, Infallible>(routes::handle(state, web, req).await) }
    });
    let builder = {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).max_buf_size(64 * 1024);
        b
    };
    let result = match tls {
        None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
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
            watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
