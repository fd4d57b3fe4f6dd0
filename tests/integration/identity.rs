//! Identity Center against an emulator (moto server: identitystore and sso-admin): more users than one
//! page, groups, a user in two team groups, a deleted user, Unicode names; and the emulator down.

use std::process::Command;

use kiro_exporter_generate::scenario::{ACCOUNT_A, credits, seat};
use kiro_exporter_generate::{Options, Rng, write_period};

use crate::common::*;

/// Creates the directory in moto and prints {"store": id, "ids": {name: user id}}.
const SETUP: &str = r#"
import json, sys, boto3
endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
sso = boto3.client("sso-admin", **kw)
ids = boto3.client("identitystore", **kw)
store = sso.list_instances()["Instances"][0]["IdentityStoreId"]
def user(name, display, email=None):
    args = dict(IdentityStoreId=store, UserName=name, DisplayName=display,
                Name={"GivenName": display.split()[0], "FamilyName": display.split()[-1]})
    if email:
        args["Emails"] = [{"Value": email, "Type": "work", "Primary": True}]
    return ids.create_user(**args)["UserId"]
out = {}
for i in range(1, 251):
    out[f"user{i:03d}"] = user(f"user{i:03d}", f"User {i:03d}")
out["alice"] = user("alice", "Alice Liddell", "alice@example.com")
out["bob"] = user("bob", "Bob Builder", "bob@example.com")
out["carol"] = user("carol", "Carol Danvers")
out["zoe"] = user("zoë", "Zoë Ångström", "zoe@example.com")
out["dave"] = user("dave", "Dave Deleted")
ids.delete_user(IdentityStoreId=store, UserId=out["dave"])
groups = {}
for g in ["team-search", "team-web", "team-api", "everyone"]:
    groups[g] = ids.create_group(IdentityStoreId=store, DisplayName=g)["GroupId"]
def member(g, name):
    ids.create_group_membership(IdentityStoreId=store, GroupId=groups[g], MemberId={"UserId": out[name]})
member("team-search", "alice"); member("everyone", "alice")
member("team-web", "bob"); member("team-api", "bob")
member("everyone", "carol")
member("team-search", "zoe")
member("team-web", "user250")
print(json.dumps({"store": store, "ids": out}))
"#;

struct Setup {
    moto: Emulator,
    store: String,
    ids: serde_json::Value,
    export: tempfile::TempDir,
}

