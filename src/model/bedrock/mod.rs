//! Amazon Bedrock cost and tokens per IAM principal, model and token class: pure rules over the rows of
//! `bedrock_lines.sql`.
//!
//! - Principal: `line_item_iam_principal` as in CUR. An IAM user (`arn:aws:iam::A:user/NAME`, including
//!   Bedrock API keys, `user/BedrockAPIKey-...`) has `principal_type="user"` and its user name; a role
//!   session (`arn:aws:sts::A:assumed-role/ROLE/SESSION`) has `assumed-role` and the session name; anything
//!   else (no principal, `root`, a role ARN) has `""` for both.
//! - Session names ([`SessionNames`]): per-request session names (`BedrockAgentCore-<uuid>`) would make a
//!   series per request. `emails-only` (the default) keeps sessions named like a person (an email) and
//!   collapses the others to the role: principal `arn:aws:sts::A:assumed-role/ROLE`, name `ROLE`.
//! - Model: `product['model']` when present; else the first-party usage type's model part
//!   (`USE1-NovaLite-output-tokens` -> `NovaLite`); else the product name without ` (Amazon Bedrock Edition)`
//!   (Marketplace models such as Claude).
//! - Token class, by substring of the usage type in this order: cache read, cache write, input, output;
//!   else `other`.
//! - Tokens: usage amounts of `Usage`, `DiscountedUsage` and `SavingsPlanCoveredUsage` rows whose pricing
//!   unit counts tokens, scaled by the unit (`1K tokens` x1,000, `1M tokens` and Marketplace `Units`
//!   x1,000,000). Cost: unblended USD of every row, so credits, refunds and discounts net out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;

use super::region::resolve_region;
use super::rows::OTHER;
use crate::identity::resolve::UserLabels;

mod labels;
mod usage;

pub use labels::{FIXED_LABELS, TagLabel, sanitise_label_name, tag_labels, valid_tag_key};
pub use usage::{
    Principal, PrincipalType, SessionNames, TokenType, is_usage, looks_like_email, model_from_usage_type, model_name,
    parse_principal, token_type, tokens_per_unit,
};

/// One row of `bedrock_lines.sql`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BedrockLine {
    pub account_id: String,
    pub product_region_code: Option<String>,
    pub product_region: Option<String>,
    pub principal: Option<String>,
    pub usage_type: Option<String>,
    pub product_model: Option<String>,
    pub product_name: Option<String>,
    pub pricing_unit: Option<String>,
    pub line_item_type: Option<String>,
    /// The configured tags' values, in the order of the tag labels.
    pub tags: Vec<Option<String>>,
    pub usage_amount: Decimal,
    /// The cost the model charges (see `KiroLine::unblended_cost`).
    pub unblended_cost: Decimal,
    pub net_unblended_cost: Decimal,
    pub currency: Option<String>,
}

/// One exported Bedrock series, before user and team labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BedrockKey {
    pub account_id: String,
    pub region: String,
    pub principal: String,
    pub principal_type: PrincipalType,
    pub principal_name: String,
    pub model: String,
    pub token_type: TokenType,
    /// Values of the tag labels, `""` when absent.
    pub tags: Vec<String>,
}

/// Cost and tokens of a series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amounts {
    pub cost_usd: Decimal,
    /// `None` when none of the series' rows is priced in tokens.
    pub tokens: Option<Decimal>,
}

impl Amounts {
    fn add(&mut self, other: &Amounts) {
        self.cost_usd += other.cost_usd;
        if let Some(t) = other.tokens {
            *self.tokens.get_or_insert(Decimal::ZERO) += t;
        }
    }
}

