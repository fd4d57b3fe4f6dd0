//! Wiring: the only module that knows the concrete source types.
//!
//! [`App::new`] opens the sources and binds the listener; [`App::run`] runs the CUR refresh loop, the
//! kiro-cli loop and the HTTP server until the cancellation token fires; [`once`] refreshes once and returns
//! the exposition. The AWS SDK configuration is loaded once ([`aws`]); the jobs and their loops are in
//! [`jobs`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, KiroCliConfig, SourceConfig};
use crate::error::chain as error_chain;
use crate::exposition::{Families, Format};
use crate::http::web_config::WebConfigWatcher;
use crate::http::{self, HttpState, ReadyLatch};
use crate::identity::identity_center::IdentityCenter;
use crate::identity::{DirectorySource, IdentityError, IdentityMonitor, UsersFile};
use crate::metrics::{Exposition, ProcessMetrics, RefreshResult, SelfMetrics, render};
use crate::refresh::{RefreshError, Refresher};
use crate::sources::activity::{ActivityError, ActivitySource};
use crate::sources::athena::AthenaSource;
use crate::sources::embedded::EmbeddedSource;
use crate::sources::kiro_cli::{self, CliMonitor};
use crate::sources::{ActivityReports, CurSource};

/// How long the first cost refresh waits for the first directory read, so the first snapshot has names;
/// a slower or failing directory is not waited for (names appear when it answers).
const FIRST_IDENTITY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

mod aws;
mod jobs;

use aws::Aws;
use jobs::{cli_loop, cli_once, identity_loop, identity_once, refresh_loop, refresh_once};

/// A billing data source and the live metrics it reports, if any.
pub struct OpenedSource {
    pub source: Arc<dyn CurSource>,
    pub metrics: Option<Arc<dyn Families>>,
}

/// Opens the configured billing data source.
async fn open_source(config: &Config, source: &SourceConfig, aws: &Aws) -> anyhow::Result<OpenedSource> {
    match source {
        SourceConfig::Embedded { location } => {
            let root = aws.open(location, config, "the export").await?;
            Ok(OpenedSource { source: Arc::new(EmbeddedSource::new(root, config.memory_limit)?), metrics: None })
        }
        SourceConfig::Athena { table, export } => {
            let export = match export {
                Some(location) => Some(aws.open(location, config, "the export").await?),
                None => None,
            };
            let athena = Arc::new(AthenaSource::new(aws.config().await, config.s3.clone(), table.clone(), export));
            Ok(OpenedSource { source: athena.clone(), metrics: Some(athena) })
        }
    }
}

/// The refresher of a configuration (`None` when only kiro-cli is enabled) and its source's metrics.
pub async fn refresher(
    config: &Config,
    identity: &Arc<IdentityMonitor>,
    metrics: &Arc<SelfMetrics>,
) -> anyhow::Result<Option<(Refresher, Option<Arc<dyn Families>>)>> {
    refresher_with(config, identity, metrics, &Aws::new(config)).await
}

async fn refresher_with(
    config: &Config,
    identity: &Arc<IdentityMonitor>,
    metrics: &Arc<SelfMetrics>,
    aws: &Aws,
) -> anyhow::Result<Option<(Refresher, Option<Arc<dyn Families>>)>> {
    let Some(source_config) = &config.source else { return Ok(None) };
    let opened = open_source(config, source_config, aws).await?;
    let activity: Option<Arc<dyn ActivityReports>> = match &config.activity_report {
        Some(location) => Some(Arc::new(ActivitySource::new(aws.open(location, config, "the activity report").await?))),
        None => None,
    };
    Ok(Some((Refresher::new(opened.source, activity, identity.clone(), config, metrics.clone()), opened.metrics)))
}

/// The identity directories: Identity Center first, then the users file (which overrides it).
async fn identity_monitor(config: &Config, aws: &Aws) -> Arc<IdentityMonitor> {
    let mut sources: Vec<Box<dyn DirectorySource>> = Vec::new();
    if let Some(store_id) = &config.identity.identity_center {
        let sdk = aws.in_region(config.identity.region.as_ref()).await;
        sources.push(Box::new(IdentityCenter::new(&sdk, store_id.clone(), config.identity.rules.team_pattern.clone())));
    }
    if let Some(path) = &config.identity.users_file {
        sources.push(Box::new(UsersFile(path.clone())));
    }
    Arc::new(IdentityMonitor::new(sources))
}

/// The self-metrics, with the error counters of every configured source at 0.
fn self_metrics(config: &Config) -> Arc<SelfMetrics> {
    let metrics = Arc::new(SelfMetrics::new());
    if config.source.is_some() {
        metrics.expect_errors(RefreshError::kinds());
    }
    if config.identity.identity_center.is_some() || config.identity.users_file.is_some() {
        let kinds = IdentityError::KINDS.iter().chain(&["identity_timeout", "panic"]);
        metrics.expect_errors(kinds.map(|k| ("identity", *k)));
    }
    if config.activity_report.is_some() {
        metrics.expect_errors(ActivityError::KINDS.iter().map(|k| ("activity_report", *k)));
    }
    if config.kiro_cli.is_some() {
        metrics.expect_errors(kiro_cli::CliError::KINDS.iter().map(|k| ("kiro_cli", *k)));
    }
    metrics
}

