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
//! user) applies to the next connection without a restart. The reload runs on the blocking pool (it reads
//! files and parses keys), never in the accept loop, and checks bcrypt hashes' form without paying their
//! cost. A running daemon never weakens its config: a reload that would drop TLS, lower `min_version`, weaken
//! the client-certificate check (`RequireAndVerifyClientCert` > `VerifyClientCertIfGiven` >
//! `NoClientCert`) or remove every basic-auth user (an emptied file included) is refused: logged, counted in
//! `kiro_exporter_web_config_reloads_total{result="refused"}`, and the previous config kept; only a restart
//! applies it. A file that became invalid fails closed: new connections are refused until it is fixed
//! (logged once per change, counted as `result="invalid"`). At startup an invalid file is a configuration
//! error. Settings of the toolkit that this exporter does not implement are refused by name rather than
//! ignored.
//!
//! Password checks: a verified (user, password) pair is cached, so a scrape every few seconds does not pay
//! bcrypt each time; at most one bcrypt check runs at a time per user (as in the toolkit), so clients
//! sending distinct wrong passwords take turns instead of keeping every core busy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use base64::Engine;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::exposition::{Families, Family, Kind};

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

/// The client-certificate check, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientAuth {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// The TLS side of a config, as far as the never-weaken rule looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TlsStrength {
    /// 2 for TLS 1.2, 3 for TLS 1.3.
    min_version: u8,
    client_auth: ClientAuth,
}

/// A loaded, validated web configuration.
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    tls_strength: Option<TlsStrength>,
    /// User -> bcrypt hash.
    users: BTreeMap<String, String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Verified pairs and the per-user turns, shared with the configs that replace this one (keys include
    /// the hash, so a changed or removed user's entries no longer match).
    checks: Arc<PasswordChecks>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hashes.
        f.debug_struct("WebConfig")
            .field("tls", &self.tls_strength)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers.len())
            .finish()
    }
}

mod auth;
mod tls;
mod watcher;

