//! The HTTP side: `/metrics`, a landing page, `/-/healthy` and `/-/ready`.
//!
//! Scrapes render the currently published snapshot and never wait on AWS. hyper with a header read
//! timeout; connections are drained on shutdown.

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
use crate::metrics::{Families, render};
use crate::snapshot::Snapshot;
use crate::sources::kiro_cli::CliMonitor;

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

/// Routes one request.
pub fn handle(state: &HttpState, req: &Request<Incoming>) -> Resp {
    handle_parts(state, req.method(), req.uri().path(), req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()))
}

fn handle_parts(state: &HttpState, method: &Method, path: &str, accept: Option<&str>) -> Resp {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "method not allowed\n");
        r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if path == state.telemetry_path {
        let format = Format::negotiate(accept);
        let snapshot = state.snapshot.borrow().clone();
        let live: Vec<&dyn Families> = state.live.iter().map(|f| f.as_ref()).collect();
        let body = render(snapshot.as_deref(), &live, format, SystemTime::now());
        return text(StatusCode::OK, format.content_type(), body);
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
        let state = state.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let resp = handle(&state, &req);
            async move { Ok::<_, Infallible>(resp) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
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
        (HttpState { snapshot: rx, live, readiness: Readiness::Snapshot, telemetry_path: "/metrics".into() }, tx)
    }

    #[test]
    fn readiness_follows_the_first_snapshot() {
        let (s, tx) = state(None);
        assert_eq!(handle_parts(&s, &Method::GET, "/-/ready", None).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(handle_parts(&s, &Method::GET, "/-/healthy", None).status(), StatusCode::OK);
        tx.send_replace(Some(Arc::new(Snapshot::default())));
        assert_eq!(handle_parts(&s, &Method::GET, "/-/ready", None).status(), StatusCode::OK);
    }

    #[test]
    fn methods_paths_and_content_types() {
        let (s, _tx) = state(None);
        let r = handle_parts(&s, &Method::POST, "/metrics", None);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(handle_parts(&s, &Method::GET, "/nope", None).status(), StatusCode::NOT_FOUND);
        let r = handle_parts(&s, &Method::GET, "/metrics", None);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
        let r = handle_parts(&s, &Method::HEAD, "/metrics", Some("application/openmetrics-text;version=1.0.0"));
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/openmetrics-text; version=1.0.0; charset=utf-8");
        assert_eq!(handle_parts(&s, &Method::GET, "/", None).status(), StatusCode::OK);
    }
}
