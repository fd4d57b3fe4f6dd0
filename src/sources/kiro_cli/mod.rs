//! Live personal usage from `kiro-cli chat --no-interactive "/usage"`.
//!
//! The bill arrives a day or two late; the CLI shows the logged-in user's plan right now. Its output is an
//! ANSI-decorated box; [`parse_usage`] strips the escape sequences and reads what is there (plan name, the
//! `███ X%` bar, `resets on MM/DD`, `(U of L covered in plan)`, bonus `X/Y credits used` and
//! `expires in N days`), tolerating width changes, missing parts and `1,000.00`-style numbers. [`run`]
//! runs the command with a timeout and a cap on its output; the process is killed on timeout and on drop.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use tokio::io::AsyncReadExt;

/// What `/usage` said.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CliUsage {
    /// Plan as printed in the header, e.g. `KIRO FREE`, `KIRO PRO+`.
    pub plan: String,
    /// Monthly credits used, as a fraction (1.0 = 100%).
    pub used_ratio: Option<f64>,
    pub used: Option<f64>,
    pub limit: Option<f64>,
    /// Next reset, 00:00 UTC of the printed day.
    pub reset: Option<DateTime<Utc>>,
    pub bonus_used: Option<f64>,
    pub bonus_limit: Option<f64>,
    pub bonus_expiry: Option<DateTime<Utc>>,
}

/// Why a `/usage` run gave no usage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    #[error("{path}: command not found")]
    NotFound { path: String },
    #[error("{path}: cannot run: {reason}")]
    Spawn { path: String, reason: String },
    #[error("kiro-cli is not logged in (run `kiro-cli login`)")]
    NotLoggedIn,
    #[error("kiro-cli did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("kiro-cli exited with {status}: {stderr}")]
    Exit { status: String, stderr: String },
    #[error("kiro-cli printed more than {0} bytes")]
    TooMuchOutput(usize),
    #[error("cannot read kiro-cli's /usage output: {0}")]
    Unparseable(String),
}

