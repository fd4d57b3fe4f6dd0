//! A hand-made Kiro user activity report set for the scenario's period (account A, us-east-1), in the
//! layout Kiro delivers (`AWSLogs/<account>/KiroLogs/user_report/<region>/YYYY/MM/DD/00/<client>_<account>_user_report_<ts>.csv`).
//! Tests compute their expected metrics by hand from this table:
//!
//! | day (file folder)   | client  | header | rows: user credits (messages auto/sonnet[/opus], conversations) |
//! |---------------------|---------|--------|------------------------------------------------------------------|
//! | 1                   | IDE     | v1     | bob 400 (10/20, 5); carol as `d-1234567890.<carol>` 1900 (0/0, 0) |
//! | 1                   | CLI     | v1     | bob 200 (4/6, 2)                                                  |
//! | 1                   | PLUGIN  | v1     | bob 50 (1/0, 1)                                                   |
//! | 2, delivered twice  | IDE     | v1     | first bob 300 (100/100, 100); re-delivered: bob 350 (7/8, 3)      |
//! | 2                   | CLI     | v1     | bob 100 (2/3, 1); newbie 2100 (tier `PRO_PLUS`, cap 500, overage on) |
//! | 3                   | IDE     | v2     | bob 100 (5/5/2, 2)                                                |
//! | 31 (in 11/01/)      | IDE     | v2     | bob 10 (1/1/1, 1)                                                 |
//! | Nov 1 (in 11/01/)   | IDE     | v2     | bob 999: another month, ignored                                   |
//!
//! v1 is `Date,UserId,Client_Type,Chat_Conversations,Credits_Used,Overage_Cap,Overage_Credits_Used,
//! Overage_Enabled,Subscription_Tier,auto_messages,claude_sonnet_4_messages`; v2 (drifted) is lower case,
//! reordered, with `email`, `new_user` and a new `claude_opus_4_messages` column. bob's rows say tier `PRO`,
//! cap 1000, overage enabled (`TRUE`); carol's `PRO_PLUS`, cap 0, `FALSE`.
//!
//! Expected: bob 1210 reported (IDE 860, CLI 300, PLUGIN 50) against 1050.5 billed, Pro: overage 210;
//! messages IDE auto 23, sonnet 34, opus 3, CLI auto 6, sonnet 9, PLUGIN auto 1, sonnet 0; conversations
//! IDE 11, CLI 3, PLUGIN 1; cap 1000, enabled 1. carol 1900 reported against 1800 billed, Pro+ (her seat):
//! no overage; cap 0, enabled 0. newbie (only in the report) 2100 reported, 0 billed, Pro+ from the tier,
//! overage 100, cap 500, enabled 1. alice (only in the bill) keeps 550.75 and has no reported figure.
//! Latest date: 2026-10-31.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::scenario::{ACCOUNT_A, BOB, CAROL};
use kiro_exporter::model::BillingPeriod;

/// The user who is only in the report.
pub const NEWBIE: &str = "0e110000-0000-4000-8000-00000000000c";

const V1: &str = "Date,UserId,Client_Type,Chat_Conversations,Credits_Used,Overage_Cap,Overage_Credits_Used,Overage_Enabled,Subscription_Tier,auto_messages,claude_sonnet_4_messages";
const V2: &str = "userid,email,date,client_type,subscription_tier,credits_used,overage_enabled,overage_cap,overage_credits_used,chat_conversations,new_user,auto_messages,claude_sonnet_4_messages,claude_opus_4_messages";

/// One report file: folder date, delivery time (hhmm), client, drifted header, rows' date, rows.
type File = (String, &'static str, &'static str, bool, String, Vec<R>);

/// One report row.
struct R {
    user: String,
    credits: &'static str,
    tier: &'static str,
    cap: &'static str,
    enabled: &'static str,
    auto: u32,
    sonnet: u32,
    opus: u32,
    conversations: u32,
}

