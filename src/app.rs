//! Wiring: the only module that knows the concrete source types.
//!
//! [`App::new`] validates the source and binds the listener; [`App::run`] runs the refresh loop and the
//! HTTP server until the cancellation token fires; [`once`] refreshes once and returns the exposition.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SourceConfig};
use crate::http::{self, HttpState};
use crate::metrics::exposition::Format;
use crate::metrics::{RefreshResult, SelfMetrics, render};
use crate::refresh::{RefreshError, Refresher, error_chain};
use crate::snapshot::Snapshot;
use crate::sources::embedded::EmbeddedSource;
use crate::sources::{CurSource, store};

/// Opens the configured billing data source.
pub async fn open_source(config: &Config) -> anyhow::Result<Arc<dyn CurSource>> {
    match &config.source {
        SourceConfig::Embedded { location } => {
            let root = store::open(location, &config.s3)
                .await
                .with_context(|| format!("opening the export at {}", location.display()))?;
            Ok(Arc::new(EmbeddedSource::new(root)?))
        }
    }
}

fn refresher(config: &Config, source: Arc<dyn CurSource>, metrics: Arc<SelfMetrics>) -> Refresher {
    Refresher::new(source, config.users_file.clone(), config.plans.clone(), config.idle, config.billing_period, metrics)
}

/// Runs one refresh under the configured timeout and records it in the self-metrics.
async fn refresh_once(
    config: &Config,
    refresher: &Refresher,
    metrics: &SelfMetrics,
) -> Result<Arc<Snapshot>, RefreshError> {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(config.refresh_timeout, refresher.refresh(chrono::Utc::now())).await {
        Ok(r) => r,
        Err(_) => Err(RefreshError::Timeout(config.refresh_timeout)),
    };
    match outcome {
        Ok((snapshot, result)) => {
            metrics.observe_refresh(result, started.elapsed(), SystemTime::now());
            Ok(snapshot)
        }
        Err(e) => {
            metrics.observe_error(e.source_label(), e.kind());
            metrics.observe_refresh(RefreshResult::Failure, started.elapsed(), SystemTime::now());
            Err(e)
        }
    }
}

/// `--once`: one refresh, the exposition text (classic format) on success.
pub async fn once(config: &Config) -> anyhow::Result<String> {
    let metrics = Arc::new(SelfMetrics::new());
    let source = open_source(config).await?;
    let refresher = refresher(config, source, metrics.clone());
    let snapshot = refresh_once(config, &refresher, &metrics)
        .await
        .map_err(|e| anyhow::anyhow!("refresh failed: {}", error_chain(&e)))?;
    Ok(render(Some(&snapshot), &metrics, Format::Text, SystemTime::now()))
}

/// The daemon: a bound listener and a refresher.
pub struct App {
    config: Config,
    listener: TcpListener,
    refresher: Refresher,
    metrics: Arc<SelfMetrics>,
}

impl App {
    /// Opens the source and binds the listen address.
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let metrics = Arc::new(SelfMetrics::new());
        let source = open_source(&config).await?;
        let listener = TcpListener::bind(config.listen_address)
            .await
            .with_context(|| format!("listening on {}", config.listen_address))?;
        let refresher = refresher(&config, source, metrics.clone());
        Ok(Self { config, listener, refresher, metrics })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves and refreshes until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (tx, rx) = watch::channel(None);
        let state = Arc::new(HttpState {
            snapshot: rx,
            metrics: self.metrics.clone(),
            telemetry_path: self.config.telemetry_path.clone(),
        });
        let addr = self.listener.local_addr()?;
        tracing::info!(address = %addr, path = %self.config.telemetry_path, "listening");
        let server = tokio::spawn(http::serve(self.listener, state, shutdown.clone()));

        let mut interval = tokio::time::interval(self.config.refresh_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = interval.tick() => {}
            }
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = refresh_once(&self.config, &self.refresher, &self.metrics) => r,
            };
            match outcome {
                Ok(snapshot) => {
                    tracing::info!(
                        billing_period = ?snapshot.period.map(|p| p.to_string()),
                        licences = snapshot.kiro.licences.len(),
                        "refresh succeeded"
                    );
                    tx.send_replace(Some(snapshot));
                }
                Err(e) => {
                    let served =
                        if tx.borrow().is_some() { "serving the last good data" } else { "nothing to serve yet" };
                    tracing::error!(source = e.source_label(), kind = e.kind(), error = %error_chain(&e), "refresh failed; {served}");
                }
            }
        }
        server.await.context("HTTP server task")?;
        tracing::info!("stopped");
        Ok(())
    }
}