fn setup() -> Setup {
    let moto = Emulator::moto();
    let out = Command::new(venv_tool("python")).args(["-c", SETUP, &moto.endpoint]).output().unwrap();
    assert!(out.status.success(), "setup: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = v["ids"].clone();
    // A bill for the directory's users: alice, bob, carol, zoe, the deleted dave, and user250 (page 3).
    let export = tempfile::tempdir().unwrap();
    let opts = Options::sample();
    let mut rows = Vec::new();
    for (name, used) in
        [("alice", 100.0), ("bob", 200.0), ("carol", 300.0), ("zoe", 400.0), ("dave", 500.0), ("user250", 600.0)]
    {
        let id = ids[name].as_str().unwrap();
        rows.push(seat(ACCOUNT_A, id, "USE1", "Pro", "FlatRateSubscription", 1.0, 20.0, 0));
        rows.push(credits(ACCOUNT_A, id, "USE1", used, 0.0, 3));
    }
    write_period(export.path(), &opts, opts.period, rows, 500, &mut Rng::new(7)).unwrap();
    Setup { moto, store: v["store"].as_str().unwrap().to_owned(), ids, export }
}

fn env(endpoint: &str) -> Vec<(&'static str, String)> {
    aws_env(endpoint)
}

fn run_once(s: &Setup, endpoint: &str, extra: &[&str]) -> Vec<(String, Labels, f64)> {
    let env = env(endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["--cur.path", s.export.path().to_str().unwrap(), "--billing-period", "2026-10"];
    args.extend_from_slice(extra);
    parse(&once(&args, &env))
}

#[test]
fn names_and_teams_from_identity_center() {
    let s = setup();
    let id = |n: &str| s.ids[n].as_str().unwrap().to_owned();
    let m = run_once(
        &s,
        &s.moto.endpoint,
        &["--identity.store-id", &s.store, "--identity.team-group-pattern", "^team-(.+)$"],
    );
    let labels_of = |name: &str| {
        let found = all(&m, "kiro_credits_used", &[("user_id", &id(name))]);
        assert_eq!(found.len(), 1, "{name}");
        (found[0].1["user"].clone(), found[0].1["team"].clone(), found[0].2)
    };
    assert_eq!(labels_of("alice"), ("alice".into(), "search".into(), 100.0));
    // bob is in team-web and team-api: exactly one team, the alphabetically first.
    assert_eq!(labels_of("bob"), ("bob".into(), "api".into(), 200.0));
    assert_eq!(labels_of("carol"), ("carol".into(), "".into(), 300.0), "in no team group");
    assert_eq!(labels_of("zoe"), ("zoë".into(), "search".into(), 400.0));
    // dave was deleted from the directory: his cost stays, shown by id.
    assert_eq!(labels_of("dave"), (id("dave"), "".into(), 500.0));
    // user250 is on the third page of ListUsers.
    assert_eq!(labels_of("user250"), ("user250".into(), "web".into(), 600.0));
    close(value(&m, "kiro_exporter_identity_users", &[]), 254.0, "directory size (250 + 4 live users)");
    close(value(&m, "kiro_exporter_identity_unresolved_users", &[]), 1.0, "dave");
    close(value(&m, "kiro_exporter_identity_up", &[]), 1.0, "up");
    // sum by (team) covers every credit exactly once.
    let total: f64 = all(&m, "kiro_credits_used", &[]).iter().map(|s| s.2).sum();
    assert_eq!(total, 2100.0);

    // Other label modes, and discovery of the store through sso-admin ListInstances.
    let m = run_once(&s, &s.moto.endpoint, &["--identity.identity-center", "--identity.user-label", "email"]);
    assert_eq!(all(&m, "kiro_credits_used", &[("user_id", &id("alice"))])[0].1["user"], "alice@example.com");
    assert_eq!(all(&m, "kiro_credits_used", &[("user_id", &id("carol"))])[0].1["user"], id("carol"), "no email");
    let m = run_once(&s, &s.moto.endpoint, &["--identity.store-id", &s.store, "--identity.user-label", "display-name"]);
    assert_eq!(all(&m, "kiro_credits_used", &[("user_id", &id("zoe"))])[0].1["user"], "Zoë Ångström");
    let m = run_once(
        &s,
        &s.moto.endpoint,
        &["--identity.store-id", &s.store, "--identity.user-label", "hash", "--identity.hash-salt", "pepper"],
    );
    let hashed = kiro_exporter::identity::resolve::hash_user("pepper", &id("alice"));
    let found = all(&m, "kiro_credits_used", &[("user", &hashed)]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1["user_id"], hashed, "no label carries the real id");
    assert!(!m.iter().any(|(_, l, _)| l.values().any(|v| v == &id("alice"))), "alice's id appears nowhere");

    // The users file overrides Identity Center: a team for carol and a nicer name for dave.
    let file = s.export.path().join("users.jsonl");
    std::fs::write(
        &file,
        format!(
            "{{\"UserId\":\"{}\",\"Team\":\"platform\"}}\n{{\"UserId\":\"{}\",\"Username\":\"dave (left)\"}}\n",
            id("carol"),
            id("dave")
        ),
    )
    .unwrap();
    let m = run_once(
        &s,
        &s.moto.endpoint,
        &[
            "--identity.store-id",
            &s.store,
            "--identity.team-group-pattern",
            "^team-(.+)$",
            "--identity.users-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(all(&m, "kiro_credits_used", &[("user_id", &id("carol"))])[0].1["team"], "platform");
    assert_eq!(all(&m, "kiro_credits_used", &[("user_id", &id("dave"))])[0].1["user"], "dave (left)");

    // The cardinality guard: the 2 heaviest users stay, the rest are summed per team with totals exact.
    let m = run_once(
        &s,
        &s.moto.endpoint,
        &["--identity.store-id", &s.store, "--identity.team-group-pattern", "^team-(.+)$", "--metrics.max-users", "2"],
    );
    let kept: Vec<String> = all(&m, "kiro_credits_used", &[])
        .iter()
        .filter(|s| s.1["user"] != "__other__")
        .map(|s| s.1["user"].clone())
        .collect();
    assert_eq!(kept.len(), 2);
    assert!(kept.contains(&"user250".to_owned()) && kept.contains(&id("dave")), "{kept:?}");
    let other: f64 = all(&m, "kiro_credits_used", &[("user", "__other__")]).iter().map(|s| s.2).sum();
    assert_eq!(other, 1000.0);
    close(value(&m, "kiro_credits_used", &[("user", "__other__"), ("team", "search")]), 500.0, "alice + zoe");
    close(value(&m, "kiro_exporter_rolled_up_users", &[]), 4.0, "rolled up");
}

#[test]
fn identity_center_down_still_exports_costs() {
    let s = setup();
    // Nothing listens on this port: the directory cannot be read.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let m = run_once(&s, &dead, &["--identity.store-id", &s.store, "--identity.team-group-pattern", "^team-(.+)$"]);
    let alice = s.ids["alice"].as_str().unwrap();
    let found = all(&m, "kiro_credits_used", &[("user_id", alice)]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1["user"], alice, "falls back to the id");
    close(found[0].2, 100.0, "cost metrics still there");
    close(value(&m, "kiro_exporter_identity_up", &[]), 0.0, "down");
    assert!(
        value(&m, "kiro_exporter_refresh_errors_total", &[("source", "identity"), ("kind", "identity_api")]) >= 1.0
    );
    close(value(&m, "kiro_exporter_identity_unresolved_users", &[]), 6.0, "nobody resolved");
}
