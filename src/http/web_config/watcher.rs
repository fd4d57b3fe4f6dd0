//! The web config as of now: looked at again per connection, reloaded off the accept loop when a file it
//! names changes, and never weakened while the daemon runs (see the module above).

use super::*;

/// What identifies a version of the file (and the files it names) without reading them.
pub(super) fn stamp(paths: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len())))
        .collect()
}

/// How a reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reload {
    /// Applied.
    Success,
    /// Valid but weaker than the config in force: not applied.
    Refused,
    /// Invalid: connections are refused until it is fixed.
    Invalid,
}

pub(super) const RELOAD_RESULTS: [(Reload, &str); 3] =
    [(Reload::Success, "success"), (Reload::Refused, "refused"), (Reload::Invalid, "invalid")];

/// The web configuration as of now: re-read when the file (or a certificate or key it names) changes.
pub struct WebConfigWatcher {
    path: PathBuf,
    /// An async lock: connections that arrive during a reload wait for it without holding a worker.
    state: tokio::sync::Mutex<Watched>,
    /// Whether the config loaded at startup serves TLS.
    started_with_tls: bool,
    /// Reloads by result, in the order of [`RELOAD_RESULTS`].
    reloads: [AtomicU64; 3],
}

struct Watched {
    stamp: Vec<Option<(SystemTime, u64)>>,
    /// The file plus the certificate, key and CA files it names (their changes apply too).
    watched: Vec<PathBuf>,
    /// The config in force: the startup one, or the last reload that did not weaken it.
    active: Arc<WebConfig>,
    /// Why the file is invalid, while it is (connections are refused).
    invalid: Option<String>,
}

pub(super) fn named_files(path: &Path) -> Vec<PathBuf> {
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
            started_with_tls: config.tls.is_some(),
            state: tokio::sync::Mutex::new(Watched {
                stamp: stamp(&watched),
                watched,
                active: Arc::new(config),
                invalid: None,
            }),
            reloads: Default::default(),
        })
    }

    /// Whether the config loaded at startup serves TLS (a running daemon never stops serving it).
    pub fn serves_tls(&self) -> bool {
        self.started_with_tls
    }

    /// The configuration for a new connection; `Err` while the file is invalid (fail closed). Looks at the
    /// files' modification times and sizes; when they changed, reloads on the blocking pool and applies the
    /// result unless it would weaken the config in force.
    pub async fn current(&self) -> Result<Arc<WebConfig>, String> {
        let mut s = self.state.lock().await;
        // A few stat calls: cheap enough for every connection (the toolkit reads the whole file).
        if stamp(&s.watched) != s.stamp {
            let path = self.path.clone();
            // The stamp before the read: a change during the read shows at the next connection.
            let loaded = tokio::task::spawn_blocking(move || {
                let watched = named_files(&path);
                let stamp = stamp(&watched);
                (watched, stamp, WebConfig::load(&path))
            })
            .await;
            let result = match loaded {
                Ok((watched, stamp, loaded)) => {
                    s.watched = watched;
                    s.stamp = stamp;
                    self.apply(&mut s, loaded)
                }
                Err(e) => self.apply(&mut s, Err(err(&self.path, format!("reload failed: {e}")))),
            };
            if let Some(n) = RELOAD_RESULTS.iter().position(|(r, _)| *r == result) {
                self.reloads[n].fetch_add(1, Ordering::Relaxed);
            }
        }
        match &s.invalid {
            Some(e) => Err(e.clone()),
            None => Ok(s.active.clone()),
        }
    }

    fn apply(&self, s: &mut Watched, loaded: Result<WebConfig, String>) -> Reload {
        let file = self.path.display();
        match loaded {
            Err(e) => {
                tracing::error!(error = %e, "web config is invalid; refusing connections until it is fixed");
                s.invalid = Some(e);
                Reload::Invalid
            }
            Ok(next) => {
                s.invalid = None;
                if let Some(why) = s.active.weakened_by(&next) {
                    tracing::error!(
                        file = %file,
                        reason = %why,
                        "web config reload refused: it would weaken the running config; keeping the previous one (a restart applies it)"
                    );
                    return Reload::Refused;
                }
                let next = WebConfig { checks: s.active.checks.clone(), ..next };
                next.checks.keep_turns_of(&next.users);
                tracing::info!(file = %file, config = ?next, "web config reloaded");
                s.active = Arc::new(next);
                Reload::Success
            }
        }
    }
}

impl Families for WebConfigWatcher {
    fn families(&self, _now: SystemTime) -> Vec<Family> {
        let mut f = Family::new(
            "kiro_exporter_web_config_reloads",
            Kind::Counter,
            "Reloads of --web.config.file by result: success (applied), refused (would drop TLS, weaken client-certificate checks or remove every basic-auth user: the previous config is kept until a restart), invalid (connections are refused until it is fixed).",
        );
        for (n, (_, label)) in RELOAD_RESULTS.iter().enumerate() {
            f.push(vec![("result", (*label).to_owned())], self.reloads[n].load(Ordering::Relaxed) as f64);
        }
        vec![f]
    }
}
