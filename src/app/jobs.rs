//! The jobs the daemon runs and the loops that run them: one refresh of the bill, one directory read, one
//! kiro-cli run, each under its timeout and where a panic is caught, and the periodic runner they share.

use super::*;

/// Reads the identity directory once; a failure is counted and logged, never fatal.
pub(super) async fn identity_once(
    identity: &IdentityMonitor,
    metrics: &SelfMetrics,
    timeout: std::time::Duration,
) -> bool {
    let outcome = match tokio::time::timeout(timeout, unwinding(identity.refresh())).await {
        Ok(Ok(r)) => r.map_err(|e| (e.kind(), error_chain(&e))),
        Ok(Err(panic)) => Err(("panic", format!("the directory read panicked: {panic}"))),
        Err(_) => Err(("identity_timeout", format!("no answer within {}", humantime::format_duration(timeout)))),
    };
    match outcome {
        Ok(users) => {
            tracing::info!(users, "identity directory refreshed");
            true
        }
        Err((kind, error)) => {
            metrics.observe_error("identity", kind);
            let kept = if identity.current().is_some() { "keeping the last known names" } else { "showing user ids" };
            tracing::warn!(kind, %error, "identity directory refresh failed; {kept}");
            false
        }
    }
}

/// The message of a caught panic.
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Runs `job`, turning a panic inside it into `Err` with its message: one lying input must not take the
/// daemon down (the panic is also printed by the default hook, with its location).
pub(super) async fn unwinding<T>(job: impl std::future::Future<Output = T>) -> Result<T, String> {
    use futures::FutureExt as _;
    std::panic::AssertUnwindSafe(job).catch_unwind().await.map_err(|p| panic_message(p.as_ref()))
}

/// Runs one refresh under the configured timeout and records it in the self-metrics.
pub(super) async fn refresh_once(
    config: &Config,
    refresher: &Refresher,
    metrics: &SelfMetrics,
) -> Result<Arc<Exposition>, RefreshError> {
    let started = Instant::now();
    let refresh = unwinding(refresher.refresh(chrono::Utc::now()));
    let outcome = match tokio::time::timeout(config.refresh_timeout, refresh).await {
        Ok(Ok(r)) => r,
        Ok(Err(panic)) => Err(RefreshError::Panic(panic)),
        Err(_) => {
            // The abandoned refresh may have left a query running (and billing) in Athena.
            refresher.cancel_running().await;
            Err(RefreshError::Timeout(config.refresh_timeout))
        }
    };
    match outcome {
        Ok((published, result)) => {
            metrics.observe_refresh(result, started.elapsed(), SystemTime::now());
            Ok(published)
        }
        Err(e) => {
            metrics.observe_error(e.source_label(), e.kind());
            metrics.observe_refresh(RefreshResult::Failure, started.elapsed(), SystemTime::now());
            Err(e)
        }
    }
}

/// Runs kiro-cli once and records the outcome; returns whether it worked.
pub(super) async fn cli_once(
    cli: &KiroCliConfig,
    monitor: &CliMonitor,
    metrics: &SelfMetrics,
) -> Result<(), kiro_cli::CliError> {
    let outcome = unwinding(kiro_cli::run(&cli.path, cli.timeout, chrono::Utc::now()))
        .await
        .unwrap_or_else(|panic| Err(kiro_cli::CliError::Panic(panic)));
    monitor.record(&outcome, SystemTime::now());
    match outcome {
        Ok(_) => Ok(()),
        Err(e) => {
            metrics.observe_error("kiro_cli", e.kind());
            Err(e)
        }
    }
}

/// Refreshes on the interval, and at once when the directory changed; publishes each new snapshot.
pub(super) async fn refresh_loop(
    config: &Config,
    refresher: &Refresher,
    metrics: &SelfMetrics,
    tx: &watch::Sender<Option<Arc<Exposition>>>,
    ready: &ReadyLatch,
    names_changed: &tokio::sync::Notify,
    shutdown: &CancellationToken,
) {
    let interval = tokio::time::interval(config.refresh_interval);
    periodically(interval, Some(names_changed), shutdown.clone(), || async {
        match refresh_once(config, refresher, metrics).await {
            Ok(published) => {
                let periods: Vec<String> =
                    published.snapshot.periods.iter().filter_map(|s| s.period).map(|p| p.to_string()).collect();
                tracing::info!(
                    billing_periods = %periods.join(","),
                    licences = published.snapshot.primary().map_or(0, |s| s.kiro.licences.len()),
                    "refresh succeeded"
                );
                // The previous snapshot goes with the replacement: give its pages back.
                drop(tx.send_replace(Some(published)));
                crate::memory::release_freed();
                ready.set();
            }
            Err(e) => {
                let served = if tx.borrow().is_some() { "serving the last good data" } else { "nothing to serve yet" };
                tracing::error!(source = e.source_label(), kind = e.kind(), error = %error_chain(&e), "refresh failed; {served}");
            }
        }
    })
    .await;
    // Shutdown during a refresh drops it: stop what it started remotely before the process exits.
    refresher.cancel_running().await;
}

/// Runs `job` at every tick of `interval` (and whenever `wake` is notified) until `shutdown`; a job in
/// progress is dropped on shutdown (which kills a kiro-cli child and stops an Athena query).
pub(super) async fn periodically<F, Fut>(
    mut interval: tokio::time::Interval,
    wake: Option<&tokio::sync::Notify>,
    shutdown: CancellationToken,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let woken = || async {
        match wake {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
            () = woken() => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            () = job() => {}
        }
    }
}

/// Re-reads the identity directory on its own interval and signals a snapshot rebuild after each success.
pub(super) async fn identity_loop(
    identity: Arc<IdentityMonitor>,
    metrics: Arc<SelfMetrics>,
    every: std::time::Duration,
    timeout: std::time::Duration,
    names_changed: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    periodically(tokio::time::interval(every), None, shutdown, || async {
        if identity_once(&identity, &metrics, timeout).await {
            names_changed.notify_one();
        }
    })
    .await;
}

/// Runs kiro-cli on its own interval; `ready` (kiro-cli alone) is set after its first success.
pub(super) async fn cli_loop(
    cfg: KiroCliConfig,
    monitor: Arc<CliMonitor>,
    metrics: Arc<SelfMetrics>,
    ready: Option<Arc<ReadyLatch>>,
    shutdown: CancellationToken,
) {
    periodically(tokio::time::interval(cfg.interval), None, shutdown, || async {
        match cli_once(&cfg, &monitor, &metrics).await {
            Ok(()) => ready.iter().for_each(|r| r.set()),
            Err(e) => {
                tracing::warn!(kind = e.kind(), error = %e, "kiro-cli /usage failed; keeping the last good values")
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_job_is_an_error_with_its_message() {
        assert_eq!(unwinding(async { 7 }).await, Ok(7));
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {})); // keep the test output quiet
        let caught = unwinding(async { panic!("range start must not be greater than end") }).await;
        let owned = unwinding(async { panic!("{} of {}", 3, 4) }).await;
        std::panic::set_hook(hook);
        assert_eq!(caught, Err::<(), _>("range start must not be greater than end".to_owned()));
        assert_eq!(owned, Err::<(), _>("3 of 4".to_owned()));
        let e = RefreshError::Panic("boom".into());
        assert_eq!(
            (e.source_label(), e.kind(), e.to_string().as_str()),
            ("refresh", "panic", "the refresh panicked: boom")
        );
    }
}
