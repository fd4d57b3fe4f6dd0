//! The hand-made Amazon Bedrock rows of generated exports (account A, us-east-1 unless noted). Tests
//! compute their expected metrics by hand from this table (default tag labels, `--bedrock.session-names
//! emails-only`, the sample users file, where `alice` is a user name and `bob@example.com` bob's email):
//!
//! | principal (`line_item_iam_principal`)          | tags (`iamPrincipal/`)  | rows: usage type, unit, type: amount -> USD |
//! |------------------------------------------------|-------------------------|---------------------------------------------|
//! | IAM user `alice`                               | cost-center=1001        | `USE1-Claude4.6Sonnet-input-tokens` 1K: 1200 -> 3.60 and 800 -> 2.40, a `Credit` -1.00; `-output-tokens` 300 -> 4.50; `-cache-read-input-token-count` 500 -> 0.15; `-cache-write-input-token-count` 100 -> 0.375 (no `product['model']`) |
//! | IAM user `BedrockAPIKey-234s` (API key)        | none                    | model `Nova Lite`: `USE1-NovaLite-input-tokens` 1M: 2.5 -> 0.15; `-output-tokens` 1M: 0.5 -> 0.12, a `Refund` of 0.1 -> -0.024 |
//! | role `AgentRuntime`, sessions `BedrockAgentCore-<uuid>` x2 | project=support-bot | model `Nova Pro`: `USE1-NovaPro-input-tokens` 1K: 100 -> 0.08 and 200 -> 0.16; AgentCore `USE1-AgentCore-Runtime-vCPU-Hours` 10 -> 0.895 (product name `Amazon Bedrock AgentCore`) |
//! | role `DataPipeline`, session `nightly-etl`     | team=data, project=etl  | us-west-2 `AmazonBedrockFoundationModels` `USW2-TitanEmbedTextV2-input-tokens` 1K, `DiscountedUsage`: 3000 -> 0.06 |
//! | federated `AWSReservedSSO_Developer_.../bob@example.com` | team=platform | Marketplace `Claude Sonnet 4.6 (Amazon Bedrock Edition)`, Units: `USE1-MP:USE1_InputTokenCount-Units` 0.8 -> 2.40, `_OutputTokenCount` 0.1 -> 1.50, `_CacheReadInputTokenCount` 2 -> 0.60, `_CacheWriteInputTokenCount` 0.2 -> 0.75 |
//! | federated `.../sam@partner.example` (no user)  | none                    | Marketplace, model `Claude Haiku 4.5`: `USE1-MP:USE1_input_tokens_standard-Units` 0.05 -> 0.05 |
//! | none (account B)                               | none                    | `USE1-NovaMicro-input-tokens` 1K: 1000 -> 0.035 |
//!
//! Plus a Marketplace row that is not Bedrock (`Acme Log Analytics`, 10 USD), which must not count.
//! Expected: alice (user `alice`, team `search` from the users file) Claude4.6Sonnet input 5.00 USD /
//! 2,000,000 tokens, output 4.50 / 300,000, cache_read 0.15 / 500,000, cache_write 0.375 / 100,000; the API
//! key Nova Lite input 0.15 / 2,500,000, output 0.096 / 500,000; `assumed-role/AgentRuntime` (collapsed)
//! Nova Pro input 0.24 / 300,000 and `Amazon Bedrock AgentCore` other 0.895 (no tokens);
//! `assumed-role/DataPipeline` (collapsed) TitanEmbedTextV2 input 0.06 / 3,000,000; bob (user `bob`, team
//! `platform` from the tag, not his `payments`) Claude Sonnet 4.6 input 2.40 / 800,000, output 1.50 /
//! 100,000, cache_read 0.60 / 2,000,000, cache_write 0.75 / 200,000; sam Claude Haiku 4.5 input 0.05 /
//! 50,000; no principal NovaMicro input 0.035 / 1,000,000. Total 16.801 USD.

use std::borrow::Cow;

use super::Row;
use super::scenario::{ACCOUNT_A, ACCOUNT_B};

pub const ALICE: &str = "arn:aws:iam::111111111111:user/alice";
pub const API_KEY: &str = "arn:aws:iam::111111111111:user/BedrockAPIKey-234s";
pub const AGENT_1: &str =
    "arn:aws:sts::111111111111:assumed-role/AgentRuntime/BedrockAgentCore-6f1c2a9e-0b7d-4e5f-8a9b-1c2d3e4f5a6b";
pub const AGENT_2: &str =
    "arn:aws:sts::111111111111:assumed-role/AgentRuntime/BedrockAgentCore-9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d";
pub const PIPELINE: &str = "arn:aws:sts::111111111111:assumed-role/DataPipeline/nightly-etl";
pub const BOB: &str =
    "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/bob@example.com";
pub const SAM: &str =
    "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/sam@partner.example";

/// What one Bedrock row differs in.
struct Spec {
    principal: Option<&'static str>,
    tags: &'static [(&'static str, &'static str)],
    product_code: &'static str,
    usage_type: &'static str,
    unit: &'static str,
    line_item_type: &'static str,
    amount: f64,
    cost: f64,
    model: Option<&'static str>,
    product_name: &'static str,
    marketplace: bool,
    /// `product_product_family = 'Amazon Bedrock'` (every Bedrock row since July 2026).
    family: bool,
}

const BEDROCK: Spec = Spec {
    principal: None,
    tags: &[],
    product_code: "AmazonBedrock",
    usage_type: "",
    unit: "1K tokens",
    line_item_type: "Usage",
    amount: 0.0,
    cost: 0.0,
    model: None,
    product_name: "Amazon Bedrock",
    marketplace: false,
    family: true,
};

