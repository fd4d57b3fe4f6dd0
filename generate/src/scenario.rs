//! The hand-made Kiro users of generated exports. Tests compute their expected metrics by hand from
//! this description (plan credits and prices are kiro.dev's defaults; overage $0.04 per credit):
//!
//! | user  | account | licence(s)                       | seat rows (USD)                          | credits (Usage)             |
//! |-------|---------|----------------------------------|------------------------------------------|-----------------------------|
//! | alice | A       | us-east-1 Pro                    | 20 on day 1                              | 250.5 + 300.25 (+ a 999 `q-developer-snapshot` row to ignore) |
//! | bob   | A       | us-east-1 Pro                    | 20/31 on each of 31 days                 | 900 + 150.5, the second billed 2.02 |
//! | carol | A       | us-east-1 Pro -> Pro+ (upgrade)  | Pro 20, Pro refund -20, ProPlus 40       | 60 on each of days 1..30    |
//! | dave  | B       | us-east-1 Power (idle)           | 200                                      | none                        |
//! | erin  | A       | us-east-1 Pro and eu-central-1 Pro+ | 20 (USE1), 40 (EUC1)                  | 100 (USE1), 300 (EUC1)      |
//! | frank | A       | us-east-1, no seat               | none                                     | 42.42                       |
//! | grace | A       | us-east-1 Pro Max (`ProMax`)     | 100                                      | 3 x 2000, the last billed 40 |
//! | heidi | A       | us-east-1 Pro and Pro+ in one profile | Pro 0, ProPlus 40                   | 10                          |
//! | ivan  | B       | us-east-1 Power                  | 200 and a promotional `Credit` of -50    | 6 x 2000, the last billed 80 |
//! | judy  | A       | us-east-1 Pro (id with a store prefix, no `product['region']`) | 20 | 0.01                |
//! | zoe   | A       | us-east-1 Pro+ (Unicode name with quotes) | 40                              | 1999.99                     |
//!
//! Account-level Kiro rows: A `EdpDiscount` -5.25, A `Tax` 3.10, B `Tax` 1.00. frank is not in the users
//! file. The previous period has alice on Pro with 10 credits.

use std::borrow::Cow;

use super::{Rng, Row};
use kiro_exporter::model::BillingPeriod;

pub const ACCOUNT_A: &str = "111111111111";
pub const ACCOUNT_B: &str = "222222222222";

pub const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
pub const BOB: &str = "b0b00000-0000-4000-8000-000000000002";
pub const CAROL: &str = "ca401000-0000-4000-8000-000000000003";
pub const DAVE: &str = "da4e0000-0000-4000-8000-000000000004";
pub const ERIN: &str = "e4140000-0000-4000-8000-000000000005";
pub const FRANK: &str = "f4a4c000-0000-4000-8000-000000000006";
pub const GRACE: &str = "94ace000-0000-4000-8000-000000000007";
pub const HEIDI: &str = "4e1d1000-0000-4000-8000-000000000008";
pub const IVAN: &str = "17a40000-0000-4000-8000-000000000009";
pub const JUDY: &str = "9066195b8c-1a2b3c4d-0000-4000-8000-00000000000a";
pub const ZOE: &str = "20e00000-0000-4000-8000-00000000000b";

/// The display name of zoe: Unicode and a quote, to exercise label escaping.
pub const ZOE_NAME: &str = "Zoë \"Z\" Ångström";

/// (user id, user name) of the scenario users in the users file; frank is deliberately missing.
pub fn users() -> Vec<(String, String)> {
    [
        (ALICE, "alice"),
        (BOB, "bob"),
        (CAROL, "carol"),
        (DAVE, "dave"),
        (ERIN, "erin"),
        (GRACE, "grace"),
        (HEIDI, "heidi"),
        (IVAN, "ivan"),
        (JUDY, "judy"),
        (ZOE, ZOE_NAME),
    ]
    .iter()
    .map(|(id, n)| ((*id).to_owned(), (*n).to_owned()))
    .collect()
}

/// The users file's email of a scenario user: only bob has one (the Bedrock scenario links his federated
/// session `bob@example.com` to him by email).
pub fn email(user_id: &str) -> Option<&'static str> {
    (user_id == BOB).then_some("bob@example.com")
}