/// Sums the lines into series. `is_person` says whether a session name is a known person (an Identity
/// Center user name or email): such sessions are kept in `emails-only` mode like email-named ones.
pub fn aggregate(
    lines: &[BedrockLine],
    sessions: SessionNames,
    is_person: impl Fn(&str) -> bool,
) -> BTreeMap<BedrockKey, Amounts> {
    let mut out: BTreeMap<BedrockKey, Amounts> = BTreeMap::new();
    for l in lines {
        let arn = l.principal.as_deref().map(str::trim).unwrap_or_default();
        let p = parse_principal(arn);
        let collapse = match sessions {
            SessionNames::Keep => false,
            SessionNames::Drop => true,
            SessionNames::EmailsOnly => !looks_like_email(&p.name) && !is_person(&p.name),
        };
        let (principal, name) = match (&p.role, &p.role_arn) {
            (Some(role), Some(role_arn)) if collapse => (role_arn.clone(), role.clone()),
            _ => (arn.to_owned(), p.name.clone()),
        };
        let usage_type = l.usage_type.as_deref().unwrap_or_default();
        let key = BedrockKey {
            account_id: l.account_id.clone(),
            // The row's own region first (Bedrock has no profile region like Kiro).
            region: resolve_region(
                l.product_region_code.as_deref().or(l.product_region.as_deref()),
                Some(usage_type),
                None,
            ),
            principal,
            principal_type: p.kind,
            principal_name: name,
            model: model_name(l.product_model.as_deref(), usage_type, l.product_name.as_deref()),
            token_type: token_type(usage_type),
            tags: l.tags.iter().map(|t| t.clone().unwrap_or_default()).collect(),
        };
        let acc = out.entry(key).or_default();
        acc.cost_usd += l.unblended_cost;
        if let Some(scale) = tokens_per_unit(l.pricing_unit.as_deref(), usage_type) {
            let tokens = acc.tokens.get_or_insert(Decimal::ZERO);
            if is_usage(l.line_item_type.as_deref().unwrap_or_default()) {
                // Amounts are bounded by check_bedrock_lines; saturate rather than panic all the same.
                *tokens = tokens
                    .checked_add(l.usage_amount.checked_mul(scale).unwrap_or(Decimal::MAX))
                    .unwrap_or(Decimal::MAX);
            }
        }
    }
    out
}

/// An exported series with its person labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockRow {
    pub key: BedrockKey,
    /// The linked Identity Center user's `user` label, `""` when not linked.
    pub user: String,
    /// The `team` tag when the principal has one, else the linked user's team, else `""`.
    pub team: String,
    pub amounts: Amounts,
}

/// The exported Bedrock rows and how many principals were rolled up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BedrockRows {
    pub rows: Vec<BedrockRow>,
    pub rolled_up_principals: usize,
}

