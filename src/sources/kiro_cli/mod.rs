//! Live personal usage from `kiro-cli chat --no-interactive "/usage"`.
//!
//! The bill arrives a day or two late; the CLI shows the logged-in user's plan right now. [`run`] runs the
//! command under a pseudo-terminal (current versions write the panel to stderr and may wait forever off a
//! terminal), with a timeout and a cap on its output, killing it on timeout and on drop; when it prints only
//! the plan (kiro-cli 2.20 and later) it asks once more with `--agent-engine=v1 --legacy-ui`. [`parse_usage`]
//! reads every layout seen so far: the early-2026 box, the `Estimated Usage | resets on YYYY-MM-DD | PLAN`
//! panel, the full-screen pane, bonus grants and overage lines, through ANSI colours and cursor codes.

mod parse;
mod run;

use chrono::{DateTime, Utc};
use std::time::Duration;

pub use parse::{parse_usage, strip_ansi};
pub use run::{ARGS, LEGACY_ARGS, MAX_OUTPUT, run};

/// What `/usage` said. Figures are as printed; what was not printed is `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CliUsage {
    /// Plan as printed, e.g. `KIRO FREE`, `KIRO PRO+`, `Q Developer Pro`; empty when none was printed.
    pub plan: String,
    /// Monthly credits used over the plan's (1.0 = 100%, above 1 in overage): `used / limit` when both are
    /// printed, else the printed percentage.
    pub used_ratio: Option<f64>,
    pub used: Option<f64>,
    pub limit: Option<f64>,
    /// Next reset, 00:00 UTC of the printed day.
    pub reset: Option<DateTime<Utc>>,
    /// Bonus credits used and granted, summed over the grants.
    pub bonus_used: Option<f64>,
    pub bonus_limit: Option<f64>,
    /// The soonest expiry among the grants.
    pub bonus_expiry: Option<DateTime<Utc>>,
    /// `Overages: Enabled` / `Overages: Disabled`.
    pub overage_enabled: Option<bool>,
    /// `Credits used: 40.29` (under `Overages: Enabled`) or `Overages (3.20 used)`.
    pub overage_credits_used: Option<f64>,
    /// `Est. cost: $1.61 USD`.
    pub overage_cost_usd: Option<f64>,
}

/// Why a `/usage` run gave no usage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    #[error("{path}: command not found")]
    NotFound { path: String },
    #[error("{path}: cannot run: {reason}")]
    Spawn { path: String, reason: String },
    #[error("kiro-cli is not logged in (run `kiro-cli login`)")]
    NotLoggedIn,
    #[error("kiro-cli did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("kiro-cli exited with {status}: {stderr}")]
    Exit { status: String, stderr: String },
    #[error("kiro-cli printed more than {0} bytes")]
    TooMuchOutput(usize),
    #[error("cannot read kiro-cli's /usage output: {0}")]
    Unparseable(String),
    /// The plan was printed, usage figures were not (`retry`: why the `--legacy-ui` run gave none either).
    #[error(
        "kiro-cli /usage printed the plan ({plan:?}) but no usage figures{}",
        retry.as_ref().map(|r| format!("; with --agent-engine=v1 --legacy-ui: {r}")).unwrap_or_default()
    )]
    NoFigures { plan: String, retry: Option<String> },
    /// Reading the output panicked (a bug); the daemon goes on.
    #[error("reading kiro-cli's output panicked: {0}")]
    Panic(String),
}

impl CliError {
    /// Every `kind` this error can have (`kiro_cli`), so its counters can start at 0.
    pub const KINDS: &'static [&'static str] = &[
        "not_found",
        "spawn",
        "not_logged_in",
        "timeout",
        "exit",
        "output_too_large",
        "unparseable",
        "no_figures",
        "panic",
    ];

    /// `kind` label of `kiro_exporter_refresh_errors_total{source="kiro_cli"}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Spawn { .. } => "spawn",
            Self::NotLoggedIn => "not_logged_in",
            Self::Timeout(_) => "timeout",
            Self::Exit { .. } => "exit",
            Self::TooMuchOutput(_) => "output_too_large",
            Self::Unparseable(_) => "unparseable",
            Self::NoFigures { .. } => "no_figures",
            Self::Panic(_) => "panic",
        }
    }
}

/// The kiro-cli source's state between runs: last good usage and whether the last run worked.
#[derive(Debug, Default)]
pub struct CliMonitor {
    state: std::sync::Mutex<CliState>,
}

#[derive(Debug, Default)]
struct CliState {
    last_good: Option<CliUsage>,
    last_success: Option<std::time::SystemTime>,
    up: Option<bool>,
    /// The plan the latest run printed, with or without figures.
    plan: Option<String>,
}

impl CliMonitor {
    /// Records a run's outcome; a failure keeps the last good values.
    pub fn record(&self, outcome: &Result<CliUsage, CliError>, at: std::time::SystemTime) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(u) => {
                s.last_good = Some(u.clone());
                s.last_success = Some(at);
                s.up = Some(true);
                s.plan = (!u.plan.is_empty()).then(|| u.plan.clone());
            }
            Err(e) => {
                s.up = Some(false);
                // A plan without figures still says which plan the account is on.
                if let CliError::NoFigures { plan, .. } = e
                    && !plan.is_empty()
                {
                    s.plan = Some(plan.clone());
                }
            }
        }
    }

    /// Whether a run has succeeded yet.
    pub fn has_succeeded(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).last_success.is_some()
    }
}

