//! What `/metrics` shows: the bill's series from the current snapshot, and the exporter's own metrics.
//!
//! Cost series are encoded from the snapshot on each new snapshot (users who vanish from the bill vanish
//! from `/metrics`); they carry no timestamps, their freshness is its own gauge. Self-metrics are plain
//! counters, gauges and one histogram updated by the refresh loop.

pub mod exposition;
pub mod gzip;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::snapshot::Snapshot;
use exposition::{Family, Format, Kind, Sample, format_bound};

/// Decimal places of exported credits and USD: far below a cent, and above the noise of summing
/// many float line items (31 daily seat rows of 20/31 USD are 20, not 19.9999999993).
const EXPORT_DECIMALS: u32 = 6;

fn num(d: Decimal) -> f64 {
    d.round_dp(EXPORT_DECIMALS).to_f64().unwrap_or(f64::NAN)
}

/// The bill's series for a snapshot.
pub fn snapshot_families(s: &Snapshot) -> Vec<Family> {
    let period = s.period.map(|p| p.to_string()).unwrap_or_default();
    let gauge = |name, help| Family::new(name, Kind::Gauge, help);
    let mut used = gauge(
        "kiro_credits_used",
        "Kiro credits used in the billing period per licence (account, profile region, user): the activity report's figure where it has the licence, else the CUR Data Export's (see kiro_credits_used_reported and _billed).",
    );
    let mut plan_credits =
        gauge("kiro_plan_credits", "Credits included in the licence's Kiro plan per month (from configuration).");
    let mut overage = gauge(
        "kiro_overage_credits",
        "Credits used beyond the plan's included credits in the billing period, max(0, used - plan).",
    );
    let mut seat_cost = gauge(
        "kiro_subscription_cost_usd",
        "Kiro seat cost billed in the period (unblended USD, month to date, refunds and credits netted), from the CUR Data Export.",
    );
    let mut credits_cost = gauge(
        "kiro_credits_cost_usd",
        "Kiro credits cost billed in the period (unblended USD, month to date, refunds and credits netted), from the CUR Data Export.",
    );
    let mut other_cost = gauge(
        "kiro_other_cost_usd",
        "Kiro cost of a licence's line items of other operations (unblended USD, month to date), by operation.",
    );
    let mut projected = gauge(
        "kiro_credits_projected",
        "Month-end projection of the licence's credits: used + average of the last 7 billed days x days not yet billed; equals used once the period is over.",
    );
    let mut ratio = gauge("kiro_plan_used_ratio", "Credits used / credits included in the plan (1 = at the limit).");
    let mut recommended = Family::new(
        "kiro_recommended_plan",
        Kind::Info,
        "Cheapest priced plan for the projected credits (seat price + overage, the whole month re-rated); the current plan when switching saves nothing.",
    );
    let mut savings = gauge(
        "kiro_plan_savings_usd",
        "USD a month saved by switching to kiro_recommended_plan_info's plan, for the projected credits (0 when the current plan is cheapest).",
    );
    let mut reported = gauge(
        "kiro_credits_used_reported",
        "Kiro credits used in the period per Kiro's user activity report (licences the report has).",
    );
    let mut billed = gauge(
        "kiro_credits_used_billed",
        "Kiro credits used in the period per the CUR bill (Credits rows of type Usage); below _reported when the bill missed some.",
    );
    let mut cap =
        gauge("kiro_overage_cap_credits", "Overage cap in credits on the licence's latest day in the activity report.");
    let mut cap_on = gauge(
        "kiro_overage_enabled",
        "1 if overage is enabled for the licence on its latest day in the activity report, else 0.",
    );
    let mut messages = gauge(
        "kiro_messages",
        "Messages in the period per client and model, from the activity report's <model>_messages columns.",
    );
    let mut conversations =
        gauge("kiro_chat_conversations", "Chat conversations in the period per client, from the activity report.");
    let mut idle = gauge(
        "kiro_idle_seat",
        "1 for a seat with fewer than --kiro.idle-credits credits once --kiro.idle-after days are billed, else 0 (a count for user=\"__other__\").",
    );
    for row in &s.rows.rows {
        let l = &row.licence;
        let labels = || {
            vec![
                ("billing_period", period.clone()),
                ("aws_account_id", l.key.account_id.clone()),
                ("aws_region", l.key.region.clone()),
                ("user_id", row.labels.user_id.clone()),
                ("user", row.labels.user.clone()),
                ("team", row.labels.team.clone()),
                ("plan", l.plan.clone()),
            ]
        };
        used.push(labels(), num(l.credits_used));
        if let Some(pc) = l.plan_credits {
            plan_credits.push(labels(), num(pc));
        }
        if let Some(o) = l.overage_credits {
            overage.push(labels(), num(o));
        }
        seat_cost.push(labels(), num(l.subscription_cost_usd));
        credits_cost.push(labels(), num(l.credits_cost_usd));
        for (op, cost) in &l.other_cost_usd {
            let mut lb = labels();
            lb.push(("operation", op.clone()));
            other_cost.push(lb, num(*cost));
        }
        projected.push(labels(), num(row.projected));
        if let Some(r) = row.used_ratio() {
            ratio.push(labels(), num(r));
        }
        if let Some(rec) = &row.recommendation {
            let mut lb = labels();
            lb.push(("recommended_plan", rec.plan.clone()));
            recommended.push(lb, 1.0);
            if let Some(saving) = rec.savings_usd {
                savings.push(labels(), num(saving));
            }
        }
        if let Some(n) = row.idle_seats {
            idle.push(labels(), f64::from(n));
        }
        if s.activity_last_date.is_some() {
            billed.push(labels(), num(l.credits_billed));
        }
        if let Some(r) = &l.reported {
            reported.push(labels(), num(r.credits_used));
            if let Some(c) = r.overage_cap {
                cap.push(labels(), num(c));
            }
            if let Some(on) = r.overage_enabled {
                cap_on.push(labels(), if on { 1.0 } else { 0.0 });
            }
            for ((client, model), n) in &r.messages {
                let mut lb = labels();
                lb.push(("client", client.clone()));
                lb.push(("model", model.clone()));
                messages.push(lb, num(*n));
            }
            for (client, n) in &r.conversations {
                let mut lb = labels();
                lb.push(("client", client.clone()));
                conversations.push(lb, num(*n));
            }
        }
    }
    let mut report_fresh = gauge(
        "kiro_activity_report_last_date_timestamp_seconds",
        "Start of the latest Date in Kiro's user activity report for the period, per account and region: how far the report reaches.",
    );
    for ((account, region), t) in s.activity_last_date.iter().flatten() {
        report_fresh.push(
            vec![
                ("billing_period", period.clone()),
                ("aws_account_id", account.clone()),
                ("aws_region", region.clone()),
            ],
            *t as f64,
        );
    }
    let mut duplicates = gauge(
        "kiro_duplicate_licences",
        "Licences (profiles x accounts) a user holds a seat in during the period; 2 or more means paying more than once.",
    );
    for (_, labels, n) in &s.duplicates {
        duplicates.push(
            vec![
                ("billing_period", period.clone()),
                ("user_id", labels.user_id.clone()),
                ("user", labels.user.clone()),
                ("team", labels.team.clone()),
            ],
            f64::from(*n),
        );
    }
    let mut unattributed = gauge(
        "kiro_unattributed_cost_usd",
        "Kiro cost without a user (discounts, tax, ...) per account and line item type (unblended USD, month to date).",
    );
    for (k, v) in &s.kiro.unattributed_cost_usd {
        unattributed.push(
            vec![
                ("billing_period", period.clone()),
                ("aws_account_id", k.account_id.clone()),
                ("line_item_type", k.line_item_type.clone()),
            ],
            num(*v),
        );
    }
    let mut fresh = gauge(
        "kiro_cur_data_last_usage_timestamp_seconds",
        "Latest usage end date of the Kiro credits line items in the billing period: how far the bill reaches.",
    );
    if let Some(t) = s.kiro.last_usage_end {
        fresh.push(vec![("billing_period", period.clone())], t as f64);
    }
    let mut selected = Family::new(
        "kiro_exporter_billing_period",
        Kind::Info,
        "The billing period the series describe and how it was chosen (pinned, current, or latest when the current month has no data yet).",
    );
    if let (Some(p), Some(sel)) = (s.period, s.selection) {
        selected.push(vec![("billing_period", p.to_string()), ("selection", sel.to_string())], 1.0);
    }
    let (bedrock_cost, bedrock_tokens) = bedrock_families(s, &period);
    let mut report_up = gauge(
        "kiro_exporter_activity_report_up",
        "1 if the activity report was read at the last refresh; 0 if it could not be (its last good rows are used; see the log and kiro_exporter_refresh_errors_total{source=\"activity_report\"}).",
    );
    if let Some(up) = s.activity_up {
        report_up.push(vec![], if up { 1.0 } else { 0.0 });
    }
    let mut principal_data = gauge(
        "kiro_exporter_bedrock_principal_data",
        "1 if the export has line_item_iam_principal (Bedrock cost per IAM principal); 0: Bedrock cost is exported per account and model only, enable IAM principal data in the Data Export.",
    );
    principal_data.push(vec![], if s.bedrock_principal_data { 1.0 } else { 0.0 });
    let mut rolled_principals = gauge(
        "kiro_exporter_rolled_up_principals",
        "Bedrock principals summed into principal=\"__other__\" by --metrics.max-users in the current data.",
    );
    rolled_principals.push(vec![], s.bedrock.rolled_up_principals as f64);
    let mut rolled = gauge(
        "kiro_exporter_rolled_up_users",
        "Users summed into user=\"__other__\" by --metrics.max-users in the current data.",
    );
    rolled.push(vec![], s.rows.rolled_up_users as f64);
    let mut unresolved = gauge(
        "kiro_exporter_identity_unresolved_users",
        "Users in the bill that the identity directory does not know (shown by their id).",
    );
    if let Some(n) = s.unresolved_users {
        unresolved.push(vec![], n as f64);
    }
    vec![
        used,
        plan_credits,
        overage,
        seat_cost,
        credits_cost,
        other_cost,
        projected,
        ratio,
        recommended,
        savings,
        idle,
        reported,
        billed,
        cap,
        cap_on,
        messages,
        conversations,
        report_fresh,
        duplicates,
        unattributed,
        fresh,
        bedrock_cost,
        bedrock_tokens,
        selected,
        rolled,
        rolled_principals,
        principal_data,
        report_up,
        unresolved,
    ]
}

