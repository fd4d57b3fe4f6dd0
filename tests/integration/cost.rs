//! Cost as the organisation pays it (`--cost.basis`, `--cost.allocate-account-level`, the currency), on
//! generated exports whose expected values are computed by hand from the scenario table of
//! `generate/src/scenario.rs`.

use kiro_exporter_generate::scenario::{ALICE, DAVE, GRACE, IVAN};
use kiro_exporter_generate::{Options, write_export};

use crate::common::*;

const A: &str = "111111111111";
const B: &str = "222222222222";

/// The scenario alone (no bulk users), October 2026, with `discount` on the net columns and `currency`.
fn export(discount: f64, currency: &'static str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        rows: 2_000,
        bulk_users: 0,
        chunk_rows: 1_000,
        previous_period: false,
        discount,
        currency,
        ..Options::sample()
    };
    write_export(dir.path(), &opts).unwrap();
    dir
}

fn refresh(dir: &tempfile::TempDir, extra: &[&str]) -> Vec<(String, Labels, f64)> {
    let path = dir.path().to_str().unwrap();
    let mut args = vec!["--cur.path", path, "--billing-period", "2026-10"];
    args.extend_from_slice(extra);
    parse(&once(&args, &[]))
}

fn user(id: &str) -> [(&str, &str); 1] {
    [("user_id", id)]
}

#[test]
fn costs_are_net_of_discounts_by_default_and_list_price_on_request() {
    // Every Usage and FlatRateSubscription line carries a 10% discount in line_item_net_unblended_cost.
    let dir = export(0.10, "USD");
    let net = refresh(&dir, &[]);
    close(value(&net, "kiro_subscription_cost_usd", &user(ALICE)), 18.0, "alice's Pro seat, 20 less 10%");
    close(value(&net, "kiro_subscription_cost_usd", &user(DAVE)), 180.0, "dave's Power seat, 200 less 10%");
    close(value(&net, "kiro_credits_cost_usd", &user(GRACE)), 36.0, "grace's 40 of overage, less 10%");
    let cache_writes = [("principal_name", "bob@example.com"), ("token_type", "cache_write")];
    close(value(&net, "bedrock_cost_usd", &cache_writes), 0.675, "bob's Marketplace cache writes, 0.75 less 10%");
    close(value(&net, "kiro_exporter_cost_basis_info", &[("basis", "net")]), 1.0, "says net");

    let list = refresh(&dir, &["--cost.basis", "unblended"]);
    close(value(&list, "kiro_subscription_cost_usd", &user(ALICE)), 20.0, "list price");
    close(value(&list, "kiro_subscription_cost_usd", &user(DAVE)), 200.0, "list price");
    close(value(&list, "kiro_credits_cost_usd", &user(GRACE)), 40.0, "list price");
    close(value(&list, "bedrock_cost_usd", &cache_writes), 0.75, "list price");
    close(value(&list, "kiro_exporter_cost_basis_info", &[("basis", "unblended")]), 1.0, "says unblended");
    // Credits are credits whatever the basis.
    close(value(&net, "kiro_credits_used", &user(GRACE)), 6000.0, "grace's credits");
    close(value(&list, "kiro_credits_used", &user(GRACE)), 6000.0, "grace's credits");

    // An export without the net column (an account without discounts): net is the unblended cost.
    drop_columns(&dir.path().join("data/BILLING_PERIOD=2026-10"), &["line_item_net_unblended_cost"]);
    let plain = refresh(&dir, &[]);
    close(value(&plain, "kiro_subscription_cost_usd", &user(ALICE)), 20.0, "no net column");
    close(value(&plain, "kiro_exporter_cost_basis_info", &[("basis", "unblended")]), 1.0, "the column used");
}

#[test]
fn account_level_amounts_are_allocated_so_each_account_sums_to_its_total() {
    // Account A: licences of 382.02 in all (alice 20, bob 22.02, carol 40, erin 20 + 40, frank 0, grace 140,
    // heidi 40, judy 20, zoe 40), an EdpDiscount of -5.25 and Tax of 3.10: -2.15 to allocate. Account B:
    // dave 200 and ivan 230 (200 less a 50 credit, plus 80 of overage), Tax 1.00.
    let dir = export(0.0, "USD");
    let s = refresh(&dir, &["--cost.allocate-account-level"]);
    // alice: 20 - 2.15 x 20 / 382.02 = 20 - 0.1125595... -> 19.887441 (shares rounded toward zero).
    close(value(&s, "kiro_allocated_cost_usd", &user(ALICE)), 19.887441, "alice");
    // dave: 200 + 1.00 x 200/430 = 200.465116; ivan 230 + 0.534883 + the remainder 0.000001 (the larger).
    close(value(&s, "kiro_allocated_cost_usd", &user(DAVE)), 200.465116, "dave");
    close(value(&s, "kiro_allocated_cost_usd", &user(IVAN)), 230.534884, "ivan takes the remainder");
    let sum = |account: &str| -> f64 {
        all(&s, "kiro_allocated_cost_usd", &[("aws_account_id", account)]).iter().map(|x| x.2).sum()
    };
    close(sum(A), 379.87, "account A: its licences' 382.02 and -2.15 of account-level amounts");
    close(sum(B), 431.0, "account B: 430 and 1.00 of tax");
    // The account-level rows stay visible as they are; without the flag nothing is allocated.
    close(value(&s, "kiro_unattributed_cost_usd", &[("aws_account_id", A), ("line_item_type", "Tax")]), 3.10, "tax");
    assert!(all(&refresh(&dir, &[]), "kiro_allocated_cost_usd", &[]).is_empty());
}

#[test]
fn a_bill_in_another_currency_is_refused_by_name() {
    let dir = export(0.0, "INR");
    let err = fails(&["--once", "--cur.path", dir.path().to_str().unwrap(), "--billing-period", "2026-10"], &[]);
    assert!(err.contains("billing period 2026-10 is billed in INR") && err.contains("USD"), "{err}");
}
