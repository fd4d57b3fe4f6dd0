//! `--web.config.file` (TLS, mutual TLS, basic auth, headers, reload) and gzip on `/metrics`, against the
//! real server with generated certificates and a rustls client.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// A running daemon on a generated export; stopped when dropped.
struct Server {
    daemon: Daemon,
    _export: Export,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let export = small_export();
        let mut args = vec!["--cur.path", export.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        Server { daemon: Daemon::start(&args), _export: export }
    }
}

impl std::ops::Deref for Server {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

fn wait_ready(ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "the exporter did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b).read_to_string(&mut s).unwrap();
    s
}

fn cost_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.starts_with("kiro_credits") || l.starts_with("bedrock_")).map(str::to_owned).collect()
}

#[test]
fn gzip_when_asked_for_and_plain_otherwise() {
    let s = Server::start(&[]);
    wait_ready(|| http_get(&s.addr, "/-/ready", &[]).0 == 200);
    let (status, head, plain) = http_get(&s.addr, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(!head.to_ascii_lowercase().contains("content-encoding"), "{head}");
    let plain = String::from_utf8(plain).unwrap();
    for _ in 0..2 {
        // Twice: the second scrape reuses the snapshot's compressed part.
        let (status, head, zipped) = http_get(&s.addr, "/metrics", &[("Accept-Encoding", "gzip")]);
        assert_eq!(status, 200);
        assert!(head.to_ascii_lowercase().contains("content-encoding: gzip"), "{head}");
        assert!(zipped.len() * 3 < plain.len(), "{} bytes compressed vs {} plain", zipped.len(), plain.len());
        let text = gunzip(&zipped);
        assert!(!cost_lines(&text).is_empty());
        assert_eq!(cost_lines(&text), cost_lines(&plain));
        assert!(text.contains("kiro_exporter_build_info"), "the live part is there too");
    }
    // OpenMetrics compressed ends with # EOF.
    let (_, _, om) = http_get(
        &s.addr,
        "/metrics",
        &[("Accept-Encoding", "gzip"), ("Accept", "application/openmetrics-text;version=1.0.0")],
    );
    assert!(gunzip(&om).ends_with("# EOF\n"));
    let (_, head, _) = http_get(&s.addr, "/metrics", &[("Accept-Encoding", "gzip;q=0")]);
    assert!(!head.to_ascii_lowercase().contains("content-encoding"));
}

#[test]
fn basic_auth_right_wrong_missing_and_health_exemption() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "basic_auth_users:\n  prometheus: {hash}\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        ),
    )
    .unwrap();
    let s = Server::start(&["--web.config.file", web.to_str().unwrap()]);
    let good = basic("prometheus", "s3cret");
    wait_ready(|| http_get(&s.addr, "/-/ready", &[("Authorization", &good)]).0 == 200);

    let (status, head, body) = http_get(&s.addr, "/metrics", &[("Authorization", &good)]);
    assert_eq!(status, 200);
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("kiro_credits_used{"));
    for auth in [None, Some(basic("prometheus", "wrong")), Some(basic("nobody", "s3cret")), Some("Bearer x".into())] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        for path in ["/metrics", "/-/healthy", "/-/ready", "/"] {
            let (status, head, body) = http_get(&s.addr, path, &headers);
            assert_eq!(status, 401, "{path} {auth:?}");
            assert!(head.to_ascii_lowercase().contains("www-authenticate: basic"), "{head}");
            assert!(!String::from_utf8_lossy(&body).contains("kiro_"), "no data without credentials");
        }
    }

    // A new user applies to the next connection, without a restart; the old one is gone.
    let hash2 = bcrypt::hash("other", 4).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&web, format!("basic_auth_users:\n  grafana: {hash2}\n")).unwrap();
    assert_eq!(http_get(&s.addr, "/metrics", &[("Authorization", &basic("grafana", "other"))]).0, 200);
    assert_eq!(http_get(&s.addr, "/metrics", &[("Authorization", &good)]).0, 401);
    drop(s);

    let s = Server::start(&["--web.config.file", web.to_str().unwrap(), "--web.health-without-auth"]);
    assert_eq!(http_get(&s.addr, "/-/healthy", &[]).0, 200);
    assert_eq!(http_get(&s.addr, "/metrics", &[]).0, 401);
}