/// `bedrock_cost_usd` and `bedrock_tokens`.
fn bedrock_families(s: &Snapshot, period: &str) -> (Family, Family) {
    let mut cost = Family::new(
        "bedrock_cost_usd",
        Kind::Gauge,
        "Amazon Bedrock cost in the billing period (unblended USD, month to date, credits and refunds netted) per account, region, IAM principal, model and token class, from the CUR Data Export.",
    );
    let mut tokens = Family::new(
        "bedrock_tokens",
        Kind::Gauge,
        "Amazon Bedrock tokens in the billing period (usage line items, pricing unit applied: 1K tokens, 1M tokens, Marketplace Units = millions).",
    );
    // The `team` label comes first among the person labels; a `team` tag fills it (see model::bedrock).
    let tag_labels: Vec<(usize, &'static str)> =
        s.bedrock_tag_labels.iter().copied().enumerate().filter(|(_, l)| *l != "team").collect();
    for r in &s.bedrock.rows {
        let k = &r.key;
        let mut labels = vec![
            ("billing_period", period.to_owned()),
            ("aws_account_id", k.account_id.clone()),
            ("aws_region", k.region.clone()),
            ("principal", k.principal.clone()),
            ("principal_type", k.principal_type.label().to_owned()),
            ("principal_name", k.principal_name.clone()),
            ("user", r.user.clone()),
            ("team", r.team.clone()),
        ];
        labels.extend(tag_labels.iter().map(|(i, l)| (*l, k.tags.get(*i).cloned().unwrap_or_default())));
        labels.push(("model", k.model.clone()));
        labels.push(("token_type", k.token_type.label().to_owned()));
        if let Some(t) = r.amounts.tokens {
            tokens.push(labels.clone(), num(t));
        }
        cost.push(labels, num(r.amounts.cost_usd));
    }
    (cost, tokens)
}

/// Refresh duration histogram bounds, seconds.
const DURATION_BOUNDS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefreshResult {
    Success,
    /// Succeeded without querying: the export's inputs had not changed since the last success.
    Unchanged,
    Failure,
}

impl RefreshResult {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Unchanged => "unchanged",
            Self::Failure => "failure",
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    refreshes: BTreeMap<RefreshResult, u64>,
    errors: BTreeMap<(&'static str, &'static str), u64>,
    bucket_counts: Vec<u64>,
    duration_sum: f64,
    duration_count: u64,
    last_success: Option<SystemTime>,
    last_ok: Option<bool>,
    rows_read: u64,
    bytes_read: u64,
}

/// The exporter's own metrics (`kiro_exporter_*`).
#[derive(Debug)]
pub struct SelfMetrics {
    inner: Mutex<Inner>,
    version: &'static str,
}

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl SelfMetrics {
    pub fn new() -> Self {
        let mut inner = Inner { bucket_counts: vec![0; DURATION_BOUNDS.len()], ..Inner::default() };
        for r in [RefreshResult::Success, RefreshResult::Unchanged, RefreshResult::Failure] {
            inner.refreshes.insert(r, 0);
        }
        Self { inner: Mutex::new(inner), version: env!("CARGO_PKG_VERSION") }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Records a finished refresh.
    pub fn observe_refresh(&self, result: RefreshResult, took: Duration, at: SystemTime) {
        self.with(|i| {
            *i.refreshes.entry(result).or_default() += 1;
            let secs = took.as_secs_f64();
            for (n, b) in DURATION_BOUNDS.iter().enumerate() {
                if secs <= *b {
                    i.bucket_counts[n] += 1;
                }
            }
            i.duration_sum += secs;
            i.duration_count += 1;
            i.last_ok = Some(result != RefreshResult::Failure);
            if result != RefreshResult::Failure {
                i.last_success = Some(at);
            }
        });
    }

    /// Counts an error of a refresh by source and kind.
    pub fn observe_error(&self, source: &'static str, kind: &'static str) {
        self.with(|i| *i.errors.entry((source, kind)).or_default() += 1);
    }

    /// Adds what a query read.
    pub fn observe_read(&self, rows: u64, bytes: u64) {
        self.with(|i| {
            i.rows_read += rows;
            i.bytes_read += bytes;
        });
    }

    /// Time of the last successful refresh.
    pub fn last_success(&self) -> Option<SystemTime> {
        self.with(|i| i.last_success)
    }
}

/// Families rendered live on every scrape (self-metrics, the kiro-cli monitor), next to the snapshot's.
pub trait Families: Send + Sync {
    fn families(&self, now: SystemTime) -> Vec<Family>;
}

impl Families for SelfMetrics {
    /// The self-metric families, as of `now`.
    fn families(&self, now: SystemTime) -> Vec<Family> {
        self.with(|i| {
            let mut build = Family::new("kiro_exporter_build", Kind::Info, "Version of kiro-exporter.");
            build.push(vec![("version", self.version.to_owned())], 1.0);
            let mut refreshes = Family::new("kiro_exporter_refreshes", Kind::Counter, "Refreshes of the billing data, by result (success, unchanged: inputs had not changed so no query ran, failure).");
            for (r, n) in &i.refreshes {
                refreshes.push(vec![("result", r.label().to_owned())], *n as f64);
            }
            let mut errors = Family::new("kiro_exporter_refresh_errors", Kind::Counter, "Errors of refreshes, by source and kind.");
            for ((source, kind), n) in &i.errors {
                errors.push(vec![("source", (*source).to_owned()), ("kind", (*kind).to_owned())], *n as f64);
            }
            let mut duration = Family::new("kiro_exporter_refresh_duration_seconds", Kind::Histogram, "Duration of refreshes, successful or not.");
            for (b, n) in DURATION_BOUNDS.iter().zip(&i.bucket_counts) {
                duration.samples.push(Sample {
                    suffix: "_bucket",
                    labels: vec![("le", format_bound(*b))],
                    value: *n as f64,
                });
            }
            duration.samples.push(Sample {
                suffix: "_bucket",
                labels: vec![("le", "+Inf".to_owned())],
                value: i.duration_count as f64,
            });
            duration.samples.push(Sample {
                suffix: "_sum",
                labels: vec![],
                value: i.duration_sum,
            });
            duration.samples.push(Sample {
                suffix: "_count",
                labels: vec![],
                value: i.duration_count as f64,
            });
            let mut last_success = Family::new("kiro_exporter_last_success_timestamp_seconds", Kind::Gauge, "Time of the last successful refresh (Unix seconds).");
            let mut age = Family::new("kiro_exporter_snapshot_age_seconds", Kind::Gauge, "Seconds since the served data was last refreshed successfully.");
            if let Some(t) = i.last_success {
                last_success.push(vec![], unix(t));
                age.push(vec![], now.duration_since(t).map_or(0.0, |d| d.as_secs_f64()));
            }
            let mut last_ok = Family::new("kiro_exporter_last_refresh_success", Kind::Gauge, "1 if the last refresh succeeded, 0 if it failed and an older snapshot is being served.");
            if let Some(ok) = i.last_ok {
                last_ok.push(vec![], if ok { 1.0 } else { 0.0 });
            }
            let mut rows = Family::new("kiro_exporter_rows_read", Kind::Counter, "CUR rows in the files covered by the queries run.");
            rows.push(vec![], i.rows_read as f64);
            let mut bytes = Family::new("kiro_exporter_bytes_read", Kind::Counter, "Bytes fetched from the export (local files or S3): manifests, Parquet footers and the column chunks the queries need.");
            bytes.push(vec![], i.bytes_read as f64);
            vec![build, refreshes, errors, duration, last_success, age, last_ok, rows, bytes]
        })
    }
}

/// The live families and the format's ending: the part of a body rendered on every scrape.
fn render_live(live: &[&dyn Families], format: Format, now: SystemTime) -> String {
    let mut out = String::with_capacity(4096);
    for source in live {
        exposition::encode(&mut out, &source.families(now), format);
    }
    exposition::finish(&mut out, format);
    out
}

/// The whole `/metrics` body: the snapshot's cached rendering plus the live families.
pub fn render(snapshot: Option<&Snapshot>, live: &[&dyn Families], format: Format, now: SystemTime) -> String {
    let cached = snapshot.map(|s| s.rendered(format)).unwrap_or_default();
    let rest = render_live(live, format, now);
    let mut out = String::with_capacity(cached.len() + rest.len());
    out.push_str(cached);
    out.push_str(&rest);
    out
}

/// The same body gzip-compressed, reusing the snapshot's cached deflated text; `None` if compression
/// failed (serve it uncompressed then).
pub fn render_gzip(
    snapshot: Option<&Snapshot>,
    live: &[&dyn Families],
    format: Format,
    now: SystemTime,
) -> Option<Vec<u8>> {
    let rest = render_live(live, format, now);
    let empty;
    let prefix = match snapshot {
        Some(s) => s.deflated(format)?,
        None => {
            empty = gzip::Deflated::prefix("").ok()?;
            &empty
        }
    };
    gzip::gzip(prefix, &rest).ok()
}
