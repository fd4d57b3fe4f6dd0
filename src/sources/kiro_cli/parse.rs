//! Reading `/usage` as kiro-cli prints it, whichever version and layout.
//!
//! The text is first cleaned ([`strip_ansi`]: colours dropped, cursor moves turned into line breaks), then the
//! plan is read line by line (`Estimated Usage | resets on … | PLAN`, `Plan: PLAN | …`, or the old box's
//! `| KIRO …`), and every figure from the text with the frame removed and the lines joined, so a phrase that a
//! narrow terminal wrapped reads like an unwrapped one. Numbers are kept as decimals until the end, so a ratio
//! is exactly what the printed figures give (132.35 of 1000 is 0.13235, not 0.13234999…).

use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use regex::Regex;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{CliError, CliUsage};

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ESC \`, two-byte escapes) and
/// other control characters except newlines and tabs. A cursor move (`ESC[5;1H`, `ESC[2B`, …) and a lone
/// carriage return become a line break, so text that a full-screen program placed on separate rows does not
/// run together.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    let csi = |it: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String| {
        for c in it.by_ref() {
            if ('@'..='~').contains(&c) {
                match c {
                    // Cursor up/down/next/previous line, position, vertical position.
                    'A' | 'B' | 'E' | 'F' | 'H' | 'f' | 'd' => out.push('\n'),
                    // Cursor forward, horizontal position.
                    'C' | 'G' => out.push(' '),
                    _ => {}
                }
                break;
            }
        }
    };
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.next() {
                Some('[') => csi(&mut it, &mut out),
                Some(']') => {
                    while let Some(c) = it.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && it.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\u{9b}' => csi(&mut it, &mut out),
            '\n' | '\t' => out.push(c),
            '\r' => {
                if it.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A number as printed: `1,000.00`, `0.5`, `12`; `,` is a thousands separator.
const NUM: &str = r"[0-9][0-9,]*(?:\.[0-9]+)?";

fn re(pattern: &str) -> Regex {
    // The patterns are constants, proven to compile by the unit tests.
    Regex::new(&pattern.replace("NUM", NUM)).unwrap_or_else(|_| unreachable!())
}

/// `(U of L covered in plan)`, with `Bonus credits` before it when it is about bonus credits.
static COVERED: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(bonus\s+credits?\s*:?\s*)?\(\s*(NUM)\s+of\s+(NUM)\s+covered\s+in\s+plan\s*\)"));
/// The percentage right after the credits line: `…covered in plan), 19.7%` or on the next line.
static PCT_AFTER_COVERED: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^\s*,?\s*[\u{2580}-\u{259f}\u{2500}-\u{257f}\s]*(NUM)\s*%"));
/// A percentage that ends a bar: `████░░░ 13.2%`.
static PCT_AFTER_BAR: LazyLock<Regex> = LazyLock::new(|| re(r"[\u{2580}-\u{259f}]\s*(NUM)\s*%"));
static RESET_ISO: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)resets\s+on\s+([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[^0-9]|$)"));
static RESET_MD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)resets\s+on\s+([0-9]{1,2})/([0-9]{1,2})(?:[^0-9/]|$)"));
/// A bonus grant: `45.53/2000 credits used` or `Welcome bonus - 500.00/500 used`.
static BONUS_USED: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(NUM)\s*/\s*(NUM)\s+(?:credits\s+)?used"));
/// A bonus expiry: `expires in 19 days` or `(13 days left)`.
static EXPIRES: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)expires\s+in\s+(NUM)\s+days?|\(\s*(NUM)\s+days?\s+left\s*\)"));
static OVERAGE_STATE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)overages?\s*:\s*(enabled|disabled)"));
static OVERAGE_USED: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)overages?\s*\(\s*(NUM)\s+used\s*\)|credits\s+used\s*:\s*(NUM)"));
static OVERAGE_COST: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)est(?:\.|imated)?\s+cost\s*:\s*\$?\s*(NUM)"));
static PLAN_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^plan\s*:\s*([^|]+)"));

/// Parses a printed number; `None` for what a decimal cannot hold.
fn decimal(s: &str) -> Option<Decimal> {
    let cleaned: String = s.chars().filter(|c| *c != ',').collect();
    Decimal::from_str(&cleaned).ok()
}

/// The nearest `f64` to a decimal, so it prints as the decimal does (`0.13235`).
fn float(d: Decimal) -> Option<f64> {
    d.normalize().to_string().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn cap(m: &regex::Captures<'_>, i: usize) -> Option<Decimal> {
    m.get(i).and_then(|g| decimal(g.as_str()))
}

/// Box-drawing and bar characters are layout, not content.
fn is_frame(c: char) -> bool {
    ('\u{2500}'..='\u{259f}').contains(&c) || c == '|'
}

/// Bar characters (`█`, `░`) stay in the joined text: a percentage right after them is the bar's.
fn is_bar(c: char) -> bool {
    ('\u{2580}'..='\u{259f}').contains(&c)
}

/// Collapses whitespace and trims, for a plan name.
fn tidy(s: &str) -> Option<String> {
    let plan: String = s.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(64).collect();
    (!plan.is_empty()).then_some(plan)
}

/// The plan a line names: `Estimated Usage | resets on … | KIRO PRO` (after the second `|`),
/// `Plan: Q Developer Pro` / `Plan: KIRO PRO MAX | 1 usage breakdowns`.
fn plan_in_header(line: &str) -> Option<String> {
    let line = line.trim_matches(|c: char| c.is_whitespace() || (is_frame(c) && c != '|'));
    if line.to_ascii_lowercase().contains("estimated usage") {
        let third = line.split('|').nth(2)?;
        return tidy(&third.chars().take_while(|c| !is_frame(*c)).collect::<String>());
    }
    let m = PLAN_LINE.captures(line)?;
    tidy(m.get(1)?.as_str())
}

/// The old box: `┃      | KIRO FREE      ┃`.
fn plan_in_box(line: &str) -> Option<String> {
    let upper = line.find("KIRO")?;
    tidy(&line[upper..].chars().take_while(|c| !is_frame(*c)).collect::<String>())
}

/// The next `MM/DD` on or after `today` (this year or next), at 00:00 UTC.
fn next_date(month: u32, day: u32, today: NaiveDate) -> Option<DateTime<Utc>> {
    let this = NaiveDate::from_ymd_opt(today.year(), month, day);
    let date = match this {
        Some(d) if d >= today => d,
        _ => NaiveDate::from_ymd_opt(today.year().checked_add(1)?, month, day)?,
    };
    midnight(date)
}

fn midnight(date: NaiveDate) -> Option<DateTime<Utc>> {
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

/// `now` plus a printed number of days; absurd values (negative, beyond a century) are missing, never a panic.
fn days_from(now: DateTime<Utc>, days: Decimal) -> Option<DateTime<Utc>> {
    if days.is_sign_negative() || days > Decimal::from(36_500) {
        return None;
    }
    let secs = days.checked_mul(Decimal::from(86_400))?.trunc().to_i64()?;
    now.checked_add_signed(chrono::TimeDelta::try_seconds(secs)?)
}

/// A sum of printed figures: `None` until one is added, and missing for good once it overflows.
#[derive(Default, Clone, Copy)]
struct Total {
    value: Option<Decimal>,
    overflowed: bool,
}

impl Total {
    fn add(&mut self, d: Decimal) {
        match self.value {
            _ if self.overflowed => {}
            None => self.value = Some(d),
            Some(v) => {
                self.value = v.checked_add(d);
                self.overflowed = self.value.is_none();
            }
        }
    }

    fn get(self) -> Option<f64> {
        self.value.and_then(float)
    }
}

/// Reads `/usage` output; `now` anchors a `MM/DD` reset's year and the bonus expiry.
///
/// Without usage figures the answer is [`CliError::NoFigures`] when a plan was printed (kiro-cli 2.20's
/// one-line `Plan: … | 1 usage breakdowns`, or a managed account), [`CliError::NotLoggedIn`] for a login
/// prompt, and [`CliError::Unparseable`] otherwise.
pub fn parse_usage(raw: &str, now: DateTime<Utc>) -> Result<CliUsage, CliError> {
    let mut text = strip_ansi(raw);
    // The full-screen pane ends with `esc to close`; what follows is whatever the terminal showed after it.
    if let Some(end) = text.to_ascii_lowercase().find("esc to close") {
        text.truncate(end);
    }
    let lines = || text.lines();
    let plan = lines().find_map(plan_in_header).or_else(|| lines().find_map(plan_in_box)).unwrap_or_default();
    let mut u = CliUsage { plan, ..CliUsage::default() };
    // The text with the frame removed and lines joined, for the figures.
    let flat = text
        .chars()
        .map(|c| if (is_frame(c) && !is_bar(c)) || c.is_whitespace() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");

    let mut used = None;
    let mut limit = None;
    let mut pct = None;
    let mut bonus_used = Total::default();
    let mut bonus_limit = Total::default();
    for m in COVERED.captures_iter(&flat) {
        let (Some(a), Some(b)) = (cap(&m, 2), cap(&m, 3)) else { continue };
        if m.get(1).is_some() {
            bonus_used.add(a);
            bonus_limit.add(b);
        } else if used.is_none() {
            (used, limit) = (Some(a), Some(b));
            let after = m.get(0).map_or("", |g| &flat[g.end()..]);
            pct = PCT_AFTER_COVERED.captures(after).and_then(|p| cap(&p, 1));
        }
    }
    if pct.is_none() {
        pct = PCT_AFTER_BAR.captures(&flat).and_then(|p| cap(&p, 1));
    }
    u.used = used.and_then(float);
    u.limit = limit.and_then(float);
    u.used_ratio = match (used, limit) {
        (Some(used), Some(limit)) if !limit.is_zero() => used.checked_div(limit),
        _ => pct.and_then(|p| p.checked_div(Decimal::ONE_HUNDRED)),
    }
    .and_then(float);

    if let Some(m) = RESET_ISO.captures(&flat) {
        let part = |i: usize| m.get(i).and_then(|g| g.as_str().parse::<u32>().ok());
        if let (Some(y), Some(mo), Some(d)) = (part(1), part(2), part(3)) {
            u.reset = i32::try_from(y).ok().and_then(|y| NaiveDate::from_ymd_opt(y, mo, d)).and_then(midnight);
        }
    } else if let Some(m) = RESET_MD.captures(&flat) {
        let part = |i: usize| m.get(i).and_then(|g| g.as_str().parse::<u32>().ok());
        if let (Some(mo), Some(d)) = (part(1), part(2)) {
            u.reset = next_date(mo, d, now.date_naive());
        }
    }

    // Every grant counts: the `Bonus Credits:` list has one line per grant; the soonest expiry is the one to
    // watch.
    for m in BONUS_USED.captures_iter(&flat) {
        if let (Some(a), Some(b)) = (cap(&m, 1), cap(&m, 2)) {
            bonus_used.add(a);
            bonus_limit.add(b);
        }
    }
    u.bonus_used = bonus_used.get();
    u.bonus_limit = bonus_limit.get();
    u.bonus_expiry = EXPIRES
        .captures_iter(&flat)
        .filter_map(|m| cap(&m, 1).or_else(|| cap(&m, 2)))
        .filter_map(|days| days_from(now, days))
        .min();

    u.overage_enabled =
        OVERAGE_STATE.captures(&flat).and_then(|m| m.get(1)).map(|g| g.as_str().eq_ignore_ascii_case("enabled"));
    u.overage_credits_used =
        OVERAGE_USED.captures(&flat).and_then(|m| cap(&m, 1).or_else(|| cap(&m, 2))).and_then(float);
    u.overage_cost_usd = OVERAGE_COST.captures(&flat).and_then(|m| cap(&m, 1)).and_then(float);

    if u.used_ratio.is_none() && u.used.is_none() && u.bonus_used.is_none() {
        let lower = flat.to_ascii_lowercase();
        if lower.contains("not logged in") || lower.contains("please log in") || lower.contains("kiro-cli login") {
            return Err(CliError::NotLoggedIn);
        }
        if !u.plan.is_empty() {
            return Err(CliError::NoFigures { plan: u.plan, retry: None });
        }
        let shown: String = flat.chars().take(120).collect();
        return Err(CliError::Unparseable(format!("no usage figures in {shown:?}")));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::format_value;

    fn now() -> DateTime<Utc> {
        ts("2026-09-12T10:00:00Z")
    }

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn days(n: i64) -> Option<DateTime<Utc>> {
        Some(now() + chrono::TimeDelta::days(n))
    }

    /// The early-2026 box (CodexBar's documented capture).
    const FREE: &str = "\
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
┃                                                          | KIRO FREE      ┃
┣━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┫
┃ Monthly credits:                                                          ┃
┃ ████████████████████████████████████████████████████████ 100% (resets on 01/01) ┃
┃                              (0.00 of 50 covered in plan)                 ┃
┃ Bonus credits:                                                            ┃
┃ 0.00/100 credits used, expires in 88 days                                 ┃
┗━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┛
";

    /// Current kiro-cli on a terminal: noise first, ISO reset, emoji bonus line, bar on the next line.
    const PANEL: &str = "\u{1b}[38;5;244mOne or more mcp server did not load correctly.\u{1b}[0m\r\n\
        \u{1b}[38;5;244mTip: run /compact when the context is above 80%\u{1b}[0m\r\n\
        \r\n\
        \u{1b}[1mEstimated Usage\u{1b}[0m | resets on 2026-10-01 | \u{1b}[38;5;141mKIRO PRO\u{1b}[0m\r\n\
        \r\n\
        \u{1b}[1m🎁 Bonus credits:\u{1b}[0m 45.53/2000 credits used, expires in 19 days\r\n\
        \r\n\
        \u{1b}[1mCredits\u{1b}[0m (132.35 of 1000 covered in plan)\r\n\
        \u{1b}[38;5;141m█████\u{1b}[38;5;238m░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░\u{1b}[0m 13.2%\r\n\
        \r\n\
        Overages: \u{1b}[1mDisabled\u{1b}[0m\r\n\
        \r\n\
        \u{1b}[2mTo learn more about pricing, visit the Kiro website.\u{1b}[0m\r\n";

    /// The full-screen pane: cursor moves instead of line ends, one-space indent, `esc to close`.
    const PANE: &str = "\u{1b}[?1049h\u{1b}[H\u{1b}[2J\u{1b}[1;1H Estimated Usage | resets on 2026-10-01 | KIRO PRO MAX\
        \u{1b}[3;1H Credits (5012.5 of 10000 covered in plan)\
        \u{1b}[4;1H \u{1b}[32m█████████\u{1b}[90m░░░░░░░░░\u{1b}[0m 50.1%\
        \u{1b}[6;1H Bonus Credits:\
        \u{1b}[7;1H Welcome bonus - 500.00/500 used (13 days left)\
        \u{1b}[8;1H Referral bonus - 20.5/100 used (40 days left)\
        \u{1b}[10;1H Overages (3.20 used)\
        \u{1b}[12;1H \u{1b}[2mesc to close\u{1b}[0m\u{1b}[13;1H Bonus - 1/1 used (1 day left) Overages: Disabled";

    #[test]
    fn all_patterns_compile() {
        for r in [
            &COVERED,
            &PCT_AFTER_COVERED,
            &PCT_AFTER_BAR,
            &RESET_ISO,
            &RESET_MD,
            &BONUS_USED,
            &EXPIRES,
            &OVERAGE_STATE,
            &OVERAGE_USED,
            &OVERAGE_COST,
            &PLAN_LINE,
        ] {
            assert!(!r.as_str().is_empty());
        }
    }

    #[test]
    fn the_current_panel_with_colours_and_noise() {
        let u = parse_usage(PANEL, now()).unwrap();
        assert_eq!(u.plan, "KIRO PRO");
        assert_eq!((u.used, u.limit), (Some(132.35), Some(1000.0)));
        // used / limit, not the rounded 13.2%, and exactly as a decimal prints it.
        assert_eq!(format_value(u.used_ratio.unwrap()), "0.13235");
        assert_eq!(u.reset, Some(ts("2026-10-01T00:00:00Z")));
        assert_eq!((u.bonus_used, u.bonus_limit), (Some(45.53), Some(2000.0)));
        assert_eq!(u.bonus_expiry, days(19));
        assert_eq!(u.overage_enabled, Some(false));
        assert_eq!((u.overage_credits_used, u.overage_cost_usd), (None, None));
    }

    #[test]
    fn percentage_after_a_comma_without_colours() {
        let out =
            "Estimated Usage | resets on 2026-10-01 | KIRO PRO\n\nCredits (197.23 of 1000 covered in plan), 19.7%\n";
        let u = parse_usage(out, now()).unwrap();
        assert_eq!(format_value(u.used_ratio.unwrap()), "0.19723");
        // 0.57 / 50 in f64 is 0.011399999999999999.
        let u = parse_usage(
            "Estimated Usage | resets on 2026-10-01 | KIRO FREE\nCredits (0.57 of 50 covered in plan), 1.1%",
            now(),
        );
        assert_eq!(format_value(u.unwrap().used_ratio.unwrap()), "0.0114");
        // Only the printed percentage when the figures are missing, still without float noise.
        let u =
            parse_usage("Estimated Usage | resets on 2026-10-01 | KIRO PRO\nCredits\n███░░░ 19.7%\n", now()).unwrap();
        // 19.7 / 100 in f64 is 0.19699999999999998.
        assert_eq!(format_value(u.used_ratio.unwrap()), "0.197");
        assert_eq!((u.used, u.limit), (None, None));
    }

    #[test]
    fn overage_enabled_with_credits_and_cost() {
        let out = "Estimated Usage | resets on 2026-10-01 | KIRO POWER\n\
                   Credits (20300.26 of 10000 covered in plan)\n\
                   ████████████████████████████████████████ 203.0%\n\
                   Overages: Enabled  billed at $0.04 per credit\n\
                   Credits used: 10,300.26\n\
                   Est. cost: $412.01 USD\n";
        let u = parse_usage(out, now()).unwrap();
        assert_eq!(u.plan, "KIRO POWER");
        assert_eq!((u.used, u.limit), (Some(20300.26), Some(10000.0)));
        assert_eq!(format_value(u.used_ratio.unwrap()), "2.030026");
        assert_eq!(u.overage_enabled, Some(true));
        assert_eq!(u.overage_credits_used, Some(10300.26));
        assert_eq!(u.overage_cost_usd, Some(412.01));
        assert_eq!((u.bonus_used, u.bonus_expiry), (None, None));
        let per_request = "KIRO PRO\n(1 of 2 covered in plan)\nOverages: Enabled billed at $0.04 per request\n";
        assert_eq!(parse_usage(per_request, now()).unwrap().overage_enabled, Some(true));
    }

    #[test]
    fn the_full_screen_pane() {
        let u = parse_usage(PANE, now()).unwrap();
        assert_eq!(u.plan, "KIRO PRO MAX");
        // What follows `esc to close` is not the pane.
        assert_eq!((u.used, u.limit), (Some(5012.5), Some(10000.0)));
        assert_eq!(format_value(u.used_ratio.unwrap()), "0.50125");
        assert_eq!(u.reset, Some(ts("2026-10-01T00:00:00Z")));
        // The grants summed, the soonest expiry kept.
        assert_eq!((u.bonus_used, u.bonus_limit), (Some(520.5), Some(600.0)));
        assert_eq!(u.bonus_expiry, days(13));
        assert_eq!((u.overage_credits_used, u.overage_enabled), (Some(3.2), None));
    }

    #[test]
    fn bonus_as_covered_in_plan() {
        let out = "Estimated Usage | resets on 2026-10-01 | KIRO STUDENT\n\
                   Bonus credits (50 of 100 covered in plan)\n\
                   Credits (10 of 1000 covered in plan)\n██ 1.0%\n";
        let u = parse_usage(out, now()).unwrap();
        assert_eq!(u.plan, "KIRO STUDENT");
        assert_eq!((u.bonus_used, u.bonus_limit), (Some(50.0), Some(100.0)));
        assert_eq!((u.used, u.limit, u.used_ratio), (Some(10.0), Some(1000.0), Some(0.01)));
    }

    #[test]
    fn plans_as_printed() {
        for (line, plan) in [
            ("Estimated Usage | resets on 2026-10-01 | KIRO FREE", "KIRO FREE"),
            ("\u{1b}[1mEstimated Usage\u{1b}[0m | resets on 2026-10-01 | \u{1b}[35mKIRO PRO+\u{1b}[0m", "KIRO PRO+"),
            ("┃ Estimated Usage | resets on 10/01 | KIRO POWER   ┃", "KIRO POWER"),
            (" Estimated Usage  |  resets on 2026-10-01  |  KIRO   PRO MAX ", "KIRO PRO MAX"),
            ("Plan: KIRO PRO MAX | 1 usage breakdowns", "KIRO PRO MAX"),
            ("Plan: Q Developer Pro", "Q Developer Pro"),
        ] {
            let out = format!("{line}\nCredits (1 of 10 covered in plan)\n");
            assert_eq!(parse_usage(&out, now()).unwrap().plan, plan, "{line}");
        }
    }

    #[test]
    fn the_plan_without_figures() {
        let managed = "\u{1b}[1mPlan:\u{1b}[0m Q Developer Pro\nYour plan is managed by admin\n";
        assert_eq!(
            parse_usage(managed, now()),
            Err(CliError::NoFigures { plan: "Q Developer Pro".into(), retry: None })
        );
        let v2_20 = "Plan: KIRO PRO MAX | 1 usage breakdowns\r\n";
        let e = parse_usage(v2_20, now()).unwrap_err();
        assert_eq!(e, CliError::NoFigures { plan: "KIRO PRO MAX".into(), retry: None });
        assert_eq!(e.kind(), "no_figures");
    }

    #[test]
    fn the_old_box() {
        let u = parse_usage(FREE, now()).unwrap();
        assert_eq!(u.plan, "KIRO FREE");
        // The ratio is used / limit; the bar's 100% is only a fallback.
        assert_eq!((u.used, u.limit, u.used_ratio), (Some(0.0), Some(50.0), Some(0.0)));
        assert_eq!(u.reset, Some(ts("2027-01-01T00:00:00Z")));
        assert_eq!((u.bonus_used, u.bonus_limit), (Some(0.0), Some(100.0)));
        assert_eq!(u.bonus_expiry, days(88));
        assert_eq!(u.overage_enabled, None);
    }

    #[test]
    fn the_old_box_in_colour_with_overage() {
        let out = "\u{1b}[1m\u{1b}[38;5;141m┃ | KIRO PRO+ ┃\u{1b}[0m\n\
                   ┃ Monthly credits: ┃\n\
                   ┃ \u{1b}[32m██████████████████████\u{1b}[0m 112.5% (resets on 12/01) ┃\n\
                   ┃ (2,250.00 of 2,000 covered in plan) ┃\n";
        let u = parse_usage(out, now()).unwrap();
        assert_eq!(u.plan, "KIRO PRO+");
        assert_eq!(u.used_ratio, Some(1.125));
        assert_eq!((u.used, u.limit), (Some(2250.0), Some(2000.0)));
        assert_eq!(u.reset, Some(ts("2026-12-01T00:00:00Z")));
        assert_eq!((u.bonus_used, u.bonus_limit, u.bonus_expiry), (None, None, None));
    }

    #[test]
    fn narrow_and_wide_terminals() {
        let narrow =
            "┃ | KIRO POWER ┃\n┃ ███ 7% ┃\n┃ (resets on 09/12) ┃\n┃ (700.5 of ┃\n┃ 10,000 covered in plan) ┃\n";
        let u = parse_usage(narrow, now()).unwrap();
        assert_eq!(u.plan, "KIRO POWER");
        assert_eq!(format_value(u.used_ratio.unwrap()), "0.07005");
        assert_eq!(u.reset, Some(ts("2026-09-12T00:00:00Z")), "today counts as the next reset");
        let wide = FREE.replace("━", "━━━").replace("┃ ", "┃                    ");
        assert_eq!(parse_usage(&wide, now()).unwrap(), parse_usage(FREE, now()).unwrap());
        let wide_panel = PANEL.replace(" | ", "    |    ").replace("\r\n", "\r\n   ");
        assert_eq!(parse_usage(&wide_panel, now()).unwrap(), parse_usage(PANEL, now()).unwrap());
    }

    #[test]
    fn reset_dates() {
        let reset = |s: &str| parse_usage(&format!("KIRO PRO\n██ 50% ({s})\n"), now()).unwrap().reset;
        assert_eq!(reset("resets on 03/01"), Some(ts("2027-03-01T00:00:00Z")), "past MM/DD is next year");
        assert_eq!(reset("resets on 2026-03-01"), Some(ts("2026-03-01T00:00:00Z")), "an ISO date is as printed");
        assert_eq!(reset("resets on 2026-02-30"), None);
        assert_eq!(reset("resets on 13/45"), None);
    }

    #[test]
    fn garbage_and_login_prompts() {
        assert!(matches!(parse_usage("hello world\nnothing here", now()), Err(CliError::Unparseable(_))));
        assert_eq!(parse_usage("", now()).unwrap_err().kind(), "unparseable");
        assert_eq!(parse_usage("error: You are not logged in. Run kiro-cli login", now()), Err(CliError::NotLoggedIn));
        // A percentage in a tip is not usage.
        assert!(matches!(parse_usage("Tip: compact above 80%", now()), Err(CliError::Unparseable(_))));
        // A bar's percentage is enough to report, with what is missing left out.
        let u = parse_usage("usage ██ 42%", now()).unwrap();
        assert_eq!((u.plan.as_str(), u.used_ratio, u.limit), ("", Some(0.42), None));
    }

    #[test]
    fn absurd_numbers_are_missing_not_a_panic() {
        let u = parse_usage("KIRO PRO\n██ 5% \n1/2 credits used, expires in 100000000000 days", now()).unwrap();
        assert_eq!(u.bonus_expiry, None);
        assert_eq!((u.bonus_used, u.bonus_limit), (Some(1.0), Some(2.0)));
        let r = parse_usage("KIRO PRO ██ 1e308% 99999999999999999999999999999999/1 credits used", now());
        assert!(matches!(r, Err(CliError::NoFigures { .. })), "{r:?}");
        let huge = "79228162514264337593543950335";
        let out = format!("KIRO PRO ({huge} of 0.0000001 covered in plan) {huge}/1 used {huge}/1 used");
        let u = parse_usage(&out, now()).unwrap();
        assert_eq!(u.used_ratio, None, "the ratio overflows");
        assert_eq!(u.bonus_used, None, "the sum overflows");
    }

    /// Every cut of the captures (as a run killed mid-write leaves them) and every capture without one of its
    /// lines parses to an answer, never a panic; a success always has a figure.
    #[test]
    fn cut_and_incomplete_captures() {
        for capture in [FREE, PANEL, PANE] {
            let cuts = capture.char_indices().map(|(i, _)| capture[..i].to_owned());
            let lines: Vec<&str> = capture.lines().collect();
            let without = (0..lines.len()).map(|skip| {
                lines.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, l)| *l).collect::<Vec<_>>().join("\n")
            });
            for input in cuts.chain(without) {
                if let Ok(u) = parse_usage(&input, now()) {
                    assert!(u.used_ratio.is_some() || u.used.is_some() || u.bonus_used.is_some(), "{input:?}");
                }
            }
        }
    }

    #[test]
    fn ansi_stripping() {
        assert_eq!(strip_ansi("\u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7}x\r\n"), "red x\n");
        assert_eq!(strip_ansi("a\u{1b}[2;1Hb\u{1b}[5Cc\rd"), "a\nb c\nd");
        assert_eq!(decimal("1,000.00"), Some(Decimal::from(1000)));
        assert_eq!(decimal("abc"), None);
    }
}
