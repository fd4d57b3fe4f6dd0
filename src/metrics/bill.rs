//! The bill's series: every family `/metrics` shows from one snapshot, built once per published snapshot
//! (see [`super::Exposition`]).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::exposition::{Family, Kind, LabelName};
use crate::snapshot::Snapshot;

/// Decimal places of exported credits and USD: far below a cent, and above the noise of summing
/// many float line items (31 daily seat rows of 20/31 USD are 20, not 19.9999999993).
const EXPORT_DECIMALS: u32 = 6;

/// Series every exported licence row has, whatever its values (`kiro_credits_used`,
/// `kiro_subscription_cost_usd`, `kiro_credits_cost_usd`, `kiro_credits_projected`): the refresh refuses a
/// bill whose licences alone exceed `--metrics.max-series` while it reads it.
pub const SERIES_PER_ROW: usize = 4;

fn num(d: Decimal) -> f64 {
    d.round_dp(EXPORT_DECIMALS).to_f64().unwrap_or(f64::NAN)
}

/// Families about the exporter's view as a whole rather than one billing period (no `billing_period`
/// label): with several periods served, they describe the newest one (the activity report's `up` is 0 if
/// any served month's read failed; see [`super::Exposition`]).
pub(super) const EXPORTER_WIDE: &[&str] = &[
    "kiro_exporter_activity_report_up",
    "kiro_exporter_bedrock_principal_data",
    "kiro_exporter_rolled_up_principals",
    "kiro_exporter_rolled_up_users",
    "kiro_exporter_identity_unresolved_users",
];

/// The bill's series for one period's snapshot.
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
        "Kiro seat cost billed in the period (USD on --cost.basis: net of discounts by default, month to date, refunds and credits netted), from the CUR Data Export.",
    );
    let mut credits_cost = gauge(
        "kiro_credits_cost_usd",
        "Kiro credits cost billed in the period (USD on --cost.basis: net of discounts by default, month to date, refunds and credits netted), from the CUR Data Export.",
    );
    let mut allocated = gauge(
        "kiro_allocated_cost_usd",
        "Kiro cost of the licence plus its share of the account's amounts without a user (discounts, tax, ...), in proportion to the licences' cost (--cost.allocate-account-level, USD on --cost.basis, month to date); an account's licences sum to its Kiro total.",
    );
    let mut other_cost = gauge(
        "kiro_other_cost_usd",
        "Kiro cost of a licence's line items of other operations (USD on --cost.basis: net of discounts by default, month to date), by operation.",
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
        if let Some(a) = l.allocated_cost_usd {
            allocated.push(labels(), num(a));
        }
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
        "Kiro cost without a user (discounts, tax, ...) per account and line item type (USD on --cost.basis: net of discounts by default, month to date).",
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
        "A billing period the series describe and how it was chosen: pinned (--billing-period), current (this UTC month), latest (the newest month with data while the current one has none), previous (the served month before that one), past (older months, --billing-periods above 2).",
    );
    if let (Some(p), Some(sel)) = (s.period, s.selection) {
        selected.push(vec![("billing_period", p.to_string()), ("selection", sel.to_string())], 1.0);
    }
    let (bedrock_cost, bedrock_tokens) = bedrock_families(s, &period);
    let mut basis = Family::new(
        "kiro_exporter_cost_basis",
        Kind::Info,
        "The cost column the *_cost_usd series of the billing period sum: net (line_item_net_unblended_cost, after discounts) or unblended (list price; also where --cost.basis=net meets an export without the net column).",
    );
    if let Some(b) = s.cost_basis {
        basis.push(vec![("billing_period", period.clone()), ("basis", b.to_owned())], 1.0);
    }
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
        allocated,
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
        basis,
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
        "Amazon Bedrock cost in the billing period (USD on --cost.basis: net of discounts by default, month to date, credits and refunds netted) per account, region, IAM principal, model and token class, from the CUR Data Export.",
    );
    let mut tokens = Family::new(
        "bedrock_tokens",
        Kind::Gauge,
        "Amazon Bedrock tokens in the billing period (usage line items, pricing unit applied: 1K tokens, 1M tokens, Marketplace Units = millions).",
    );
    // The `team` label comes first among the person labels; a `team` tag fills it (see model::bedrock).
    let tag_labels: Vec<(usize, &str)> =
        s.bedrock_tag_labels.iter().map(String::as_str).enumerate().filter(|(_, l)| *l != "team").collect();
    for r in &s.bedrock.rows {
        let k = &r.key;
        let mut labels: Vec<(LabelName, String)> = [
            ("billing_period", period.to_owned()),
            ("aws_account_id", k.account_id.clone()),
            ("aws_region", k.region.clone()),
            ("principal", k.principal.clone()),
            ("principal_type", k.principal_type.label().to_owned()),
            ("principal_name", k.principal_name.clone()),
            ("user", r.user.clone()),
            ("team", r.team.clone()),
        ]
        .into_iter()
        .map(|(n, v)| (LabelName::Borrowed(n), v))
        .collect();
        labels.extend(
            tag_labels
                .iter()
                .map(|(i, l)| (LabelName::Owned((*l).to_owned()), k.tags.get(*i).cloned().unwrap_or_default())),
        );
        labels.push(("model".into(), k.model.clone()));
        labels.push(("token_type".into(), k.token_type.label().to_owned()));
        if let Some(t) = r.amounts.tokens {
            tokens.push_named(labels.clone(), num(t));
        }
        cost.push_named(labels, num(r.amounts.cost_usd));
    }
    (cost, tokens)
}