const CLAUDE_MP: Spec = Spec {
    product_code: "c5zmtb8yzhwx6bq0pnnh4o0j1",
    unit: "Units",
    product_name: "Claude Sonnet 4.6 (Amazon Bedrock Edition)",
    marketplace: true,
    family: false,
    ..BEDROCK
};

fn specs() -> Vec<Spec> {
    let alice = Spec { principal: Some(ALICE), tags: &[("cost-center", "1001")], ..BEDROCK };
    let key = Spec { principal: Some(API_KEY), unit: "1M tokens", model: Some("Nova Lite"), ..BEDROCK };
    let agent = Spec { tags: &[("project", "support-bot")], model: Some("Nova Pro"), ..BEDROCK };
    let bob = Spec { principal: Some(BOB), tags: &[("team", "platform")], ..CLAUDE_MP };
    vec![
        Spec { usage_type: "USE1-Claude4.6Sonnet-input-tokens", amount: 1200.0, cost: 3.60, ..alice },
        Spec { usage_type: "USE1-Claude4.6Sonnet-input-tokens", amount: 800.0, cost: 2.40, ..alice },
        Spec { usage_type: "USE1-Claude4.6Sonnet-input-tokens", line_item_type: "Credit", cost: -1.00, ..alice },
        Spec { usage_type: "USE1-Claude4.6Sonnet-output-tokens", amount: 300.0, cost: 4.50, ..alice },
        Spec { usage_type: "USE1-Claude4.6Sonnet-cache-read-input-token-count", amount: 500.0, cost: 0.15, ..alice },
        Spec { usage_type: "USE1-Claude4.6Sonnet-cache-write-input-token-count", amount: 100.0, cost: 0.375, ..alice },
        Spec { usage_type: "USE1-NovaLite-input-tokens", amount: 2.5, cost: 0.15, ..key },
        Spec { usage_type: "USE1-NovaLite-output-tokens", amount: 0.5, cost: 0.12, ..key },
        Spec { usage_type: "USE1-NovaLite-output-tokens", line_item_type: "Refund", amount: 0.1, cost: -0.024, ..key },
        Spec { principal: Some(AGENT_1), usage_type: "USE1-NovaPro-input-tokens", amount: 100.0, cost: 0.08, ..agent },
        Spec { principal: Some(AGENT_2), usage_type: "USE1-NovaPro-input-tokens", amount: 200.0, cost: 0.16, ..agent },
        Spec {
            principal: Some(AGENT_1),
            product_code: "AmazonBedrockAgentCore",
            usage_type: "USE1-AgentCore-Runtime-vCPU-Hours",
            unit: "vCPU-Hours",
            amount: 10.0,
            cost: 0.895,
            model: None,
            product_name: "Amazon Bedrock AgentCore",
            family: false,
            ..agent
        },
        Spec {
            principal: Some(PIPELINE),
            tags: &[("team", "data"), ("project", "etl")],
            product_code: "AmazonBedrockFoundationModels",
            usage_type: "USW2-TitanEmbedTextV2-input-tokens",
            line_item_type: "DiscountedUsage",
            amount: 3000.0,
            cost: 0.06,
            family: false,
            ..BEDROCK
        },
        Spec { usage_type: "USE1-MP:USE1_InputTokenCount-Units", amount: 0.8, cost: 2.40, ..bob },
        Spec { usage_type: "USE1-MP:USE1_OutputTokenCount-Units", amount: 0.1, cost: 1.50, ..bob },
        Spec { usage_type: "USE1-MP:USE1_CacheReadInputTokenCount-Units", amount: 2.0, cost: 0.60, ..bob },
        Spec { usage_type: "USE1-MP:USE1_CacheWriteInputTokenCount-Units", amount: 0.2, cost: 0.75, ..bob },
        Spec {
            principal: Some(SAM),
            usage_type: "USE1-MP:USE1_input_tokens_standard-Units",
            amount: 0.05,
            cost: 0.05,
            model: Some("Claude Haiku 4.5"),
            product_name: "Claude Haiku 4.5 (Amazon Bedrock Edition)",
            family: true,
            ..CLAUDE_MP
        },
        Spec { usage_type: "USE1-NovaMicro-input-tokens", amount: 1000.0, cost: 0.035, ..BEDROCK },
        // Marketplace, but not Bedrock: never counted.
        Spec {
            principal: Some(ALICE),
            product_code: "prodsaas123acme",
            usage_type: "USE1-MP:USE1_Seats-Units",
            amount: 1.0,
            cost: 10.0,
            product_name: "Acme Log Analytics",
            ..CLAUDE_MP
        },
    ]
}

/// The Bedrock rows of the period, spread over its first days.
pub fn rows() -> Vec<Row> {
    specs()
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let account = if s.principal.is_none() { ACCOUNT_B } else { ACCOUNT_A };
            let mut r = Row::new(account, s.product_code, (i % 10) as u32);
            let region = if s.usage_type.starts_with("USW2") { "us-west-2" } else { "us-east-1" };
            r.region_code = region;
            r.product_region = Some(region);
            r.operation = Cow::Borrowed("InvokeModel");
            r.usage_type = Cow::Borrowed(s.usage_type);
            r.pricing_unit = s.unit;
            r.line_item_type = s.line_item_type;
            r.usage_amount = s.amount;
            r.cost = s.cost;
            r.product_model = s.model;
            r.product_name = s.product_name;
            r.family = if s.family { "Amazon Bedrock" } else { "" };
            r.entity = if s.marketplace { "AWS Marketplace" } else { "AWS" };
            r.principal = s.principal;
            r.principal_tags = s.tags.to_vec();
            r
        })
        .collect()
}
