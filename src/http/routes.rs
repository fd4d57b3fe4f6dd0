//! The routes: `/metrics` (content negotiation, gzip), `/`, `/-/healthy`, `/-/ready`, and the basic-auth
//! check and extra headers of the web config.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;

use super::HttpState;
use super::web_config::WebConfig;
use crate::exposition::gzip::accepts_gzip;
use crate::exposition::{Families, Format};
use crate::metrics::{render, render_gzip};

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
pub(super) async fn handle(state: Arc<HttpState>, web: Option<Arc<WebConfig>>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    let exempt = state.health_without_auth && matches!(path, "/-/healthy" | "/-/ready");
    let mut resp = match web.as_ref().filter(|w| w.requires_auth() && !exempt) {
        Some(w) => {
            // bcrypt runs on the blocking pool, one check at a time per user.
            let ok = w.authorize(req.headers().get(header::AUTHORIZATION)).await;
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
        let published = state.published.borrow().clone();
        let live: Vec<&dyn Families> = state.live.iter().map(|f| f.as_ref()).collect();
        let now = SystemTime::now();
        if accepts_gzip(accept_encoding)
            && let Some(body) = render_gzip(published.as_deref(), &live, format, now)
        {
            let mut r = text(StatusCode::OK, format.content_type(), body);
            r.headers_mut().insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
            r.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Accept-Encoding"));
            return r;
        }
        let mut r = text(StatusCode::OK, format.content_type(), render(published.as_deref(), &live, format, now));
        r.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Accept-Encoding"));
        return r;
    }
    match path {
        "/" => text(StatusCode::OK, "text/html; charset=utf-8", landing_page(&state.telemetry_path)),
        "/-/healthy" => text(StatusCode::OK, "text/plain; charset=utf-8", "Healthy\n"),
        "/-/ready" => {
            if state.ready.is_set() {
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use tokio::sync::watch;

    use crate::http::{HttpState, ReadyLatch};
    use crate::metrics::Exposition;
    use crate::snapshot::Snapshots;

    fn state(published: Option<Arc<Exposition>>) -> (HttpState, watch::Sender<Option<Arc<Exposition>>>) {
        let (tx, rx) = watch::channel(published);
        let live: Vec<Arc<dyn Families>> = vec![Arc::new(crate::metrics::SelfMetrics::new())];
        let state = HttpState {
            published: rx,
            live,
            ready: Arc::new(ReadyLatch::default()),
            telemetry_path: "/metrics".into(),
            web: None,
            health_without_auth: false,
            max_connections: 8,
        };
        (state, tx)
    }

    #[test]
    fn readiness_follows_the_first_snapshot() {
        let (s, tx) = state(None);
        assert_eq!(handle_parts(&s, &Method::GET, "/-/ready", None, None).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(handle_parts(&s, &Method::GET, "/-/healthy", None, None).status(), StatusCode::OK);
        let published = Exposition::new(Arc::new(Snapshots::default()), usize::MAX).unwrap();
        tx.send_replace(Some(Arc::new(published)));
        s.ready.set();
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