/// `--once`: one refresh of every configured source; the exposition text (classic format) on success.
pub async fn once(config: &Config) -> anyhow::Result<String> {
    let metrics = self_metrics(config);
    let monitor = Arc::new(CliMonitor::default());
    let aws = Aws::new(config);
    let identity = identity_monitor(config, &aws).await;
    if identity.is_configured() && config.source.is_some() {
        identity_once(&identity, &metrics, config.refresh_timeout).await;
    }
    let (published, source_metrics) = match refresher_with(config, &identity, &metrics, &aws).await? {
        Some((r, m)) => (
            Some(
                refresh_once(config, &r, &metrics)
                    .await
                    .map_err(|e| anyhow::anyhow!("refresh failed: {}", error_chain(&e)))?,
            ),
            m,
        ),
        None => (None, None),
    };
    let mut live: Vec<&dyn Families> = vec![metrics.as_ref(), &ProcessMetrics, identity.as_ref()];
    if let Some(m) = &source_metrics {
        live.push(m.as_ref());
    }
    if let Some(cli) = &config.kiro_cli {
        if let Err(e) = cli_once(cli, &monitor, &metrics).await {
            // Alone, kiro-cli is the job; beside the bill it is reported through kiro_cli_up.
            if published.is_none() {
                anyhow::bail!("kiro-cli: {e}");
            }
            tracing::warn!(kind = e.kind(), error = %e, "kiro-cli /usage failed");
        }
        live.push(monitor.as_ref());
    }
    Ok(render(published.as_deref(), &live, Format::Text, SystemTime::now()))
}

/// The daemon: a bound listener and its sources.
pub struct App {
    config: Config,
    listener: TcpListener,
    refresher: Option<Refresher>,
    metrics: Arc<SelfMetrics>,
    source_metrics: Option<Arc<dyn Families>>,
    identity: Arc<IdentityMonitor>,
    cli: Option<Arc<CliMonitor>>,
}

impl App {
    /// Opens the sources and binds the listen address.
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let metrics = self_metrics(&config);
        let aws = Aws::new(&config);
        let identity = identity_monitor(&config, &aws).await;
        let (refresher, source_metrics) = match refresher_with(&config, &identity, &metrics, &aws).await? {
            Some((r, m)) => (Some(r), m),
            None => (None, None),
        };
        let listener = TcpListener::bind(config.listen_address)
            .await
            .with_context(|| format!("listening on {}", config.listen_address))?;
        let cli = config.kiro_cli.as_ref().map(|_| Arc::new(CliMonitor::default()));
        Ok(Self { config, listener, refresher, metrics, source_metrics, identity, cli })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves and refreshes until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (tx, rx) = watch::channel(None);
        let mut live: Vec<Arc<dyn Families>> =
            vec![self.metrics.clone(), Arc::new(ProcessMetrics), self.identity.clone()];
        if let Some(m) = &self.source_metrics {
            live.push(m.clone());
        }
        if let Some(m) = &self.cli {
            live.push(m.clone());
        }
        let web = match &self.config.web_config_file {
            Some(path) => Some(Arc::new(WebConfigWatcher::new(path).map_err(anyhow::Error::msg)?)),
            None => None,
        };
        if let Some(w) = &web {
            live.push(w.clone());
        }
        // Ready after the first published snapshot; with kiro-cli alone, after its first success.
        let ready = Arc::new(ReadyLatch::default());
        let tls = web.as_ref().is_some_and(|w| w.serves_tls());
        let state = Arc::new(HttpState {
            published: rx,
            live,
            ready: ready.clone(),
            telemetry_path: self.config.telemetry_path.clone(),
            web,
            health_without_auth: self.config.health_without_auth,
            max_connections: self.config.max_connections,
        });
        let addr = self.listener.local_addr()?;
        tracing::info!(address = %addr, path = %self.config.telemetry_path, tls, "listening");
        let server = tokio::spawn(http::serve(self.listener, state, shutdown.clone()));
        let cli_task = match (&self.config.kiro_cli, &self.cli) {
            (Some(cfg), Some(monitor)) => {
                let alone = self.refresher.is_none().then(|| ready.clone());
                Some(tokio::spawn(cli_loop(
                    cfg.clone(),
                    monitor.clone(),
                    self.metrics.clone(),
                    alone,
                    shutdown.clone(),
                )))
            }
            _ => None,
        };

        // A new directory rebuilds the snapshot at once (from the cached query: no new scan).
        let names_changed = Arc::new(tokio::sync::Notify::new());
        let identity_task = self.identity.is_configured().then(|| {
            tokio::spawn(identity_loop(
                self.identity.clone(),
                self.metrics.clone(),
                self.config.identity.refresh_interval,
                self.config.refresh_timeout,
                names_changed.clone(),
                shutdown.clone(),
            ))
        });
        // The first cost refresh waits briefly for the first directory read so it already has names; a slow
        // directory is not waited for (its success triggers a rebuild through `names_changed`).
        if self.identity.is_configured() {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = names_changed.notified() => {}
                _ = tokio::time::sleep(FIRST_IDENTITY_WAIT) => {}
            }
        }
        match &self.refresher {
            Some(refresher) => {
                refresh_loop(&self.config, refresher, &self.metrics, &tx, &ready, &names_changed, &shutdown).await
            }
            None => shutdown.cancelled().await,
        }
        // Await every task before reporting the first failure.
        let server = server.await.context("HTTP server task");
        let identity = match identity_task {
            Some(t) => t.await.context("identity task"),
            None => Ok(()),
        };
        let cli = match cli_task {
            Some(t) => t.await.context("kiro-cli task"),
            None => Ok(()),
        };
        server.and(identity).and(cli)?;
        tracing::info!("stopped");
        Ok(())
    }
}
