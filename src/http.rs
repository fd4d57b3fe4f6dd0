//! The HTTP side: `/metrics`, a landing page, `/-/healthy` and `/-/ready`.
//!
//! Scrapes render the currently published snapshot and never wait on AWS; gzip when the scraper accepts it
//! (the snapshot's part compressed once per snapshot). hyper with a header read timeout; connections are
//! drained on shutdown. With `--web.config.file`: TLS (optionally mutual), basic auth and extra headers,
//! looked up again for every connection (see [`crate::web`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::exposition::Format;
use crate::metrics::gzip::accepts_gzip;
use crate::metrics::{Families, render, render_gzip};
use crate::snapshot::Snapshot;
use crate::sources::kiro_cli::CliMonitor;
use crate::web::{WebConfig, WebConfigWatcher};

/// When `/-/ready` says yes.
pub enum Readiness {
    /// After the first successful CUR refresh.
    Snapshot,
    /// kiro-cli alone: after its first successful run.
    KiroCli(Arc<CliMonitor>),
}

/// What the handlers read.
pub struct HttpState {
    pub snapshot: watch::Receiver<Option<Arc<Snapshot>>>,
    /// Families rendered on every scrape after the snapshot's (self-metrics, kiro-cli).
    pub live: Vec<Arc<dyn Families>>,
    pub readiness: Readiness,
    pub telemetry_path: String,
    /// `--web.config.file`, when given.
    pub web: Option<Arc<WebConfigWatcher>>,
    /// `--web.health-without-auth`: `/-/healthy` and `/-/ready` answer without credentials.
    pub health_without_auth: bool,
}

impl HttpState {
    fn ready(&self) -> bool {
        match &self.readiness {
            Readiness::Snapshot => self.snapshot.borrow().is_some(),
            Readiness::KiroCli(m) => m.has_succeeded(),
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    r
}

fn landing_page(path: &str) -> String {
    let path = path.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>kiro-exporter</title></head><body>\n\
         <h1>kiro-exporter</h1>\n<p>Per-user Kiro credits and costs from the AWS CUR 2.0 Data Export.</p>\n\
         <ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li><li><a href=\"/-/ready\">Readiness</a></li></ul>\n\
         <p>Version {}</p>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Routes one request, after checking its credentials when the web config asks for them.
pub async fn handle(state: Arc<HttpState>, web: Option<Arc<WebConfig>>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    let exempt = state.health_without_auth && matches!(path, "/-/healthy" | "/-/ready");
    let mut resp = match web.as_ref().filter(|w| w.requires_auth() && !exempt) {
        Some(w) => {
            let (w, auth) = (w.clone(), req.headers().get(header::AUTHORIZATION).cloned());
            // bcrypt is slow by design: off the async workers.
            let ok = tokio::task::spawn_blocking(move || w.authorized(auth.as_ref())).await.unwrap_or(false);
            if ok { None } else { Some(unauthorized()) }
        }
        None => None,
    }
    .unwrap_or_else(|| {
        let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        handle_parts(&state, req.method(), path, header_str(header::ACCEPT), header_str(header::ACCEPT_ENCODING))
    });
    for (name, value) in web.iter().flat_map(|w| w.headers.iter()) {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

fn unauthorized() -> Resp {
    let mut r = text(StatusCode::UNAUTHORIZED, "text/plain; charset=utf-8", "Unauthorized\n");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"kiro-exporter\""));
    r
}

fn handle_parts(
    state: &HttpState,
    method: &Method,
    path: &str,
    accept: Option<&str>,
    accept_encoding: Option<&str>,
) -> Resp {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "method not allowed\n");
        r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if path == state.telemetry_path {
        let format = Format::negotiate(accept);
        let snapshot = state.snapshot.borrow().clone();
        let live: Vec<&dyn Families> = state.live.iter().map(|f| f.as_ref()).collect();
        let now = SystemTime::now();
        if accepts_gzip(accept_encoding)
            && let Some(body) = render_gzip(snapshot.as_deref(), &live, format, now)
        {
            let mut r = text(StatusCode::OK, format.content_type(), body);
            r.headers_mut().insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
            r.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Accept-Encoding"));
            return r;
        }
        let mut r = text(StatusCode::OK, format.content_type(), render(snapshot.as_deref(), &live, format, now));
        r.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Accept-Encoding"));
        return r;
    }
    match path {
        "/" => text(StatusCode::OK, "text/html; charset=utf-8", landing_page(&state.telemetry_path)),
        "/-/healthy" => text(StatusCode::OK, "text/plain; charset=utf-8", "Healthy\n"),
        "/-/ready" => {
            if state.ready() {
                text(StatusCode::OK, "text/plain; charset=utf-8", "Ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "Not ready: no successful refresh yet\n",
                )
            }
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n"),
    }
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
        // The web config as of this connection (the toolkit's behaviour): a changed file applies now.
        let web = match &state.web {
            None => None,
            Some(w) => match w.current() {
                Ok(c) => Some(c),
                Err(_) => {
                    tracing::debug!(%peer, "refusing a connection: the web config is invalid");
                    continue;
                }
            },
        };
        let conn_state = state.clone();
        let conn_web = web.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let (state, web) = (conn_state.clone(), conn_web.clone());
            async move { Ok::<_, Infallible>(handle(state, web, req).await) }
        });
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).max_buf_size(64 * 1024);
            b
        };
        let watcher = graceful.watcher();
        match web.and_then(|w| w.tls.clone()) {
            None => {
                let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(tls) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                tokio::spawn(async move {
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
                    if let Err(e) = watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::warn!("open connections did not finish within 5s of shutdown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(snapshot: Option<Arc<Snapshot>>) -> (HttpState, watch::Sender<Option<Arc<Snapshot>>>) {
        let (tx, rx) = watch::channel(snapshot);
        let live: Vec<Arc<dyn Families>> = vec![Arc::new(crate::metrics::SelfMetrics::new())];
        let state = HttpState {
            snapshot: rx,
            live,
            readiness: Readiness::Snapshot,
            telemetry_path: "/metrics".into(),
            web: None,
            health_without_auth: false,
        };
        (state, tx)
    }

    #[test]
    fn readiness_follows_the_first_snapshot() {
        let (s, tx) = state(None);
        assert_eq!(handle_parts(&s, &Method::GET, "/-/ready", None, None).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(handle_parts(&s, &Method::GET, "/-/healthy", None, None).status(), StatusCode::OK);
        tx.send_replace(Some(Arc::new(Snapshot::default())));
        assert_eq!(handle_parts(&s, &Method::GET, "/-/ready", None, None).status(), StatusCode::OK);
    }

    #[test]
    fn methods_paths_and_content_types() {
        let (s, _tx) = state(None);
        let r = handle_parts(&s, &Method::POST, "/metrics", None, None);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(handle_parts(&s, &Method::GET, "/nope", None, None).status(), StatusCode::NOT_FOUND);
        let r = handle_parts(&s, &Method::GET, "/metrics", None, None);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
        let r = handle_parts(&s, &Method::HEAD, "/metrics", Some("application/openmetrics-text;version=1.0.0"), None);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/openmetrics-text; version=1.0.0; charset=utf-8");
        assert_eq!(handle_parts(&s, &Method::GET, "/", None, None).status(), StatusCode::OK);
    }
}