/// Builds the rows: `link` finds the Identity Center user a principal name belongs to; `team_tag` is the
/// index of the tag label named `team`, whose value beats the linked user's team. `max_principals` keeps
/// the principals with the most cost and sums the others into `principal="__other__"` per account, region,
/// model, token class, team and tags, so every sum stays exact.
pub fn build_rows(
    series: BTreeMap<BedrockKey, Amounts>,
    link: impl Fn(&str) -> Option<UserLabels>,
    team_tag: Option<usize>,
    max_principals: Option<usize>,
) -> BedrockRows {
    // Series with the same exported labels are summed: the `team` tag is not a label of its own (it fills
    // `team`), so two keys that differ only there would otherwise be two samples of one series.
    let mut merged: BTreeMap<(BedrockKey, String, String), Amounts> = BTreeMap::new();
    for (mut key, amounts) in series {
        // Only a principal that still names a person: not a session collapsed to its role.
        let linked =
            (parse_principal(&key.principal).kind != PrincipalType::Other).then(|| link(&key.principal_name)).flatten();
        let tag_team = team_tag.and_then(|i| key.tags.get(i)).filter(|t| !t.is_empty()).cloned();
        let team = tag_team.or_else(|| linked.as_ref().map(|u| u.team.clone())).unwrap_or_default();
        if let Some(t) = team_tag.and_then(|i| key.tags.get_mut(i)) {
            t.clear();
        }
        merged.entry((key, linked.map(|u| u.user).unwrap_or_default(), team)).or_default().add(&amounts);
    }
    let mut rows: Vec<BedrockRow> =
        merged.into_iter().map(|((key, user, team), amounts)| BedrockRow { key, user, team, amounts }).collect();
    let Some(max) = max_principals else { return BedrockRows { rows, rolled_up_principals: 0 } };

    let mut per_principal: HashMap<&str, Decimal> = HashMap::new();
    for r in &rows {
        *per_principal.entry(r.key.principal.as_str()).or_default() += r.amounts.cost_usd;
    }
    let mut ranked: Vec<(&str, Decimal)> = per_principal.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let kept: BTreeSet<String> = ranked.iter().take(max).map(|(p, _)| (*p).to_owned()).collect();
    let rolled_up_principals = ranked.len().saturating_sub(kept.len());
    if rolled_up_principals == 0 {
        return BedrockRows { rows, rolled_up_principals };
    }

    let mut other: BTreeMap<(BedrockKey, String), Amounts> = BTreeMap::new();
    rows.retain(|r| {
        if kept.contains(&r.key.principal) {
            return true;
        }
        let key = BedrockKey {
            principal: OTHER.into(),
            principal_type: PrincipalType::Other,
            principal_name: OTHER.into(),
            ..r.key.clone()
        };
        other.entry((key, r.team.clone())).or_default().add(&r.amounts);
        false
    });
    rows.extend(other.into_iter().map(|((key, team), amounts)| BedrockRow { key, user: String::new(), team, amounts }));
    BedrockRows { rows, rolled_up_principals }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::d;

    #[test]
    fn tag_labels_are_validated_and_sanitised() {
        let t: TagLabel = "cost-center=iamPrincipal/cost-center".parse().unwrap();
        assert_eq!((t.label.as_str(), t.key.as_str()), ("cost_center", "iamPrincipal/cost-center"));
        assert_eq!("1st.team = iamPrincipal/team".parse::<TagLabel>().unwrap().label, "_1st_team");
        assert_eq!("team=iamPrincipal/team".parse::<TagLabel>().unwrap().label, "team");
        for bad in ["team", "=iamPrincipal/team", "__x=k", "model=iamPrincipal/model", "user=k", "t=a'b", "t="] {
            assert!(bad.parse::<TagLabel>().is_err(), "{bad}");
        }
        assert_eq!(tag_labels(&[]).unwrap(), TagLabel::defaults());
        assert_eq!(
            TagLabel::defaults().iter().map(|t| t.label.as_str()).collect::<Vec<_>>(),
            ["team", "project", "cost_center"]
        );
        assert!(tag_labels(&["a=x".into(), "a=y".into()]).unwrap_err().contains("twice"));
    }

    #[test]
    fn principals_of_every_shape() {
        let p = parse_principal("arn:aws:iam::123456789012:user/alice");
        assert_eq!((p.kind, p.name.as_str(), p.role), (PrincipalType::User, "alice", None));
        let p = parse_principal("arn:aws:iam::123456789012:user/BedrockAPIKey-234s");
        assert_eq!((p.kind, p.name.as_str()), (PrincipalType::User, "BedrockAPIKey-234s"));
        let p = parse_principal("arn:aws:iam::123456789012:user/division/eng/bob");
        assert_eq!(p.name, "bob");
        let p = parse_principal("arn:aws:sts::123456789012:assumed-role/Role-1/session-123");
        assert_eq!(p.kind, PrincipalType::AssumedRole);
        assert_eq!(p.name, "session-123");
        assert_eq!(p.role.as_deref(), Some("Role-1"));
        assert_eq!(p.role_arn.as_deref(), Some("arn:aws:sts::123456789012:assumed-role/Role-1"));
        let p = parse_principal("arn:aws:sts::123456789012:assumed-role/Okta-Dev/user@acme.org");
        assert_eq!(p.name, "user@acme.org");
        let p = parse_principal("arn:aws-cn:sts::123456789012:assumed-role/R/s");
        assert_eq!(p.role_arn.as_deref(), Some("arn:aws-cn:sts::123456789012:assumed-role/R"));
        for odd in [
            "",
            "alice",
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::123456789012:role/App",
            "arn:aws:iam::123456789012:user/",
            "arn:aws:sts::123456789012:assumed-role/RoleOnly",
            "arn:aws:sts::123456789012:assumed-role//s",
            "arn::iam::1:user/x",
            "arn:aws:iam",
        ] {
            assert_eq!(parse_principal(odd).kind, PrincipalType::Other, "{odd}");
            assert_eq!(parse_principal(odd).name, "", "{odd}");
        }
    }

    #[test]
    fn email_like_session_names() {
        assert!(looks_like_email("user@acme.org"));
        assert!(looks_like_email("first.last@eu.acme.co.uk"));
        for no in
            ["BedrockAgentCore-0f8d2c1e-1111-4a2b-9c3d-222222222222", "user@", "@acme.org", "a@b", "a@b.", "a b@c.d"]
        {
            assert!(!looks_like_email(no), "{no}");
        }
    }

    #[test]
    fn token_classes_in_the_documented_order() {
        for (ut, t) in [
            ("USE1-Claude4.6Sonnet-input-tokens", TokenType::Input),
            ("USE1-NovaLite-output-tokens", TokenType::Output),
            ("USE1-Claude4Sonnet-input-tokens-cross-region-global-batch", TokenType::Input),
            ("USE1-Claude4.6Sonnet-cache-read-input-token-count", TokenType::CacheRead),
            ("USE1-Claude4.6Sonnet-cache-write-input-token-count", TokenType::CacheWrite),
            ("USE1-MP:USE1_InputTokenCount-Units", TokenType::Input),
            ("USE1-MP:USE1_OutputTokenCount-Units", TokenType::Output),
            ("USE1-MP:USE1_CacheReadInputTokenCount-Units", TokenType::CacheRead),
            ("USE1-MP:USE1_CacheWriteInputTokenCount-Units", TokenType::CacheWrite),
            ("USE1-MP:USE1_CacheWrite1hInputTokenCount-Units", TokenType::CacheWrite),
            ("USE1-MP:USE1_input_tokens_standard-Units", TokenType::Input),
            ("USE1-MP:USE1_cache_read_input_tokens-Units", TokenType::CacheRead),
            ("USE1-AgentCore-Runtime-vCPU-Hours", TokenType::Other),
            ("", TokenType::Other),
        ] {
            assert_eq!(token_type(ut), t, "{ut}");
        }
    }

    #[test]
    fn units_scale_to_tokens() {
        let ut = "USE1-NovaLite-input-tokens";
        assert_eq!(tokens_per_unit(Some("1K tokens"), ut), Some(d("1000")));
        assert_eq!(tokens_per_unit(Some("1M tokens"), ut), Some(d("1000000")));
        assert_eq!(tokens_per_unit(Some("Units"), "USE1-MP:USE1_InputTokenCount-Units"), Some(d("1000000")));
        assert_eq!(tokens_per_unit(Some("tokens"), ut), Some(d("1")));
        assert_eq!(tokens_per_unit(Some(" 1k Tokens "), ut), Some(d("1000")));
        assert_eq!(tokens_per_unit(None, ut), None, "no unit: no guessed scale");
        assert_eq!(tokens_per_unit(Some(""), "USE1-MP:USE1_InputTokenCount-Units"), Some(d("1000000")));
        assert_eq!(tokens_per_unit(Some("Units"), "USE1-MP:USE1_Seats-Units"), None, "Marketplace units of no tokens");
        assert_eq!(tokens_per_unit(None, "USE1-AgentCore-Runtime-vCPU-Hours"), None);
        assert_eq!(tokens_per_unit(Some("Hrs"), ut), None);
        assert_eq!(tokens_per_unit(Some("Images"), ut), None);
        assert_eq!(tokens_per_unit(Some("1G tokens"), ut), None);
        // Found by the fuzzer: a huge count in the unit overflowed the multiplication (a panic).
        assert_eq!(tokens_per_unit(Some("44444444444444444444444444444k tokens"), ut), None);
    }

    #[test]
    fn model_from_product_usage_type_or_product_name() {
        assert_eq!(
            model_name(Some("Claude Sonnet 4.6"), "USE1-Claude4.6Sonnet-input-tokens", None),
            "Claude Sonnet 4.6"
        );
        assert_eq!(model_name(Some(" "), "USE1-NovaLite-output-tokens", None), "NovaLite");
        assert_eq!(model_name(None, "USE1-Claude4.6Sonnet-input-tokens", None), "Claude4.6Sonnet");
        assert_eq!(
            model_name(None, "EUC1-Claude4Sonnet-input-tokens-cross-region-global-batch", None),
            "Claude4Sonnet"
        );
        assert_eq!(model_name(None, "USE1-Claude4.6Sonnet-cache-read-input-token-count", None), "Claude4.6Sonnet");
        assert_eq!(model_name(None, "USE1-Llama3-2-1B-input-tokens", None), "Llama3-2-1B");
        assert_eq!(model_name(None, "NovaPro-input-tokens", None), "NovaPro");
        assert_eq!(model_name(None, "XYZ9-NovaPro-input-tokens", None), "NovaPro", "a new region code");
        assert_eq!(
            model_name(None, "USE1-MP:USE1_InputTokenCount-Units", Some("Claude Sonnet 4.6 (Amazon Bedrock Edition)")),
            "Claude Sonnet 4.6"
        );
        assert_eq!(
            model_name(None, "USE1-AgentCore-Runtime-vCPU-Hours", Some("Amazon Bedrock AgentCore")),
            "Amazon Bedrock AgentCore"
        );
        assert_eq!(model_name(None, "", None), "");
    }

    fn line(principal: &str, usage_type: &str, unit: &str, lit: &str, amount: &str, cost: &str) -> BedrockLine {
        BedrockLine {
            account_id: "111111111111".into(),
            product_region_code: Some("us-east-1".into()),
            principal: (!principal.is_empty()).then(|| principal.into()),
            usage_type: Some(usage_type.into()),
            pricing_unit: Some(unit.into()),
            line_item_type: Some(lit.into()),
            tags: vec![None],
            usage_amount: d(amount),
            unblended_cost: d(cost),
            ..BedrockLine::default()
        }
    }

    #[test]
    fn sums_cost_over_all_types_and_tokens_over_usage_only() {
        let alice = "arn:aws:iam::111111111111:user/alice";
        let ut = "USE1-NovaLite-input-tokens";
        let lines = [
            line(alice, ut, "1K tokens", "Usage", "10", "0.6"),
            line(alice, ut, "1K tokens", "SavingsPlanCoveredUsage", "2.5", "0.15"),
            line(alice, ut, "1K tokens", "DiscountedUsage", "0.5", "0.03"),
            line(alice, ut, "1K tokens", "Credit", "0", "-0.5"),
            line(alice, ut, "1K tokens", "Refund", "1", "-0.06"),
        ];
        let s = aggregate(&lines, SessionNames::EmailsOnly, |_| false);
        assert_eq!(s.len(), 1);
        let (k, a) = s.iter().next().unwrap();
        assert_eq!(
            (k.principal.as_str(), k.principal_type, k.principal_name.as_str()),
            (alice, PrincipalType::User, "alice")
        );
        assert_eq!((k.model.as_str(), k.token_type, k.region.as_str()), ("NovaLite", TokenType::Input, "us-east-1"));
        assert_eq!(a.cost_usd, d("0.22"));
        assert_eq!(a.tokens, Some(d("13000")));
    }

    #[test]
    fn session_names_keep_drop_and_emails_only() {
        let ut = "USE1-NovaLite-output-tokens";
        let lines = [
            line(
                "arn:aws:sts::111111111111:assumed-role/App/BedrockAgentCore-0f8d2c1e",
                ut,
                "1K tokens",
                "Usage",
                "1",
                "1",
            ),
            line(
                "arn:aws:sts::111111111111:assumed-role/App/BedrockAgentCore-9a7b6c5d",
                ut,
                "1K tokens",
                "Usage",
                "2",
                "2",
            ),
            line("arn:aws:sts::111111111111:assumed-role/Okta/dana@acme.org", ut, "1K tokens", "Usage", "4", "4"),
        ];
        let names = |mode| -> Vec<(String, String)> {
            aggregate(&lines, mode, |_| false).into_keys().map(|k| (k.principal, k.principal_name)).collect()
        };
        assert_eq!(
            names(SessionNames::EmailsOnly),
            [
                ("arn:aws:sts::111111111111:assumed-role/App".to_owned(), "App".to_owned()),
                ("arn:aws:sts::111111111111:assumed-role/Okta/dana@acme.org".to_owned(), "dana@acme.org".to_owned()),
            ]
        );
        assert_eq!(names(SessionNames::Keep).len(), 3);
        assert_eq!(
            names(SessionNames::Drop),
            [
                ("arn:aws:sts::111111111111:assumed-role/App".to_owned(), "App".to_owned()),
                ("arn:aws:sts::111111111111:assumed-role/Okta".to_owned(), "Okta".to_owned()),
            ]
        );
        let collapsed = aggregate(&lines, SessionNames::EmailsOnly, |_| false);
        assert_eq!(collapsed.values().next().unwrap().cost_usd, d("3"));
    }

    #[test]
    fn a_team_tag_on_some_rows_does_not_split_a_series() {
        let ut = "USE1-NovaLite-input-tokens";
        let mut tagged = line("arn:aws:iam::111111111111:user/alice", ut, "1K tokens", "Usage", "1", "5");
        tagged.tags = vec![Some("platform".into())];
        let untagged = line("arn:aws:iam::111111111111:user/alice", ut, "1K tokens", "Usage", "2", "1");
        let link = |_: &str| Some(UserLabels { user_id: "a".into(), user: "alice".into(), team: "platform".into() });
        let rows = build_rows(aggregate(&[tagged, untagged], SessionNames::EmailsOnly, |_| false), link, Some(0), None);
        assert_eq!(rows.rows.len(), 1, "{rows:?}");
        assert_eq!(rows.rows[0].amounts, Amounts { cost_usd: d("6"), tokens: Some(d("3000")) });
    }

    #[test]
    fn directory_users_keep_their_sessions_and_collapsed_roles_are_not_people() {
        let ut = "USE1-NovaLite-input-tokens";
        let lines = [
            line(
                "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Dev_1/alice",
                ut,
                "1K tokens",
                "Usage",
                "1",
                "1",
            ),
            line("arn:aws:sts::111111111111:assumed-role/bob/job-17", ut, "1K tokens", "Usage", "1", "1"),
        ];
        let series = aggregate(&lines, SessionNames::EmailsOnly, |n| n == "alice");
        let link = |n: &str| {
            matches!(n, "alice" | "bob").then(|| UserLabels { user_id: n.into(), user: n.into(), team: "t".into() })
        };
        let rows = build_rows(series, link, None, None);
        let users: Vec<(&str, &str)> =
            rows.rows.iter().map(|r| (r.key.principal_name.as_str(), r.user.as_str())).collect();
        assert_eq!(users, [("alice", "alice"), ("bob", "")], "the role named bob is not the user bob");
    }

    #[test]
    fn links_people_prefers_the_team_tag_and_rolls_up_exactly() {
        let ut = "USE1-NovaLite-input-tokens";
        let mut tagged = line("arn:aws:iam::111111111111:user/alice", ut, "1K tokens", "Usage", "1", "5");
        tagged.tags = vec![Some("ml".into())];
        let lines = [
            tagged,
            line("arn:aws:iam::111111111111:user/bob", ut, "1K tokens", "Usage", "1", "3"),
            line("arn:aws:iam::111111111111:user/svc", ut, "1K tokens", "Usage", "2", "1"),
            line("", ut, "1K tokens", "Usage", "3", "2"),
        ];
        let link = |name: &str| {
            matches!(name, "alice" | "bob").then(|| UserLabels {
                user_id: format!("id-{name}"),
                user: format!("{name}@acme.org"),
                team: "platform".into(),
            })
        };
        let rows = build_rows(aggregate(&lines, SessionNames::EmailsOnly, |_| false), link, Some(0), None);
        let by_name: HashMap<&str, &BedrockRow> =
            rows.rows.iter().map(|r| (r.key.principal_name.as_str(), r)).collect();
        assert_eq!((by_name["alice"].user.as_str(), by_name["alice"].team.as_str()), ("alice@acme.org", "ml"));
        assert_eq!((by_name["bob"].user.as_str(), by_name["bob"].team.as_str()), ("bob@acme.org", "platform"));
        assert_eq!((by_name["svc"].user.as_str(), by_name["svc"].team.as_str()), ("", ""));
        assert_eq!(by_name[""].key.principal, "");

        let capped = build_rows(aggregate(&lines, SessionNames::EmailsOnly, |_| false), link, Some(0), Some(2));
        assert_eq!(capped.rolled_up_principals, 2);
        let total: Decimal = capped.rows.iter().map(|r| r.amounts.cost_usd).sum();
        assert_eq!(total, d("11"));
        let other: Vec<&BedrockRow> = capped.rows.iter().filter(|r| r.key.principal == OTHER).collect();
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].amounts, Amounts { cost_usd: d("3"), tokens: Some(d("5000")) });
    }
}
