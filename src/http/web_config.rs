//! `--web.config.file`: TLS, basic auth and response headers in the Prometheus exporter-toolkit format
//! (the same YAML as node_exporter's), so a platform team can reuse what it already runs.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt            # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (default), VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12               # or TLS13
//! http_server_config:
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   prometheus: $2y$10$...           # bcrypt hash (htpasswd -nBC 10 prometheus)
//! ```
//!
//! As in the toolkit, the file is looked at again for every connection: a change (new certificate, new
//! user) applies to the next connection without a restart. A file that became invalid fails closed: new
//! connections are refused until it is fixed (logged once per change). At startup an invalid file is a
//! configuration error. Settings of the toolkit that this exporter does not implement are refused by name
//! rather than ignored.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use http::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    headers: Option<BTreeMap<String, String>>,
    /// Accepted for compatibility; the exporter speaks HTTP/1.1 (all Prometheus needs).
    http2: Option<bool>,
}

/// A loaded, validated web configuration.
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User -> bcrypt hash.
    users: BTreeMap<String, String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Verified (user, password) digests, so a scrape every few seconds does not pay bcrypt each time.
    verified: Mutex<HashMap<[u8; 32], bool>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hashes.
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers.len())
            .finish()
    }
}

/// A well-formed bcrypt hash that matches no password anyone would send: unknown users are checked against
/// it so that a wrong user name takes as long as a wrong password.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Headers the file may not set: the exporter owns them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "www-authenticate",
    "vary",
    "connection",
];

fn err(path: &Path, msg: impl std::fmt::Display) -> String {
    format!("web config {}: {msg}", path.display())
}

impl WebConfig {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| err(path, e))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = file.tls_server_config.map(|t| tls_config(path, base, t)).transpose()?.map(Arc::new);
        let mut users = BTreeMap::new();
        for (user, hash) in file.basic_auth_users.unwrap_or_default() {
            if user.is_empty() || user.contains(':') {
                return Err(err(path, format!("basic_auth_users: user name {user:?} is empty or has a ':'")));
            }
            let hash = hash.trim().to_owned();
            // Validate the hash's shape now, not at the first scrape.
            if !hash.starts_with("$2") || bcrypt::verify("", &hash).is_err() {
                return Err(err(path, format!("basic_auth_users: the password of {user:?} is not a bcrypt hash")));
            }
            users.insert(user, hash);
        }
        let mut headers = Vec::new();
        let http = file.http_server_config.unwrap_or_default();
        if http.http2 == Some(true) {
            tracing::debug!("http_server_config.http2: the exporter serves HTTP/1.1");
        }
        for (name, value) in http.headers.unwrap_or_default() {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| err(path, format!("http_server_config.headers: {name:?} is not a header name")))?;
            if RESERVED_HEADERS.contains(&n.as_str()) {
                return Err(err(path, format!("http_server_config.headers: {name} is set by the exporter")));
            }
            let v = HeaderValue::from_str(&value)
                .map_err(|_| err(path, format!("http_server_config.headers: the value of {name} is not valid")))?;
            headers.push((n, v));
        }
        Ok(Self { tls, users, headers, verified: Mutex::new(HashMap::new()) })
    }

    /// Whether requests need a user and password.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Checks an `Authorization` header. Slow (bcrypt) the first time a pair is seen: call it off the
    /// async workers.
    pub fn authorized(&self, authorization: Option<&HeaderValue>) -> bool {
        if !self.requires_auth() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(parse_basic) else { return false };
        let hash = self.users.get(&user).map_or(DUMMY_HASH, String::as_str);
        let mut h = Sha256::new();
        for part in [user.as_bytes(), password.as_bytes(), hash.as_bytes()] {
            h.update(part);
            h.update([0u8]);
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(ok) = self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return *ok;
        }
        let ok = bcrypt::verify(&password, hash).unwrap_or(false) && self.users.contains_key(&user);
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
    }
}