fn arn(user: &str) -> String {
    format!("arn:aws:identitystore:::user/{user}")
}

/// A seat row (`monthly-subscription`) for a tier spelled as in CUR (`Pro`, `ProPlus`, `ProMax`, `Power`).
pub fn seat(
    account: &'static str,
    user: &str,
    prefix: &str,
    tier: &str,
    lit: &'static str,
    amount: f64,
    cost: f64,
    day: u32,
) -> Row {
    let mut r = Row::new(account, "Kiro", day);
    r.operation = Cow::Borrowed("monthly-subscription");
    r.usage_type = Cow::Owned(format!("{prefix}-KiroEnterprise-{tier}"));
    r.line_item_type = lit;
    r.resource_id = Some(arn(user));
    r.usage_amount = amount;
    r.cost = cost;
    r.pricing_unit = "User-Month";
    r.product_name = "Kiro";
    r.family = "Kiro Subscription";
    r.description = Cow::Owned(format!("Kiro {tier} subscription"));
    if prefix == "EUC1" {
        r.region_code = "eu-central-1";
        r.product_region = Some("eu-central-1");
    }
    r
}

/// A credits row: `amount` credits used on `day`, billed `cost` (non-zero only beyond the plan).
pub fn credits(account: &'static str, user: &str, prefix: &str, amount: f64, cost: f64, day: u32) -> Row {
    let mut r = seat(account, user, prefix, "Credits", "Usage", amount, cost, day);
    r.operation = Cow::Borrowed("Credits");
    r.pricing_unit = "Credits";
    r.family = "Kiro Credits";
    r.description = Cow::Borrowed("Kiro credits");
    r
}

fn account_level(account: &'static str, lit: &'static str, cost: f64, day: u32) -> Row {
    let mut r = Row::new(account, "Kiro", day);
    r.line_item_type = lit;
    r.cost = cost;
    r.product_name = "Kiro";
    r.description = Cow::Owned(format!("Kiro {lit}"));
    r
}

/// The scenario's Kiro rows for a period of at least 30 days.
pub fn rows(period: BillingPeriod) -> Vec<Row> {
    let days = period.days();
    let (a, b) = (ACCOUNT_A, ACCOUNT_B);
    let mut v = vec![
        seat(a, ALICE, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0),
        credits(a, ALICE, "USE1", 250.5, 0.0, 2),
        credits(a, ALICE, "USE1", 300.25, 0.0, 9),
    ];
    let mut snapshot = credits(a, ALICE, "USE1", 999.0, 0.0, 9);
    snapshot.operation = Cow::Borrowed("q-developer-snapshot");
    v.push(snapshot);
    for d in 0..days {
        v.push(seat(a, BOB, "USE1", "Pro", "FlatRateSubscription", 1.0 / f64::from(days), 20.0 / f64::from(days), d));
    }
    v.push(credits(a, BOB, "USE1", 900.0, 0.0, 4));
    v.push(credits(a, BOB, "USE1", 150.5, 2.02, 19));
    v.push(seat(a, CAROL, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0));
    v.push(seat(a, CAROL, "USE1", "Pro", "Refund", -1.0, -20.0, 14));
    v.push(seat(a, CAROL, "USE1", "ProPlus", "FlatRateSubscription", 1.0, 40.0, 14));
    for d in 0..30 {
        v.push(credits(a, CAROL, "USE1", 60.0, 0.0, d));
    }
    v.push(seat(b, DAVE, "USE1", "Power", "FlatRateSubscription", 1.0, 200.0, 0));
    v.push(seat(a, ERIN, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0));
    v.push(credits(a, ERIN, "USE1", 100.0, 0.0, 6));
    v.push(seat(a, ERIN, "EUC1", "ProPlus", "FlatRateSubscription", 1.0, 40.0, 0));
    v.push(credits(a, ERIN, "EUC1", 300.0, 0.0, 7));
    v.push(credits(a, FRANK, "USE1", 42.42, 0.0, 11));
    v.push(seat(a, GRACE, "USE1", "ProMax", "FlatRateSubscription", 1.0, 100.0, 0));
    v.push(credits(a, GRACE, "USE1", 2000.0, 0.0, 3));
    v.push(credits(a, GRACE, "USE1", 2000.0, 0.0, 4));
    v.push(credits(a, GRACE, "USE1", 2000.0, 40.0, 5));
    v.push(seat(a, HEIDI, "USE1", "Pro", "FlatRateSubscription", 1.0, 0.0, 0));
    v.push(seat(a, HEIDI, "USE1", "ProPlus", "FlatRateSubscription", 1.0, 40.0, 0));
    v.push(credits(a, HEIDI, "USE1", 10.0, 0.0, 12));
    v.push(seat(b, IVAN, "USE1", "Power", "FlatRateSubscription", 1.0, 200.0, 0));
    v.push(seat(b, IVAN, "USE1", "Power", "Credit", 0.0, -50.0, 0));
    for d in 0..6 {
        v.push(credits(b, IVAN, "USE1", 2000.0, if d == 5 { 80.0 } else { 0.0 }, 10 + d));
    }
    let mut judy_seat = seat(a, JUDY, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0);
    judy_seat.product_region = None;
    let mut judy_credits = credits(a, JUDY, "USE1", 0.01, 0.0, 1);
    judy_credits.product_region = None;
    v.push(judy_seat);
    v.push(judy_credits);
    v.push(seat(a, ZOE, "USE1", "ProPlus", "FlatRateSubscription", 1.0, 40.0, 0));
    v.push(credits(a, ZOE, "USE1", 1999.99, 0.0, 15));
    v.push(account_level(a, "EdpDiscount", -5.25, days - 1));
    v.push(account_level(a, "Tax", 3.10, days - 1));
    v.push(account_level(b, "Tax", 1.00, days - 1));
    v
}