#[test]
fn a_bad_web_config_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  prometheus: not-a-hash\n").unwrap();
    let out = run(&["--cur.path", "/nonexistent", "--web.config.file", web.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("web.yml") && err.contains("not a bcrypt hash"), "{err}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
fn pki(dir: &Path) -> (CertificateDer<'static>, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client =
        CertificateParams::new(vec!["prometheus".to_owned()]).unwrap().signed_by(&client_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    let client_key = PrivateKeyDer::try_from(client_key.serialize_der()).unwrap();
    (ca_cert.der().clone(), vec![client.der().clone()], client_key)
}

/// GET over TLS; `Err` when the handshake or the request fails.
fn tls_get(
    addr: &str,
    path: &str,
    ca: &CertificateDer<'static>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<(u16, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.map_err(|e| e.to_string())?;
        tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or(format!("no status: {text}"))?;
        Ok((status, text))
    })
}

#[test]
fn tls_and_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, client_chain, client_key) = pki(dir.path());
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n")
        .unwrap();
    let s = Server::start(&["--web.config.file", web.to_str().unwrap()]);
    wait_ready(|| tls_get(&s.addr, "/-/ready", &ca, None).is_ok_and(|(st, _)| st == 200));
    let (status, body) = tls_get(&s.addr, "/metrics", &ca, None).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("kiro_credits_used{"));
    // Plain HTTP to the TLS port gets no data.
    let plain = std::panic::catch_unwind(|| http_get(&s.addr, "/metrics", &[]));
    assert!(plain.map_or(true, |(status, _, body)| status != 200 && !String::from_utf8_lossy(&body).contains("kiro_")));
    drop(s);

    // Mutual TLS: a client certificate signed by the CA is required.
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    .unwrap();
    let s = Server::start(&["--web.config.file", web.to_str().unwrap()]);
    let with_cert = |path| tls_get(&s.addr, path, &ca, Some((client_chain.clone(), client_key.clone_key())));
    wait_ready(|| with_cert("/-/ready").is_ok_and(|(st, _)| st == 200));
    assert!(with_cert("/metrics").unwrap().1.contains("kiro_credits_used{"));
    assert!(tls_get(&s.addr, "/metrics", &ca, None).is_err(), "no client certificate, no connection");
    // A certificate from another CA is refused too.
    let other = tempfile::tempdir().unwrap();
    let (_, stranger_chain, stranger_key) = pki(other.path());
    assert!(tls_get(&s.addr, "/metrics", &ca, Some((stranger_chain, stranger_key))).is_err());
}

/// A reload counter of the running daemon (`kiro_exporter_web_config_reloads_total{result}`) in a scrape
/// (a raw response is fine: the sample is looked for by line).
fn reloads(text: &str, result: &str) -> f64 {
    let prefix = format!("kiro_exporter_web_config_reloads_total{{result=\"{result}\"}} ");
    let line = text.lines().find_map(|l| l.strip_prefix(&prefix));
    line.unwrap_or_else(|| panic!("no {prefix}in {text}")).trim().parse().unwrap()
}

/// Rewrites the web config (after a pause, so its modification time moves).
fn rewrite(web: &Path, text: &str) {
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(web, text).unwrap();
}

#[test]
fn a_reload_that_would_drop_tls_or_client_certificates_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, client_chain, client_key) = pki(dir.path());
    let web = dir.path().join("web.yml");
    let mtls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n";
    std::fs::write(&web, mtls).unwrap();
    let s = Server::start(&["--web.config.file", web.to_str().unwrap()]);
    let with_cert = |path| tls_get(&s.addr, path, &ca, Some((client_chain.clone(), client_key.clone_key())));
    wait_ready(|| with_cert("/-/ready").is_ok_and(|(st, _)| st == 200));
    let plain_has_data = || {
        std::panic::catch_unwind(|| http_get(&s.addr, "/metrics", &[]))
            .is_ok_and(|(status, _, body)| status == 200 || String::from_utf8_lossy(&body).contains("kiro_"))
    };

    // Emptied in place (`: > web.yml`, or a config tool's non-atomic rewrite): still TLS with client
    // certificates, never plain HTTP.
    rewrite(&web, "");
    assert!(!plain_has_data(), "an emptied web config must not turn the port into plain HTTP");
    assert!(tls_get(&s.addr, "/metrics", &ca, None).is_err(), "still no connection without a certificate");
    assert!(with_cert("/metrics").unwrap().1.contains("kiro_credits_used{"));
    // Weaker client certificate checks: refused too.
    for weaker in [
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    ] {
        rewrite(&web, weaker);
        assert!(tls_get(&s.addr, "/metrics", &ca, None).is_err(), "{weaker}");
        assert!(!plain_has_data(), "{weaker}");
    }
    let (_, text) = with_cert("/metrics").unwrap();
    assert_eq!(reloads(&text, "refused"), 4.0, "{text}");
    assert_eq!(reloads(&text, "success"), 0.0);
    // A change that keeps the checks applies (here: a header).
    rewrite(&web, &format!("{mtls}http_server_config:\n  headers:\n    X-Frame-Options: deny\n"));
    let (_, text) = with_cert("/metrics").unwrap();
    assert!(text.to_ascii_lowercase().contains("x-frame-options: deny"), "{text}");
    assert_eq!(reloads(&text, "success"), 1.0, "{text}");
    drop(s);

    // Only a restart applies the weaker file.
    rewrite(&web, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    let s = Server::start(&["--web.config.file", web.to_str().unwrap()]);
    wait_ready(|| tls_get(&s.addr, "/-/ready", &ca, None).is_ok_and(|(st, _)| st == 200));
}