impl CliError {
    /// `kind` label of `kiro_exporter_refresh_errors_total{source="kiro_cli"}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Spawn { .. } => "spawn",
            Self::NotLoggedIn => "not_logged_in",
            Self::Timeout(_) => "timeout",
            Self::Exit { .. } => "exit",
            Self::TooMuchOutput(_) => "output_too_large",
            Self::Unparseable(_) => "unparseable",
        }
    }
}

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ESC \`, two-byte escapes) and
/// other control characters except newlines and tabs.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.next() {
                Some('[') => {
                    for c in it.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = it.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && it.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\u{9b}' => {
                for c in it.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Parses a number as printed (`1,000.00`, `0.5`, `12`); `,` is a thousands separator.
fn number(s: &str) -> Option<f64> {
    let cleaned: String = s.chars().filter(|c| *c != ',').collect();
    cleaned.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The numeric token (digits, `,` and `.`) that ends right before byte `end` of `s`.
fn number_before(s: &str, end: usize) -> Option<f64> {
    let head = s[..end].trim_end();
    let start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit() || *c == ',' || *c == '.')
        .last()
        .map(|(i, _)| i)?;
    number(&head[start..])
}

/// The numeric token that starts right after byte `start` of `s`.
fn number_after(s: &str, start: usize) -> Option<f64> {
    let tail = s[start..].trim_start();
    let end = tail
        .char_indices()
        .take_while(|(_, c)| c.is_ascii_digit() || *c == ',' || *c == '.')
        .last()
        .map(|(i, c)| i + c.len_utf8())?;
    number(&tail[..end])
}

/// Box-drawing and bar characters are layout, not content.
fn is_frame(c: char) -> bool {
    ('\u{2500}'..='\u{259f}').contains(&c) || c == '|'
}

fn plan_from(line: &str) -> Option<String> {
    let upper = line.find("KIRO")?;
    let text: String = line[upper..].chars().take_while(|c| !is_frame(*c)).collect();
    let plan = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!plan.is_empty()).then_some(plan)
}

/// The next `MM/DD` on or after `today` (this year or next), at 00:00 UTC.
fn next_date(month: u32, day: u32, today: NaiveDate) -> Option<DateTime<Utc>> {
    let this = NaiveDate::from_ymd_opt(today.year(), month, day);
    let date = match this {
        Some(d) if d >= today => d,
        _ => NaiveDate::from_ymd_opt(today.year() + 1, month, day)?,
    };
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?).into()
}

/// Reads `/usage` output; `now` anchors the reset year and the bonus expiry.
pub fn parse_usage(raw: &str, now: DateTime<Utc>) -> Result<CliUsage, CliError> {
    let text = strip_ansi(raw);
    let lower = text.to_ascii_lowercase();
    if lower.contains("not logged in") || lower.contains("please log in") || lower.contains("kiro-cli login") {
        return Err(CliError::NotLoggedIn);
    }
    let mut u = CliUsage { plan: text.lines().find_map(plan_from).unwrap_or_default(), ..CliUsage::default() };
    // Everything else is read from the text with the frame removed and lines joined, so narrow terminals
    // that wrap a phrase over two lines read the same as wide ones.
    let flat = text
        .chars()
        .map(|c| if is_frame(c) || c.is_whitespace() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let lower = flat.to_ascii_lowercase();
    if let Some(pct) = flat.find('%') {
        u.used_ratio = number_before(&flat, pct).map(|v| v / 100.0);
    }
    if let Some(i) = lower.find("resets on ") {
        let date: String =
            flat[i + "resets on ".len()..].chars().take_while(|c| c.is_ascii_digit() || *c == '/').collect();
        if let Some((m, d)) = date.split_once('/')
            && let (Ok(m), Ok(d)) = (m.parse(), d.parse())
        {
            u.reset = next_date(m, d, now.date_naive());
        }
    }
    if let Some(i) = lower.find(" covered in plan") {
        let head = &flat[..i];
        if let Some(of) = head.rfind(" of ") {
            u.used = number_before(head, of);
            u.limit = number_after(head, of + " of ".len());
        }
    }
    if let Some(i) = lower.find(" credits used") {
        let head = &flat[..i];
        if let Some(slash) = head.rfind('/') {
            u.bonus_used = number_before(head, slash);
            u.bonus_limit = number_after(head, slash + 1);
        }
    }
    if let Some(i) = lower.find("expires in ") {
        let days = number_after(&flat, i + "expires in ".len());
        // Absurd values (negative, or beyond what a date can hold) are reported as missing, never a panic.
        u.bonus_expiry = days
            .filter(|d| (0.0..=36_500.0).contains(d))
            .and_then(|d| chrono::TimeDelta::try_seconds((d * 86_400.0) as i64))
            .and_then(|delta| now.checked_add_signed(delta));
    }
    if u.used_ratio.is_none() && u.used.is_none() && u.bonus_used.is_none() {
        let shown: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(120).collect();
        return Err(CliError::Unparseable(format!("no usage figures in {shown:?}")));
    }
    if u.used_ratio.is_none()
        && let (Some(used), Some(limit)) = (u.used, u.limit)
        && limit > 0.0
    {
        u.used_ratio = Some(used / limit);
    }
    Ok(u)
}

/// Output beyond this is not usage: the run fails instead of buffering it.
pub const MAX_OUTPUT: usize = 1 << 20;

/// Runs `<path> chat --no-interactive /usage` and parses its output.
pub async fn run(path: &Path, timeout: Duration, now: DateTime<Utc>) -> Result<CliUsage, CliError> {
    let shown = path.display().to_string();
    let mut child = tokio::process::Command::new(path)
        .args(["chat", "--no-interactive", "/usage"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CliError::NotFound { path: shown.clone() },
            _ => CliError::Spawn { path: shown.clone(), reason: e.to_string() },
        })?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.take(MAX_OUTPUT as u64 + 1).read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.take(64 * 1024).read_to_end(&mut err).await;
                // Keep draining past the cap so a chatty child never blocks on a full pipe.
                let _ = tokio::io::copy(s, &mut tokio::io::sink()).await;
            }
        };
        tokio::join!(read_out, read_err);
        if out.len() > MAX_OUTPUT {
            return Err(CliError::TooMuchOutput(MAX_OUTPUT));
        }
        let status = child.wait().await.map_err(|e| CliError::Spawn { path: shown.clone(), reason: e.to_string() })?;
        Ok((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(timeout, work).await {
        Ok(r) => r?,
        // Dropping `child` (kill_on_drop) kills the process.
        Err(_) => return Err(CliError::Timeout(timeout)),
    };
    let stdout = String::from_utf8_lossy(&out);
    let stderr = String::from_utf8_lossy(&err);
    if !status.success() {
        let combined = format!("{stdout}\n{stderr}").to_ascii_lowercase();
        if combined.contains("not logged in") || combined.contains("kiro-cli login") {
            return Err(CliError::NotLoggedIn);
        }
        let first = strip_ansi(&stderr).lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_owned();
        return Err(CliError::Exit { status: status.to_string(), stderr: first.chars().take(200).collect() });
    }
    parse_usage(&stdout, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

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

    #[test]
    fn the_documented_free_plan_output() {
        let u = parse_usage(FREE, now()).unwrap();
        assert_eq!(u.plan, "KIRO FREE");
        assert_eq!(u.used_ratio, Some(1.0));
        assert_eq!((u.used, u.limit), (Some(0.0), Some(50.0)));
        assert_eq!(u.reset, Some(ts("2027-01-01T00:00:00Z")));
        assert_eq!((u.bonus_used, u.bonus_limit), (Some(0.0), Some(100.0)));
        assert_eq!(u.bonus_expiry, Some(ts("2027-02-19T10:00:00Z")));
    }

    #[test]
    fn paid_plan_with_overage_and_no_bonus_in_colour() {
        let out = "\u{1b}[1m\u{1b}[38;5;141m┃ | KIRO PRO+ ┃\u{1b}[0m\n\
                   ┃ Monthly credits: ┃\n\
                   ┃ \u{1b}[32m██████████████████████\u{1b}[0m 112.5% (resets on 12/01) ┃\n\
                   ┃ (2,000.00 of 2,000 covered in plan) ┃\n";
        let u = parse_usage(out, now()).unwrap();
        assert_eq!(u.plan, "KIRO PRO+");
        assert_eq!(u.used_ratio, Some(1.125));
        assert_eq!((u.used, u.limit), (Some(2000.0), Some(2000.0)));
        assert_eq!(u.reset, Some(ts("2026-12-01T00:00:00Z")));
        assert_eq!((u.bonus_used, u.bonus_limit, u.bonus_expiry), (None, None, None));
    }

    #[test]
    fn narrow_and_wide_terminals() {
        let narrow =
            "┃ | KIRO POWER ┃\n┃ ███ 7% ┃\n┃ (resets on 11/23) ┃\n┃ (700.5 of ┃\n┃ 10,000 covered in plan) ┃\n";
        let u = parse_usage(narrow, now()).unwrap();
        assert_eq!(u.plan, "KIRO POWER");
        assert_eq!(u.used_ratio, Some(0.07));
        assert_eq!(u.reset, Some(ts("2026-11-23T00:00:00Z")), "today counts as the next reset");
        let wide = FREE.replace("━", "━━━").replace("┃ ", "┃                    ");
        assert_eq!(parse_usage(&wide, now()).unwrap(), parse_usage(FREE, now()).unwrap());
    }

    #[test]
    fn a_reset_date_in_the_past_is_next_year() {
        let u = parse_usage("KIRO PRO\n██ 50% (resets on 03/01)\n", now()).unwrap();
        assert_eq!(u.reset, Some(ts("2027-03-01T00:00:00Z")));
        assert_eq!(u.used_ratio, Some(0.5));
    }

    #[test]
    fn garbage_and_login_prompts() {
        assert!(matches!(parse_usage("hello world\nnothing here", now()), Err(CliError::Unparseable(_))));
        assert_eq!(parse_usage("", now()).unwrap_err().kind(), "unparseable");
        assert_eq!(parse_usage("error: You are not logged in. Run kiro-cli login", now()), Err(CliError::NotLoggedIn));
        // A lone percentage is enough to report, with what is missing left out.
        let u = parse_usage("usage 42%", now()).unwrap();
        assert_eq!((u.plan.as_str(), u.used_ratio, u.limit), ("", Some(0.42), None));
    }

    #[test]
    fn absurd_numbers_are_missing_not_a_panic() {
        let u = parse_usage("KIRO PRO\n██ 5% \n1/2 credits used, expires in 100000000000 days", now()).unwrap();
        assert_eq!(u.bonus_expiry, None);
        assert_eq!((u.bonus_used, u.bonus_limit), (Some(1.0), Some(2.0)));
        let u = parse_usage("KIRO PRO 1e308% 99999999999999999999999/1 credits used", now()).unwrap();
        assert!(u.used_ratio.is_none_or(f64::is_finite));
    }

    #[test]
    fn ansi_stripping() {
        assert_eq!(strip_ansi("\u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7}x\r\n"), "red x\n");
        assert_eq!(number("1,000.00"), Some(1000.0));
        assert_eq!(number("abc"), None);
    }
}

/// The kiro-cli source's state between runs: last good usage and whether the last run worked.
#[derive(Debug, Default)]
pub struct CliMonitor {
    state: std::sync::Mutex<CliState>,
}

#[derive(Debug, Default)]
struct CliState {
    last_good: Option<CliUsage>,
    last_success: Option<std::time::SystemTime>,
    up: Option<bool>,
}

impl CliMonitor {
    /// Records a run's outcome; a failure keeps the last good values.
    pub fn record(&self, outcome: &Result<CliUsage, CliError>, at: std::time::SystemTime) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(u) => {
                s.last_good = Some(u.clone());
                s.last_success = Some(at);
                s.up = Some(true);
            }
            Err(_) => s.up = Some(false),
        }
    }

    /// Whether a run has succeeded yet.
    pub fn has_succeeded(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).last_success.is_some()
    }
}

impl crate::metrics::Families for CliMonitor {
    fn families(&self, _now: std::time::SystemTime) -> Vec<crate::metrics::exposition::Family> {
        use crate::metrics::exposition::{Family, Kind};
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut up = Family::new(
            "kiro_cli_up",
            Kind::Gauge,
            "1 if the last `kiro-cli /usage` run gave usage, 0 if it failed (missing command, not logged in, timeout, unreadable output).",
        );
        if let Some(ok) = s.up {
            up.push(vec![], if ok { 1.0 } else { 0.0 });
        }
        let mut fresh = Family::new(
            "kiro_cli_last_success_timestamp_seconds",
            Kind::Gauge,
            "Time of the last successful kiro-cli /usage run; the kiro_cli_* values are from then.",
        );
        let mut out = vec![up];
        if let (Some(u), Some(t)) = (&s.last_good, s.last_success) {
            fresh.push(vec![], t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
            let plan = || vec![("plan", u.plan.clone())];
            let mut gauge = |name: &'static str, help: &'static str, v: Option<f64>| {
                let mut f = Family::new(name, Kind::Gauge, help);
                if let Some(v) = v {
                    f.push(plan(), v);
                }
                out.push(f);
            };
            let ts = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp() as f64);
            gauge(
                "kiro_cli_monthly_credits_used_ratio",
                "Monthly credits used as a fraction of the plan (1 = 100%), as kiro-cli /usage shows it.",
                u.used_ratio,
            );
            gauge(
                "kiro_cli_monthly_credits_used",
                "Monthly credits used that the plan covers, from kiro-cli /usage.",
                u.used,
            );
            gauge("kiro_cli_monthly_credits_limit", "Monthly credits the plan covers, from kiro-cli /usage.", u.limit);
            gauge(
                "kiro_cli_monthly_reset_timestamp_seconds",
                "When the monthly credits reset (00:00 UTC of the shown day).",
                ts(u.reset),
            );
            gauge("kiro_cli_bonus_credits_used", "Bonus credits used, from kiro-cli /usage.", u.bonus_used);
            gauge("kiro_cli_bonus_credits_limit", "Bonus credits granted, from kiro-cli /usage.", u.bonus_limit);
            gauge(
                "kiro_cli_bonus_credits_expiry_timestamp_seconds",
                "When the bonus credits expire.",
                ts(u.bonus_expiry),
            );
        }
        out.push(fresh);
        out
    }
}