impl crate::exposition::Families for CliMonitor {
    fn families(&self, _now: std::time::SystemTime) -> Vec<crate::exposition::Family> {
        use crate::exposition::{Family, Kind};
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut up = Family::new(
            "kiro_cli_up",
            Kind::Gauge,
            "1 if the last `kiro-cli /usage` run gave usage, 0 if it failed (missing command, not logged in, timeout, unreadable output, no figures).",
        );
        if let Some(ok) = s.up {
            up.push(vec![], if ok { 1.0 } else { 0.0 });
        }
        let mut fresh = Family::new(
            "kiro_cli_last_success_timestamp_seconds",
            Kind::Gauge,
            "Time of the last successful kiro-cli /usage run; the kiro_cli_* values are from then.",
        );
        let mut info = Family::new(
            "kiro_cli_plan",
            Kind::Info,
            "The plan kiro-cli /usage printed, in the latest run that printed one (also when it printed no figures).",
        );
        if let Some(plan) = &s.plan {
            info.push(vec![("plan", plan.clone())], 1.0);
        }
        let mut out = vec![up, info];
        if let (Some(u), Some(t)) = (&s.last_good, s.last_success) {
            fresh.push(vec![], t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
            let plan = || vec![("plan", u.plan.clone())];
            let mut gauge = |name: &'static str, help: &'static str, v: Option<f64>| {
                let mut f = Family::new(name, Kind::Gauge, help);
                if let Some(v) = v {
                    f.push(plan(), v);
                }
                out.push(f);
            };
            let ts = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp() as f64);
            gauge(
                "kiro_cli_monthly_credits_used_ratio",
                "Monthly credits used as a fraction of the plan (1 = 100%), as kiro-cli /usage shows it.",
                u.used_ratio,
            );
            gauge(
                "kiro_cli_monthly_credits_used",
                "Monthly credits used (above the limit in overage), from kiro-cli /usage.",
                u.used,
            );
            gauge("kiro_cli_monthly_credits_limit", "Monthly credits the plan covers, from kiro-cli /usage.", u.limit);
            gauge(
                "kiro_cli_monthly_reset_timestamp_seconds",
                "When the monthly credits reset (00:00 UTC of the shown day).",
                ts(u.reset),
            );
            gauge("kiro_cli_bonus_credits_used", "Bonus credits used, from kiro-cli /usage.", u.bonus_used);
            gauge("kiro_cli_bonus_credits_limit", "Bonus credits granted, from kiro-cli /usage.", u.bonus_limit);
            gauge(
                "kiro_cli_bonus_credits_expiry_timestamp_seconds",
                "When the soonest-expiring bonus credits expire.",
                ts(u.bonus_expiry),
            );
            gauge(
                "kiro_cli_overage_enabled",
                "1 if kiro-cli /usage says overages are enabled, 0 if disabled; absent when it does not say.",
                u.overage_enabled.map(|on| if on { 1.0 } else { 0.0 }),
            );
            gauge(
                "kiro_cli_overage_credits_used",
                "Credits used beyond the plan (billed as overage), when kiro-cli /usage prints them.",
                u.overage_credits_used,
            );
            gauge(
                "kiro_cli_overage_estimated_cost_usd",
                "Estimated overage cost this month in USD, when kiro-cli /usage prints it.",
                u.overage_cost_usd,
            );
        }
        out.push(fresh);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Families;

    fn samples(m: &CliMonitor, name: &str) -> Vec<(Vec<(&'static str, String)>, f64)> {
        let families = m.families(std::time::SystemTime::now());
        let f = families.iter().find(|f| f.name == name).unwrap();
        let static_name = |k: &str| ["plan"].into_iter().find(|n| *n == k).unwrap_or("?");
        f.samples
            .iter()
            .map(|s| (s.labels.iter().map(|(k, v)| (static_name(k), v.clone())).collect(), s.value))
            .collect()
    }

    fn plan(p: &str) -> Vec<(&'static str, String)> {
        vec![("plan", p.to_owned())]
    }

    #[test]
    fn a_plan_without_figures_keeps_the_last_values_and_names_the_new_plan() {
        let m = CliMonitor::default();
        assert!(samples(&m, "kiro_cli_plan").is_empty(), "nothing before the first run");
        let u = CliUsage {
            plan: "KIRO PRO".into(),
            used: Some(132.35),
            overage_enabled: Some(false),
            overage_cost_usd: None,
            ..CliUsage::default()
        };
        m.record(&Ok(u), std::time::SystemTime::now());
        assert_eq!(samples(&m, "kiro_cli_plan"), vec![(plan("KIRO PRO"), 1.0)]);
        assert_eq!(samples(&m, "kiro_cli_overage_enabled"), vec![(plan("KIRO PRO"), 0.0)]);
        assert!(samples(&m, "kiro_cli_overage_estimated_cost_usd").is_empty(), "not printed, not exported");

        m.record(&Err(CliError::NoFigures { plan: "KIRO PRO MAX".into(), retry: None }), std::time::SystemTime::now());
        assert_eq!(samples(&m, "kiro_cli_up"), vec![(vec![], 0.0)]);
        assert_eq!(samples(&m, "kiro_cli_plan"), vec![(plan("KIRO PRO MAX"), 1.0)]);
        assert_eq!(samples(&m, "kiro_cli_monthly_credits_used"), vec![(plan("KIRO PRO"), 132.35)], "last good kept");

        // A failure that printed no plan leaves the last one named.
        m.record(&Err(CliError::Timeout(Duration::from_secs(1))), std::time::SystemTime::now());
        assert_eq!(samples(&m, "kiro_cli_plan"), vec![(plan("KIRO PRO MAX"), 1.0)]);
        assert_eq!(CliError::NoFigures { plan: String::new(), retry: None }.kind(), "no_figures");
    }
}