fn bob(credits: &'static str, auto: u32, sonnet: u32, opus: u32, conversations: u32) -> R {
    R { user: BOB.into(), credits, tier: "PRO", cap: "1000", enabled: "TRUE", auto, sonnet, opus, conversations }
}

fn render(v2: bool, date: &str, client: &str, rows: &[R]) -> String {
    let mut out = String::from(if v2 { V2 } else { V1 });
    out.push('\n');
    for r in rows {
        let line = if v2 {
            format!(
                "{},{}@example.com,{date},{client},{},{},{},{},0,{},false,{},{},{}",
                r.user, "someone", r.tier, r.credits, r.enabled, r.cap, r.conversations, r.auto, r.sonnet, r.opus
            )
        } else {
            format!(
                "{date},{},{client},{},{},{},0,{},{},{},{}",
                r.user, r.conversations, r.credits, r.cap, r.enabled, r.tier, r.auto, r.sonnet
            )
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Writes the report set for `period` under `dir` (the folder that will hold `AWSLogs/`).
pub fn write_reports(dir: &Path, period: BillingPeriod) -> io::Result<Vec<PathBuf>> {
    let next = period.next();
    let ym = |p: BillingPeriod| format!("{:04}-{:02}", p.year(), p.month());
    let (this, following) = (ym(period), ym(next));
    let last_day = period.days();
    let carol = R {
        user: format!("d-1234567890.{CAROL}"),
        credits: "1900",
        tier: "PRO_PLUS",
        cap: "0",
        enabled: "FALSE",
        auto: 0,
        sonnet: 0,
        opus: 0,
        conversations: 0,
    };
    let newbie = R {
        user: NEWBIE.into(),
        credits: "2100",
        tier: "PRO_PLUS",
        cap: "500",
        enabled: "TRUE",
        auto: 0,
        sonnet: 0,
        opus: 0,
        conversations: 0,
    };
    let files: Vec<File> = vec![
        (format!("{this}-01"), "0200", "KIRO_IDE", false, format!("{this}-01"), vec![bob("400", 10, 20, 0, 5), carol]),
        (format!("{this}-01"), "0200", "KIRO_CLI", false, format!("{this}-01"), vec![bob("200", 4, 6, 0, 2)]),
        (format!("{this}-01"), "0200", "PLUGIN", false, format!("{this}-01"), vec![bob("50", 1, 0, 0, 1)]),
        (format!("{this}-02"), "0200", "KIRO_IDE", false, format!("{this}-02"), vec![bob("300", 100, 100, 0, 100)]),
        (format!("{this}-02"), "0900", "KIRO_IDE", false, format!("{this}-02"), vec![bob("350", 7, 8, 0, 3)]),
        (format!("{this}-02"), "0200", "KIRO_CLI", false, format!("{this}-02"), vec![bob("100", 2, 3, 0, 1), newbie]),
        (format!("{this}-03"), "0200", "KIRO_IDE", true, format!("{this}-03"), vec![bob("100", 5, 5, 2, 2)]),
        (
            format!("{following}-01"),
            "0200",
            "KIRO_IDE",
            true,
            format!("{this}-{last_day:02}"),
            vec![bob("10", 1, 1, 1, 1)],
        ),
        (format!("{following}-01"), "0300", "KIRO_IDE", true, format!("{following}-01"), vec![bob("999", 99, 0, 0, 0)]),
    ];
    let mut written = Vec::new();
    for (folder, hhmm, client, v2, date, rows) in files {
        let (y, rest) = folder.split_at(4);
        let (m, d) = (&rest[1..3], &rest[4..6]);
        let path = dir
            .join("AWSLogs")
            .join(ACCOUNT_A)
            .join("KiroLogs/user_report/us-east-1")
            .join(y)
            .join(m)
            .join(d)
            .join("00");
        fs::create_dir_all(&path)?;
        let file = path.join(format!("{client}_{ACCOUNT_A}_user_report_{y}{m}{d}{hhmm}.csv"));
        fs::write(&file, render(v2, &date, client, &rows))?;
        written.push(file);
    }
    Ok(written)
}