use auth::{DUMMY_HASH, PasswordChecks, valid_bcrypt};
use tls::{read_pem_file, tls_config};
pub use watcher::WebConfigWatcher;

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
        Self::parse(path, &text)
    }

    /// Validates the text of the file at `path` (certificates and keys are read relative to it).
    pub fn parse(path: &Path, text: &str) -> Result<Self, String> {
        Self::parse_with(path, text, &read_pem_file)
    }

    /// [`WebConfig::parse`] with the certificate, key and CA files read by `read` (the fuzz target hands
    /// in bytes of its own).
    pub fn parse_with(
        path: &Path,
        text: &str,
        read: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<Self, String> {
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_norway::from_str(text).map_err(|e| err(path, e))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let (tls, tls_strength) = match file.tls_server_config {
            Some(t) => {
                let (config, strength) = tls_config(path, base, t, read)?;
                (Some(Arc::new(config)), Some(strength))
            }
            None => (None, None),
        };
        let mut users = BTreeMap::new();
        for (user, hash) in file.basic_auth_users.unwrap_or_default() {
            if user.is_empty() || user.contains(':') {
                return Err(err(path, format!("basic_auth_users: user name {user:?} is empty or has a ':'")));
            }
            let hash = hash.trim().to_owned();
            // Validate the hash's shape now, not at the first scrape (and without paying its cost).
            if !valid_bcrypt(&hash) {
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
        Ok(Self { tls, tls_strength, users, headers, checks: Arc::default() })
    }

    /// Whether requests need a user and password.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Why serving `next` instead of this config would weaken it, if it would: no TLS where there was,
    /// a lower minimum TLS version, a weaker client-certificate check, or no user where there were some.
    pub fn weakened_by(&self, next: &WebConfig) -> Option<String> {
        if let Some(now) = self.tls_strength {
            let Some(then) = next.tls_strength else {
                return Some("it has no tls_server_config: the port would serve plain HTTP".into());
            };
            if then.min_version < now.min_version {
                return Some(format!(
                    "it lowers tls_server_config.min_version from TLS1{} to TLS1{}",
                    now.min_version, then.min_version
                ));
            }
            if then.client_auth < now.client_auth {
                return Some(format!(
                    "it weakens tls_server_config.client_auth_type from {:?} to {:?}",
                    now.client_auth, then.client_auth
                ));
            }
        }
        if self.requires_auth() && !next.requires_auth() {
            return Some("it has no basic_auth_users: requests would need no password".into());
        }
        None
    }

    /// Checks an `Authorization` header. bcrypt (slow by design) the first time a pair is seen, on the
    /// blocking pool, one check at a time per user; then from the cache.
    pub async fn authorize(&self, authorization: Option<&HeaderValue>) -> bool {
        if !self.requires_auth() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(parse_basic) else { return false };
        let known = self.users.contains_key(&user);
        let hash = self.users.get(&user).map_or(DUMMY_HASH, String::as_str).to_owned();
        let mut h = Sha256::new();
        for part in [user.as_bytes(), password.as_bytes(), hash.as_bytes()] {
            h.update(part);
            h.update([0u8]);
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(ok) = self.checks.cached(&key) {
            return ok && known;
        }
        let turn = self.checks.turn(&hash);
        let _turn = turn.lock().await;
        // Whoever held the turn may have checked the same pair.
        if let Some(ok) = self.checks.cached(&key) {
            return ok && known;
        }
        let checks = self.checks.clone();
        let ok = tokio::task::spawn_blocking(move || checks.verify(&password, &hash)).await.unwrap_or(false);
        self.checks.remember(key, ok);
        ok && known
    }

    /// The most bcrypt checks seen running at once.
    #[cfg(test)]
    fn most_concurrent_checks(&self) -> usize {
        self.checks.most_running.load(Ordering::SeqCst)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn basic(s: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s))).unwrap()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    #[test]
    fn basic_auth_with_bcrypt_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let p = write(dir.path(), "web.yml", &format!("basic_auth_users:\n  prom: {hash}\n"));
        let c = WebConfig::load(&p).unwrap();
        assert!(c.requires_auth());
        runtime().block_on(async {
            assert!(c.authorize(Some(&basic("prom:s3cret"))).await);
            assert!(c.authorize(Some(&basic("prom:s3cret"))).await, "cached");
            assert!(!c.authorize(Some(&basic("prom:wrong"))).await);
            assert!(!c.authorize(Some(&basic("prom:wrong"))).await, "cached");
            assert!(!c.authorize(Some(&basic("nobody:s3cret"))).await);
            assert!(!c.authorize(Some(&HeaderValue::from_static("Bearer abc"))).await);
            assert!(!c.authorize(Some(&HeaderValue::from_static("Basic !!!"))).await);
            assert!(!c.authorize(None).await);
        });
        assert!(!format!("{c:?}").contains(&hash), "no hash in debug output");
    }

    #[test]
    fn one_bcrypt_check_at_a_time_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 6).unwrap();
        let p = write(dir.path(), "web.yml", &format!("basic_auth_users:\n  prom: {hash}\n"));
        let c = Arc::new(WebConfig::load(&p).unwrap());
        // 16 clients, each with its own wrong password (nothing cached helps).
        let rt = runtime();
        let all: Vec<bool> = rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|n| {
                    let c = c.clone();
                    tokio::spawn(async move { c.authorize(Some(&basic(&format!("prom:wrong{n}")))).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        assert!(all.iter().all(|ok| !ok));
        assert_eq!(c.most_concurrent_checks(), 1, "bcrypt checks of one user ran in parallel");
    }

    #[test]
    fn hashes_are_validated_without_paying_their_cost() {
        let dir = tempfile::tempdir().unwrap();
        let cheap = bcrypt::hash("x", 4).unwrap();
        // Cost 20 would take over a minute to check; validating its form is instant.
        let costly = cheap.replacen("$04$", "$20$", 1);
        let p = write(dir.path(), "web.yml", &format!("basic_auth_users:\n  a: {costly}\n  b: {costly}\n"));
        let started = std::time::Instant::now();
        assert!(WebConfig::load(&p).is_ok());
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
        for bad in [
            cheap.replacen("$04$", "$03$", 1),
            cheap.replacen("$04$", "$32$", 1),
            cheap.replacen("$2b$", "$3b$", 1),
            format!("{}!", &cheap[..cheap.len() - 1]),
            cheap[..cheap.len() - 1].to_owned(),
            format!("$2b$04${}", "!".repeat(53)),
        ] {
            let p = write(dir.path(), "web.yml", &format!("basic_auth_users:\n  a: '{bad}'\n"));
            assert!(WebConfig::load(&p).unwrap_err().contains("not a bcrypt hash"), "{bad}");
        }
    }

    #[test]
    fn a_reload_never_weakens_basic_auth() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let p = write(dir.path(), "web.yml", &format!("basic_auth_users:\n  prom: {hash}\n"));
        let w = WebConfigWatcher::new(&p).unwrap();
        let rt = runtime();
        let counts = |w: &WebConfigWatcher| -> Vec<f64> {
            w.families(SystemTime::now())[0].samples.iter().map(|s| s.value).collect()
        };
        assert_eq!(counts(&w), [0.0, 0.0, 0.0]);
        rt.block_on(async {
            for emptied in ["", "basic_auth_users: {}\n", "http_server_config: {}\n"] {
                std::thread::sleep(std::time::Duration::from_millis(10));
                std::fs::write(&p, emptied).unwrap();
                let c = w.current().await.unwrap();
                assert!(c.requires_auth(), "{emptied:?}");
                assert!(c.authorize(Some(&basic("prom:s3cret"))).await);
                // Asked again: the refusal is not repeated for the same file.
                assert!(w.current().await.unwrap().requires_auth());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            std::fs::write(&p, "basic_auth_users: [").unwrap();
            assert!(w.current().await.is_err(), "an invalid file fails closed");
            let other = bcrypt::hash("other", 4).unwrap();
            std::fs::write(&p, format!("basic_auth_users:\n  graf: {other}\n")).unwrap();
            let c = w.current().await.unwrap();
            assert!(c.authorize(Some(&basic("graf:other"))).await);
            assert!(!c.authorize(Some(&basic("prom:s3cret"))).await, "the replaced user is gone");
        });
        assert_eq!(counts(&w), [1.0, 3.0, 1.0], "success, refused, invalid");
        let f = &w.families(SystemTime::now())[0];
        assert_eq!(f.name, "kiro_exporter_web_config_reloads");
        assert_eq!(f.samples[1].labels[0].1, "refused");
    }

    #[test]
    fn what_counts_as_weaker() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&key).unwrap();
        write(dir.path(), "s.crt", &cert.pem());
        write(dir.path(), "s.key", &key.serialize_pem());
        write(dir.path(), "ca.crt", &cert.pem());
        let hash = bcrypt::hash("x", 4).unwrap();
        let tls = |extra: &str| format!("tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n{extra}");
        let users = format!("basic_auth_users:\n  a: {hash}\n");
        let given = "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n";
        let required = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n";
        let load = |text: &str| WebConfig::parse(&dir.path().join("web.yml"), text).unwrap();
        for (from, to, weaker) in [
            ("".to_owned(), "".to_owned(), None),
            ("".to_owned(), users.clone(), None),
            ("".to_owned(), tls(""), None),
            (tls(""), "".to_owned(), Some("plain HTTP")),
            (tls(""), users.clone(), Some("plain HTTP")),
            (tls(""), tls(given), None),
            (tls(given), tls(required), None),
            (tls(required), tls(given), Some("client_auth_type")),
            (tls(required), tls(""), Some("client_auth_type")),
            (tls(given), tls("  client_auth_type: NoClientCert\n"), Some("client_auth_type")),
            (tls("  min_version: TLS13\n"), tls(""), Some("min_version")),
            (tls(""), tls("  min_version: TLS13\n"), None),
            (tls("  max_version: TLS12\n"), tls(""), None),
            (users.clone(), "".to_owned(), Some("basic_auth_users")),
            (users.clone(), "basic_auth_users: {}\n".to_owned(), Some("basic_auth_users")),
            (users.clone(), format!("basic_auth_users:\n  b: {hash}\n"), None),
            (format!("{}{users}", tls(required)), tls(required), Some("basic_auth_users")),
        ] {
            let got = load(&from).weakened_by(&load(&to));
            match weaker {
                None => assert!(got.is_none(), "{from:?} -> {to:?}: {got:?}"),
                Some(want) => assert!(got.as_ref().is_some_and(|g| g.contains(want)), "{from:?} -> {to:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        for (text, want) in [
            ("basic_auth_users:\n  prom: plain\n", "is not a bcrypt hash"),
            ("tls_server_config:\n  cert_file: a.crt\n", "needs cert_file and key_file"),
            ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n", "cert_file"),
            ("tls_server_config:\n  cert_file: /dev/zero\n  key_file: /dev/zero\n", "larger than 1048576 bytes"),
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
