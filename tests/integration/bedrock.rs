//! Amazon Bedrock per IAM principal, model and token class, on the embedded engine, with values computed by
//! hand from the scenario in `src/generate/bedrock.rs` (the Athena test compares the same series value for
//! value against MiniStack).

use kiro_exporter_generate::bedrock::{AGENT_1, AGENT_2, ALICE, API_KEY, BOB, PIPELINE, SAM};

use crate::common::*;

const AGENT_ROLE: &str = "arn:aws:sts::111111111111:assumed-role/AgentRuntime";
const PIPELINE_ROLE: &str = "arn:aws:sts::111111111111:assumed-role/DataPipeline";

fn sum(s: &[(String, Labels, f64)], name: &str, want: &[(&str, &str)]) -> f64 {
    all(s, name, want).iter().map(|(_, _, v)| v).sum()
}

fn run_on(export: &Export, extra: &[&str]) -> Vec<(String, Labels, f64)> {
    let users = export.users();
    let base = ["--cur.path", export.path().to_str().unwrap(), "--identity.users-file", users.to_str().unwrap()];
    parse(&once(&[&base[..], extra].concat(), &[]))
}

#[test]
fn cost_and_tokens_per_principal_model_and_token_class() {
    let export = small_export();
    let s = run_on(&export, &[]);
    // (principal, model, token_type, USD, tokens or None)
    let expected: &[(&str, &str, &str, f64, Option<f64>)] = &[
        (ALICE, "Claude4.6Sonnet", "input", 5.0, Some(2_000_000.0)),
        (ALICE, "Claude4.6Sonnet", "output", 4.5, Some(300_000.0)),
        (ALICE, "Claude4.6Sonnet", "cache_read", 0.15, Some(500_000.0)),
        (ALICE, "Claude4.6Sonnet", "cache_write", 0.375, Some(100_000.0)),
        (API_KEY, "Nova Lite", "input", 0.15, Some(2_500_000.0)),
        (API_KEY, "Nova Lite", "output", 0.096, Some(500_000.0)),
        (AGENT_ROLE, "Nova Pro", "input", 0.24, Some(300_000.0)),
        (AGENT_ROLE, "Amazon Bedrock AgentCore", "other", 0.895, None),
        (PIPELINE_ROLE, "TitanEmbedTextV2", "input", 0.06, Some(3_000_000.0)),
        (BOB, "Claude Sonnet 4.6", "input", 2.4, Some(800_000.0)),
        (BOB, "Claude Sonnet 4.6", "output", 1.5, Some(100_000.0)),
        (BOB, "Claude Sonnet 4.6", "cache_read", 0.6, Some(2_000_000.0)),
        (BOB, "Claude Sonnet 4.6", "cache_write", 0.75, Some(200_000.0)),
        (SAM, "Claude Haiku 4.5", "input", 0.05, Some(50_000.0)),
        ("", "NovaMicro", "input", 0.035, Some(1_000_000.0)),
    ];
    assert_eq!(all(&s, "bedrock_cost_usd", &[]).len(), expected.len());
    assert_eq!(all(&s, "bedrock_tokens", &[]).len(), expected.len() - 1, "AgentCore hours are not tokens");
    for (principal, model, token_type, usd, tokens) in expected {
        let want = [("principal", *principal), ("model", *model), ("token_type", *token_type)];
        close(value(&s, "bedrock_cost_usd", &want), *usd, &format!("cost {want:?}"));
        match tokens {
            Some(t) => close(value(&s, "bedrock_tokens", &want), *t, &format!("tokens {want:?}")),
            None => assert!(all(&s, "bedrock_tokens", &want).is_empty()),
        }
    }
    // The Marketplace row that is not Bedrock (10 USD) is not counted.
    close(sum(&s, "bedrock_cost_usd", &[]), 16.801, "total Bedrock cost");

    // Principal labels, the cross-link to Identity Center users, tags.
    let alice = &all(&s, "bedrock_cost_usd", &[("principal", ALICE), ("token_type", "input")])[0].1;
    let want: Labels = [
        ("billing_period", "2026-10"),
        ("aws_account_id", "111111111111"),
        ("aws_region", "us-east-1"),
        ("principal", ALICE),
        ("principal_type", "user"),
        ("principal_name", "alice"),
        ("user", "alice"),
        ("team", "search"),
        ("project", ""),
        ("cost_center", "1001"),
        ("model", "Claude4.6Sonnet"),
        ("token_type", "input"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(alice, &want);
    let bob = &all(&s, "bedrock_cost_usd", &[("principal", BOB)])[0].1;
    assert_eq!(
        (&bob["principal_type"][..], &bob["principal_name"][..], &bob["user"][..], &bob["team"][..]),
        ("assumed-role", "bob@example.com", "bob", "platform"),
        "linked by email; the team tag beats his payments team"
    );
    let key = &all(&s, "bedrock_cost_usd", &[("principal", API_KEY)])[0].1;
    assert_eq!((&key["principal_name"][..], &key["user"][..], &key["team"][..]), ("BedrockAPIKey-234s", "", ""));
    let agent = &all(&s, "bedrock_cost_usd", &[("principal", AGENT_ROLE)])[0].1;
    assert_eq!((&agent["principal_name"][..], &agent["project"][..]), ("AgentRuntime", "support-bot"));
    let pipeline = &all(&s, "bedrock_cost_usd", &[("principal", PIPELINE_ROLE)])[0].1;
    assert_eq!((&pipeline["aws_region"][..], &pipeline["team"][..]), ("us-west-2", "data"));
    let none = &all(&s, "bedrock_cost_usd", &[("principal", "")])[0].1;
    assert_eq!((&none["aws_account_id"][..], &none["principal_type"][..]), ("222222222222", ""));

    // sum by (team) works and is exact.
    close(sum(&s, "bedrock_cost_usd", &[("team", "search")]), 10.025, "team search");
    close(sum(&s, "bedrock_cost_usd", &[("team", "platform")]), 5.25, "team platform");
    close(sum(&s, "bedrock_cost_usd", &[("team", "data")]), 0.06, "team data");
    close(sum(&s, "bedrock_cost_usd", &[("team", "")]), 1.466, "no team");
    close(value(&s, "kiro_exporter_bedrock_principal_data", &[]), 1.0, "principal column present");
}

#[test]
fn session_names_and_tag_labels_are_configurable() {
    let export = small_export();
    let s = run_on(
        &export,
        &[
            "--bedrock.session-names",
            "keep",
            "--bedrock.tag-label",
            "cc=iamPrincipal/cost-center",
            "--bedrock.tag-label",
            "Project Name=iamPrincipal/project",
        ],
    );
    close(value(&s, "bedrock_cost_usd", &[("principal", AGENT_1), ("model", "Nova Pro")]), 0.08, "session 1");
    close(value(&s, "bedrock_cost_usd", &[("principal", AGENT_2), ("model", "Nova Pro")]), 0.16, "session 2");
    let p = &all(&s, "bedrock_cost_usd", &[("principal", PIPELINE)])[0].1;
    assert_eq!(&p["principal_name"], "nightly-etl");
    assert_eq!(&p["Project_Name"], "etl", "label name sanitised");
    assert!(!p.contains_key("cost_center") && !p.contains_key("project"), "only the configured tag labels: {p:?}");
    // Without a team tag label, team comes from the linked user only: bob is in payments.
    let bob = &all(&s, "bedrock_cost_usd", &[("principal", BOB)])[0].1;
    assert_eq!(&bob["team"], "payments");
    assert_eq!(&all(&s, "bedrock_cost_usd", &[("principal", ALICE)])[0].1["cc"], "1001");

    let s = run_on(&export, &["--bedrock.session-names", "drop"]);
    let sso = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Developer_0123456789abcdef";
    close(sum(&s, "bedrock_cost_usd", &[("principal", sso)]), 5.3, "bob and sam collapsed to the role");
    assert!(all(&s, "bedrock_cost_usd", &[("principal", BOB)]).is_empty());

    let msg =
        fails(&["--cur.path", export.path().to_str().unwrap(), "--bedrock.tag-label", "model=iamPrincipal/model"], &[]);
    assert!(msg.contains("--bedrock.tag-label") && msg.contains("model"), "{msg}");
}

#[test]
fn without_the_principal_column_cost_stays_per_account_and_model() {
    let export = small_export();
    drop_columns(&export.partition("2026-10"), &["line_item_iam_principal"]);
    let users = export.users();
    let out = run(
        &["--once", "--cur.path", export.path().to_str().unwrap(), "--identity.users-file", users.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.matches("enable IAM principal data").count(), 1, "one log line: {log}");
    let s = parse(&String::from_utf8(out.stdout).unwrap());
    close(value(&s, "kiro_exporter_bedrock_principal_data", &[]), 0.0, "principal column absent");
    assert!(all(&s, "bedrock_cost_usd", &[]).iter().all(|(_, l, _)| l["principal"].is_empty() && l["user"].is_empty()));
    close(sum(&s, "bedrock_cost_usd", &[]), 16.801, "nothing lost");
    close(sum(&s, "bedrock_cost_usd", &[("model", "Claude4.6Sonnet")]), 10.025, "per model");
    close(
        sum(&s, "bedrock_tokens", &[("model", "Claude Sonnet 4.6"), ("token_type", "cache_read")]),
        2_000_000.0,
        "per token class",
    );
}

#[test]
fn the_principal_cap_rolls_the_rest_into_other_exactly() {
    let export = small_export();
    let s = run_on(&export, &["--metrics.max-users", "2"]);
    close(value(&s, "kiro_exporter_rolled_up_principals", &[]), 5.0, "7 principals, 2 kept");
    let kept: std::collections::BTreeSet<String> =
        all(&s, "bedrock_cost_usd", &[]).iter().map(|(_, l, _)| l["principal"].clone()).collect();
    assert_eq!(kept, [ALICE, BOB, "__other__"].iter().map(|s| s.to_string()).collect());
    close(sum(&s, "bedrock_cost_usd", &[]), 16.801, "total kept exact");
    close(sum(&s, "bedrock_cost_usd", &[("principal", "__other__")]), 1.526, "the rest");
    close(sum(&s, "bedrock_tokens", &[("principal", "__other__"), ("model", "Nova Lite")]), 3_000_000.0, "tokens kept");
}