#[test]
fn a_reload_that_would_remove_every_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  prometheus: {hash}\n")).unwrap();
    let s = Server::start(&["--web.config.file", web.to_str().unwrap()]);
    let good = basic("prometheus", "s3cret");
    wait_ready(|| http_get(&s.addr, "/-/ready", &[("Authorization", &good)]).0 == 200);

    for emptied in ["", "basic_auth_users: {}\n", "basic_auth_users:\n", "# nothing\n"] {
        rewrite(&web, emptied);
        let (status, _, body) = http_get(&s.addr, "/metrics", &[]);
        assert_eq!(status, 401, "{emptied:?}");
        assert!(!String::from_utf8_lossy(&body).contains("kiro_"), "{emptied:?}");
        assert_eq!(http_get(&s.addr, "/metrics", &[("Authorization", &good)]).0, 200, "the old user still works");
    }
    // An invalid file fails closed and is counted; fixing it applies.
    rewrite(&web, "basic_auth_users: [\n");
    assert!(std::panic::catch_unwind(|| http_get(&s.addr, "/metrics", &[("Authorization", &good)])).is_err());
    let hash2 = bcrypt::hash("other", 4).unwrap();
    rewrite(&web, &format!("basic_auth_users:\n  grafana: {hash2}\n"));
    let (status, _, body) = http_get(&s.addr, "/metrics", &[("Authorization", &basic("grafana", "other"))]);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(reloads(&text, "refused"), 4.0, "{text}");
    assert_eq!(reloads(&text, "invalid"), 1.0, "{text}");
    assert_eq!(reloads(&text, "success"), 1.0, "{text}");
    assert_eq!(http_get(&s.addr, "/metrics", &[("Authorization", &good)]).0, 401, "the replaced user is gone");
    drop(s);

    // A restart applies an emptied file.
    rewrite(&web, "");
    let s = Server::start(&["--web.config.file", web.to_str().unwrap()]);
    wait_ready(|| http_get(&s.addr, "/-/ready", &[]).0 == 200);
}

/// A well-formed bcrypt hash of cost `cost` without paying for it: a cheap hash with its cost field
/// raised (it matches no password, but checking one against it costs `cost`).
fn costly_hash(cost: u32) -> String {
    let cheap = bcrypt::hash("x", 4).unwrap();
    cheap.replacen("$04$", &format!("${cost:02}$"), 1)
}

#[test]
fn a_reload_does_not_stall_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  prometheus: {}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    let s = Server::start(&["--web.config.file", web.to_str().unwrap(), "--web.health-without-auth"]);
    wait_ready(|| http_get(&s.addr, "/-/healthy", &[]).0 == 200);
    // Three users with cost-12 hashes: checking each costs about a second in a debug build.
    let users: String = ["a", "b", "c"].iter().map(|u| format!("  {u}: {}\n", costly_hash(12))).collect();
    rewrite(&web, &format!("basic_auth_users:\n{users}"));
    let started = Instant::now();
    assert_eq!(http_get(&s.addr, "/-/healthy", &[]).0, 200);
    assert_eq!(http_get(&s.addr, "/metrics", &[]).0, 401, "the new users apply");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "a reload stalled new connections for {took:?}");
}