fn parse_basic(v: &HeaderValue) -> Option<(String, String)> {
    let v = v.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A TLS version as a rank: 2 for TLS 1.2, 3 for TLS 1.3.
fn version(path: &Path, field: &str, v: &str) -> Result<u8, String> {
    match v {
        "TLS12" => Ok(2),
        "TLS13" => Ok(3),
        "TLS10" | "TLS11" => {
            Err(err(path, format!("tls_server_config.{field}: {v} is not supported (TLS12 or TLS13)")))
        }
        _ => Err(err(path, format!("tls_server_config.{field}: {v:?} is not TLS12 or TLS13"))),
    }
}

fn tls_config(path: &Path, base: &Path, t: TlsFile) -> Result<rustls::ServerConfig, String> {
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Err(err(path, "tls_server_config needs cert_file and key_file"));
    };
    let (cert, key) = (base.join(cert), base.join(key));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(path, format!("cert_file {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(err(path, format!("cert_file {}: no certificate", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| err(path, format!("key_file {}: {e}", key.display())))?;

    let min = version(path, "min_version", t.min_version.as_deref().unwrap_or("TLS12"))?;
    let max = version(path, "max_version", t.max_version.as_deref().unwrap_or("TLS13"))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(rank, _)| (min..=max).contains(rank))
            .map(|(_, v)| v)
            .collect();
    if versions.is_empty() {
        return Err(err(path, "tls_server_config: min_version is above max_version"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err(path, e))?;

    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca) = &t.client_ca_file else {
                return Err(err(path, format!("client_auth_type {auth} needs client_ca_file")));
            };
            let ca = base.join(ca);
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(&ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| err(path, format!("client_ca_file {}: {e}", ca.display())))?;
            for c in cas {
                roots.add(c).map_err(|e| err(path, format!("client_ca_file {}: {e}", ca.display())))?;
            }
            if roots.is_empty() {
                return Err(err(path, format!("client_ca_file {}: no certificate", ca.display())));
            }
            let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if auth == "VerifyClientCertIfGiven" {
                verifier = verifier.allow_unauthenticated();
            }
            builder.with_client_cert_verifier(verifier.build().map_err(|e| err(path, e))?)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(err(
                path,
                format!(
                    "client_auth_type {auth} accepts unverified certificates and is not supported: use RequireAndVerifyClientCert"
                ),
            ));
        }
        other => return Err(err(path, format!("client_auth_type {other:?} is not a known value"))),
    };
    let mut config =
        builder.with_single_cert(certs, key).map_err(|e| err(path, format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// What identifies a version of the file (and the files it names) without reading them.
fn stamp(paths: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len())))
        .collect()
}

/// The web configuration as of now: re-read when the file (or a certificate or key it names) changes.
pub struct WebConfigWatcher {
    path: PathBuf,
    state: Mutex<Watched>,
}

struct Watched {
    stamp: Vec<Option<(SystemTime, u64)>>,
    /// The file plus the certificate, key and CA files it names (their changes apply too).
    watched: Vec<PathBuf>,
    current: Result<Arc<WebConfig>, String>,
}

fn named_files(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    let base = path.parent().unwrap_or(Path::new("."));
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(file) = serde_norway::from_str::<FileConfig>(&text)
        && let Some(t) = file.tls_server_config
    {
        out.extend([t.cert_file, t.key_file, t.client_ca_file].into_iter().flatten().map(|p| base.join(p)));
    }
    out
}

impl WebConfigWatcher {
    /// Loads the file; an invalid one is an error (at startup).
    pub fn new(path: &Path) -> Result<Self, String> {
        let config = WebConfig::load(path)?;
        let watched = named_files(path);
        Ok(Self {
            path: path.to_path_buf(),
            state: Mutex::new(Watched { stamp: stamp(&watched), watched, current: Ok(Arc::new(config)) }),
        })
    }

    /// The configuration for a new connection; `Err` while the file is invalid (fail closed).
    pub fn current(&self) -> Result<Arc<WebConfig>, String> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(&s.watched);
        if now != s.stamp {
            s.watched = named_files(&self.path);
            s.stamp = stamp(&s.watched);
            s.current = WebConfig::load(&self.path).map(Arc::new);
            match &s.current {
                Ok(c) => tracing::info!(file = %self.path.display(), config = ?c, "web config reloaded"),
                Err(e) => tracing::error!(error = %e, "web config is invalid; refusing connections until it is fixed"),
            }
        }
        s.current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn basic_auth_with_bcrypt_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let p = write(dir.path(), "web.yml", &format!("basic_auth_users:\n  prom: {hash}\n"));
        let c = WebConfig::load(&p).unwrap();
        let basic = |s: &str| {
            HeaderValue::from_str(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s))).unwrap()
        };
        assert!(c.requires_auth());
        assert!(c.authorized(Some(&basic("prom:s3cret"))));
        assert!(c.authorized(Some(&basic("prom:s3cret"))), "cached");
        assert!(!c.authorized(Some(&basic("prom:wrong"))));
        assert!(!c.authorized(Some(&basic("nobody:s3cret"))));
        assert!(!c.authorized(Some(&HeaderValue::from_static("Bearer abc"))));
        assert!(!c.authorized(Some(&HeaderValue::from_static("Basic !!!"))));
        assert!(!c.authorized(None));
        assert!(!format!("{c:?}").contains(&hash), "no hash in debug output");
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        for (text, want) in [
            ("basic_auth_users:\n  prom: plain\n", "is not a bcrypt hash"),
            ("tls_server_config:\n  cert_file: a.crt\n", "needs cert_file and key_file"),
            ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n", "cert_file"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n",
                "unknown field `cipher_suites`",
            ),
            ("http_server_config:\n  headers:\n    Content-Type: x\n", "set by the exporter"),
            ("basic_auth: {}\n", "unknown field `basic_auth`"),
            ("tls_server_config: [\n", "web config"),
        ] {
            let p = write(dir.path(), "web.yml", text);
            let e = WebConfig::load(&p).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.starts_with(&format!("web config {}", p.display())), "{e}");
        }
        assert!(WebConfig::load(&dir.path().join("missing.yml")).is_err());
        let empty = write(dir.path(), "empty.yml", "");
        assert!(!WebConfig::load(&empty).unwrap().requires_auth());
    }
}