/// The previous period: alice on Pro with 10 credits.
pub fn previous_rows() -> Vec<Row> {
    vec![
        seat(ACCOUNT_A, ALICE, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0),
        credits(ACCOUNT_A, ALICE, "USE1", 10.0, 0.0, 3),
    ]
}

/// Bulk users and their rows.
pub struct Bulk {
    pub users: Vec<(String, String)>,
    pub rows: Vec<Row>,
}

/// `n` more users: plans Pro 50%, Pro+ 25%, Power 10%, Pro Max 5%, and 10% idle Pro seats; daily credits
/// (metered to 0.01, `rows_per_day` rows a day) with overage billed at $0.04 on the credits beyond the plan.
pub fn bulk(period: BillingPeriod, n: usize, rows_per_day: u32, rng: &mut Rng) -> Bulk {
    let days = period.days();
    let mut users = Vec::with_capacity(n);
    let mut rows = Vec::new();
    for i in 0..n {
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            rng.next_u64() as u32,
            i,
            rng.below(4096),
            rng.below(4096),
            rng.next_u64() >> 16
        );
        users.push((id.clone(), format!("user{:04}", i + 1)));
        let account = if rng.below(4) == 0 { ACCOUNT_B } else { ACCOUNT_A };
        let pick = rng.below(100);
        let (tier, credits_in_plan, price, idle) = match pick {
            0..50 => ("Pro", 1000.0, 20.0, false),
            50..75 => ("ProPlus", 2000.0, 40.0, false),
            75..85 => ("Power", 10000.0, 200.0, false),
            85..90 => ("ProMax", 5000.0, 100.0, false),
            _ => ("Pro", 1000.0, 20.0, true),
        };
        rows.push(seat(account, &id, "USE1", tier, "FlatRateSubscription", 1.0, price, 0));
        if idle {
            continue;
        }
        // Daily usage around a per-user level; some users run well past their plan.
        let level = credits_in_plan / f64::from(days) * (0.2 + rng.unit() * 1.6);
        let mut used = 0.0_f64;
        for d in 0..days {
            if rng.below(7) == 0 {
                continue;
            }
            for _ in 0..rows_per_day.max(1) {
                let amount = ((level * (0.5 + rng.unit()) / f64::from(rows_per_day.max(1))) * 100.0).round() / 100.0;
                let over_before = (used - credits_in_plan).max(0.0);
                used += amount;
                let over_after = (used - credits_in_plan).max(0.0);
                let cost = ((over_after - over_before) * 0.04 * 1e6).round() / 1e6;
                rows.push(credits(account, &id, "USE1", amount, cost, d));
            }
        }
    }
    Bulk { users, rows }
}
