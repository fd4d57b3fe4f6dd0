//! Kiro's user activity report: daily per-user CSV files in S3 (or a local copy), read directly, with or
//! without Athena for the bill.
//!
//! Layout under `--kiro.activity-report.path` (the folder that holds `AWSLogs/`):
//! `AWSLogs/<account>/KiroLogs/user_report/<region>/YYYY/MM/DD/00/<client>_<account>_user_report_<ts>.csv`,
//! one file per client type and day. For a billing period the month's folders are read, plus the first
//! day of the next month (the last day's report is written after midnight); rows are then kept by their own
//! `Date`. Local and S3 go through the same `object_store` code path; parsing is by header name,
//! case-insensitively, since columns drift between deliveries. The rules are in `model::activity`.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use rust_decimal::Decimal;
use tokio::sync::Mutex;

use super::store::Rooted;
use crate::model::BillingPeriod;
use crate::model::activity::ActivityRow;
use crate::sql::value::{parse_decimal, parse_timestamp};

/// Why the report could not be read. The refresh fails and the last good snapshot stays.
#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    #[error("activity report: cannot list {location}")]
    List {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("activity report: cannot read {location}")]
    Read {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("activity report: {0}")]
    NoData(String),
    #[error("activity report {file}: no column {column} (the header is: {header})")]
    MissingColumn { file: String, column: &'static str, header: String },
    #[error("activity report {file}, line {line}: {reason}")]
    Parse { file: String, line: u64, reason: String },
}

impl ActivityError {
    /// Every `kind` this error can have (`activity_report`), so its counters can start at 0.
    pub const KINDS: &'static [&'static str] = &["list", "read", "no_data", "missing_column", "parse"];

    /// Metric label for `kiro_exporter_refresh_errors_total{source="activity_report",kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::List { .. } => "list",
            Self::Read { .. } => "read",
            Self::NoData(_) => "no_data",
            Self::MissingColumn { .. } => "missing_column",
            Self::Parse { .. } => "parse",
        }
    }
}

/// Where a report file sits: account, region and delivery timestamp from its path and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub account_id: String,
    pub region: String,
    /// The client type in the file name (`KIRO_IDE`), used when a row has no `Client_Type`.
    pub client: String,
    /// The timestamp in the file name; `""` when the name has none.
    pub delivered: String,
}

/// Reads account, region, client and timestamp from a report path; `None` for paths of another shape.
pub fn file_info(path: &str) -> Option<FileInfo> {
    let parts: Vec<&str> = path.split('/').collect();
    let i = parts.iter().position(|p| *p == "AWSLogs")?;
    let (account, kiro, report, region) = (parts.get(i + 1)?, parts.get(i + 2)?, parts.get(i + 3)?, parts.get(i + 4)?);
    if *kiro != "KiroLogs" || *report != "user_report" || account.is_empty() || region.is_empty() {
        return None;
    }
    let last = parts.last()?;
    let lower = last.to_ascii_lowercase();
    let stem = lower.strip_suffix(".csv.gz").or_else(|| lower.strip_suffix(".csv"))?.len();
    let name = &last[..stem];
    let (client, delivered) = match name.split_once(&format!("_{account}_user_report")) {
        // The timestamp is the leading digits (names may go on, e.g. `_part_2`).
        Some((client, rest)) => {
            (client.to_owned(), rest.trim_start_matches('_').chars().take_while(char::is_ascii_digit).collect())
        }
        None => (String::new(), String::new()),
    };
    Some(FileInfo { account_id: (*account).to_owned(), region: (*region).to_owned(), client, delivered })
}

/// Parses one report file. Columns are found by name, case-insensitively: `UserId`, `Credits_Used` and
/// `Date` are required; `Client_Type`, `Overage_Cap`, `Overage_Enabled`, `Subscription_Tier`,
/// `Chat_Conversations` and every `<model>_messages` column are read when present; others are ignored.
pub fn parse_report(file: &str, info: &FileInfo, bytes: &[u8]) -> Result<Vec<ActivityRow>, ActivityError> {
    let parse_err = |line: u64, reason: String| ActivityError::Parse { file: file.to_owned(), line, reason };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(bytes);
    let header = reader.headers().map_err(|e| parse_err(1, e.to_string()))?.clone();
    // Names compare without case, `_`, `-` and spaces: `Credits_Used`, `credits used`, `CreditsUsed`.
    let key = |n: &str| -> String {
        n.trim_start_matches('\u{feff}')
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let names: Vec<String> = header.iter().map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase()).collect();
    let keys: Vec<String> = header.iter().map(key).collect();
    let find = |name: &str| keys.iter().position(|n| *n == key(name));
    let required = |column: &'static str| {
        find(column).ok_or_else(|| ActivityError::MissingColumn {
            file: file.to_owned(),
            column,
            header: header.iter().collect::<Vec<_>>().join(",").chars().take(200).collect(),
        })
    };
    let (user, credits, date) = (required("UserId")?, required("Credits_Used")?, required("Date")?);
    let (client, cap, enabled, tier, conversations) = (
        find("client_type"),
        find("overage_cap"),
        find("overage_enabled"),
        find("subscription_tier"),
        find("chat_conversations"),
    );
    let models: Vec<(usize, String)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i, n.strip_suffix("_messages").or_else(|| n.strip_suffix(" messages"))?.to_owned())))
        .filter(|(_, m)| !m.is_empty() && m != "total")
        .collect();

    let mut rows = Vec::new();
    let mut skipped = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| parse_err(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        // Short rows are fine (trailing columns left empty); missing cells read as empty.
        let text = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim).filter(|s| !s.is_empty());
        let number = |i: Option<usize>| -> Result<Option<Decimal>, String> {
            let Some(s) = text(i) else { return Ok(None) };
            let column = i.and_then(|i| names.get(i)).map_or("", String::as_str);
            let n = parse_decimal(s).map_err(|e| format!("column {column}: {e}"))?;
            if n.is_sign_negative() {
                return Err(format!("column {column}: negative value {s}"));
            }
            // No user sends a trillion messages or credits in a day; sums of such values would overflow.
            if n > Decimal::from(1_000_000_000_000i64) {
                return Err(format!("column {column}: absurd value {s}"));
            }
            Ok(Some(n))
        };
        // Optional columns: a value that is not a count (`Unlimited`, `-1`) is left out and counted.
        let mut optional = |i: Option<usize>| -> Option<Decimal> {
            number(i).unwrap_or_else(|_| {
                skipped += 1;
                None
            })
        };
        let Some(user_id) = text(Some(user)) else {
            return Err(parse_err(line, "empty UserId".into()));
        };
        let day = text(Some(date))
            .ok_or_else(|| parse_err(line, "empty Date".into()))
            .and_then(|s| parse_report_date(s).map_err(|e| parse_err(line, format!("column date: {e}"))))?;
        let credits_used = number(Some(credits)).map_err(|e| parse_err(line, e))?.unwrap_or_default();
        let overage_cap = optional(cap);
        let chat_conversations = optional(conversations);
        let mut messages = Vec::with_capacity(models.len());
        for (i, model) in &models {
            if let Some(n) = optional(Some(*i)) {
                messages.push((model.clone(), n));
            }
        }
        let overage_enabled = text(enabled).and_then(|s| match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "enabled" | "y" => Some(true),
            "false" | "no" | "0" | "disabled" | "n" => Some(false),
            _ => {
                skipped += 1;
                None
            }
        });
        rows.push(ActivityRow {
            account_id: info.account_id.clone(),
            region: info.region.clone(),
            delivered: info.delivered.clone(),
            date: day - day.rem_euclid(86_400),
            user_id: user_id.to_owned(),
            client: text(client).map_or_else(|| info.client.clone(), str::to_owned),
            credits_used,
            overage_cap,
            overage_enabled,
            tier: text(tier).map(str::to_owned),
            chat_conversations,
            messages,
        });
    }
    if skipped > 0 {
        tracing::warn!(%file, values = skipped, "activity report: optional values that are not counts or booleans were left out");
    }
    Ok(rows)
}

/// The rows of a period's files and the fingerprint of their listing: the last good read.
/// Per period: the fingerprint of its listed files and their rows.
type Cached = std::collections::BTreeMap<BillingPeriod, (String, Arc<Vec<ActivityRow>>)>;

/// Periods whose rows are kept at most (more than `--billing-periods` allows; the refresh also drops the
/// months it no longer serves).
const CACHED_PERIODS: usize = 121;

/// A report `Date`: ISO (`2026-10-05`, with a time and zone or not), `2026/10/05` or `20261005`; Unix
/// seconds (UTC).
pub fn parse_report_date(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = parse_timestamp(s) {
        return Ok(t);
    }
    let iso = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..])
    } else {
        s.replacen('/', "-", 2)
    };
    // `+0000` style offsets: the date part is what counts.
    let date_part = iso.get(..10).unwrap_or(&iso);
    chrono::NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp()))
        .map_err(|_| format!("not a date: {s:?} (expected YYYY-MM-DD)"))
}

/// The report's rows per period, cached while the period's listed files are unchanged.
pub struct ActivitySource {
    root: Rooted,
    cache: Mutex<Cached>,
}

impl ActivitySource {
    pub fn new(root: Rooted) -> Self {
        Self { root, cache: Mutex::new(Cached::new()) }
    }

    fn shown(&self, path: &Path) -> String {
        match &self.root.location {
            super::store::Location::S3 { bucket, .. } => format!("s3://{bucket}/{path}"),
            super::store::Location::Local(_) => format!("/{path}"),
        }
    }

    async fn children(&self, prefix: &Path) -> Result<Vec<String>, ActivityError> {
        let listing = self
            .root
            .store
            .list_with_delimiter(Some(prefix))
            .await
            .map_err(|source| ActivityError::List { location: self.shown(prefix), source })?;
        Ok(listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_owned)).collect())
    }

    /// The `AWSLogs` folder: under the root, or the root itself.
    fn logs(&self) -> Path {
        if self.root.prefix.filename() == Some("AWSLogs") {
            self.root.prefix.clone()
        } else {
            self.root.prefix.clone().join("AWSLogs")
        }
    }

    /// The period's report files, sorted.
    async fn list(&self, period: BillingPeriod) -> Result<Vec<object_store::ObjectMeta>, ActivityError> {
        let logs = self.logs();
        let accounts = self.children(&logs).await?;
        if accounts.is_empty() {
            return Err(ActivityError::NoData(format!(
                "nothing under {}: --kiro.activity-report.path must name the folder that holds AWSLogs/",
                self.shown(&logs)
            )));
        }
        let next = period.next();
        let mut files = Vec::new();
        for account in accounts {
            let reports = logs.clone().join(account.as_str()).join("KiroLogs").join("user_report");
            for region in self.children(&reports).await? {
                let base = reports.clone().join(region.as_str());
                let month =
                    |p: BillingPeriod| base.clone().join(format!("{:04}", p.year())).join(format!("{:02}", p.month()));
                for prefix in [month(period), month(next).join("01")] {
                    let listed: Vec<object_store::ObjectMeta> = self
                        .root
                        .store
                        .list(Some(&prefix))
                        .try_collect()
                        .await
                        .map_err(|source| ActivityError::List { location: self.shown(&prefix), source })?;
                    for m in listed {
                        if file_info(m.location.as_ref()).is_some() {
                            files.push(m);
                        } else {
                            tracing::debug!(file = %self.shown(&m.location), "not a user report file; skipped");
                        }
                    }
                }
            }
        }
        files.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(files)
    }

    /// The rows of the last good read of `period`, if any (used while the report cannot be read).
    pub async fn last_good(&self, period: BillingPeriod) -> Option<Arc<Vec<ActivityRow>>> {
        self.cache.lock().await.get(&period).map(|(_, rows)| rows.clone())
    }

    /// The rows of the period's files and whether they changed since the last read.
    pub async fn read(&self, period: BillingPeriod) -> Result<(Arc<Vec<ActivityRow>>, bool), ActivityError> {
        let files = self.list(period).await?;
        let fingerprint: String = files
            .iter()
            .map(|m| {
                format!(
                    "{} {} {} {}\n",
                    m.location,
                    m.size,
                    m.last_modified.timestamp_millis(),
                    m.e_tag.as_deref().unwrap_or("")
                )
            })
            .collect();
        let mut cache = self.cache.lock().await;
        if let Some((f, rows)) = cache.get(&period)
            && *f == fingerprint
        {
            return Ok((rows.clone(), false));
        }
        let mut rows = Vec::new();
        for meta in &files {
            let shown = self.shown(&meta.location);
            let Some(info) = file_info(meta.location.as_ref()) else {
                tracing::debug!(file = %shown, "not a user report file name; skipped");
                continue;
            };
            let bytes = self
                .root
                .store
                .get(&meta.location)
                .await
                .map_err(|source| ActivityError::Read { location: shown.clone(), source })?
                .bytes()
                .await
                .map_err(|source| ActivityError::Read { location: shown.clone(), source })?;
            let bytes = if meta.location.as_ref().to_ascii_lowercase().ends_with(".gz") {
                let mut text = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(bytes.as_ref()), &mut text).map_err(
                    |e| ActivityError::Parse { file: shown.clone(), line: 0, reason: format!("not gzip: {e}") },
                )?;
                bytes::Bytes::from(text)
            } else {
                bytes
            };
            rows.extend(parse_report(&shown, &info, &bytes)?);
        }
        if files.is_empty() {
            tracing::warn!(%period, path = %self.root.location.display(), "the activity report has no files for the period; the bill's credits are used");
        }
        let rows = Arc::new(rows);
        cache.insert(period, (fingerprint, rows.clone()));
        while cache.len() > CACHED_PERIODS {
            cache.pop_first();
        }
        Ok((rows, true))
    }
}

#[async_trait::async_trait]
impl super::ActivityReports for ActivitySource {
    async fn read(&self, period: BillingPeriod) -> Result<(Arc<Vec<ActivityRow>>, bool), ActivityError> {
        ActivitySource::read(self, period).await
    }

    async fn last_good(&self, period: BillingPeriod) -> Option<Arc<Vec<ActivityRow>>> {
        ActivitySource::last_good(self, period).await
    }

    async fn keep_only(&self, periods: &[BillingPeriod]) {
        self.cache.lock().await.retain(|p, _| periods.contains(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> FileInfo {
        FileInfo {
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            client: "KIRO_IDE".into(),
            delivered: "20261002000000".into(),
        }
    }

    #[test]
    fn paths_name_account_region_client_and_delivery() {
        let p = "exports/kiro/AWSLogs/111111111111/KiroLogs/user_report/us-east-1/2026/10/01/00/KIRO_IDE_111111111111_user_report_20261002000000.csv";
        assert_eq!(file_info(p), Some(info()));
        let p = "AWSLogs/2/KiroLogs/user_report/eu-central-1/2026/10/01/00/PLUGIN_2_user_report_1.csv";
        let i = file_info(p).unwrap();
        assert_eq!(
            (i.account_id.as_str(), i.region.as_str(), i.client.as_str(), i.delivered.as_str()),
            ("2", "eu-central-1", "PLUGIN", "1")
        );
        assert_eq!(file_info("AWSLogs/1/KiroLogs/by_user_analytic/us-east-1/x.csv"), None);
        assert_eq!(file_info("AWSLogs/1/KiroLogs/user_report/us-east-1/2026/10/01/00/x.txt"), None);
        let gz = file_info("AWSLogs/1/KiroLogs/user_report/us-east-1/2026/10/01/00/KIRO_CLI_1_user_report_7.CSV.gz")
            .unwrap();
        assert_eq!((gz.client.as_str(), gz.delivered.as_str()), ("KIRO_CLI", "7"));
    }

    #[test]
    fn parses_by_header_name_whatever_the_order_and_case() {
        let csv = "\u{feff}userid,DATE,Client_Type,Chat_Conversations,Credits_Used,Overage_Cap,Overage_Credits_Used,Overage_Enabled,Subscription_Tier,Claude_Sonnet_4_messages,AUTO_messages,Total_Messages,New_Column\n\
                   d-9066195b8c.u-1,2026-10-05,KIRO_CLI,3,12.5,1000,0,TRUE,PRO_PLUS,4,,9,x\n\
                   u-2,2026-10-05T00:00:00Z,,,0.25,,,,,,1,,\n";
        let rows = parse_report("f.csv", &info(), csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        let a = &rows[0];
        assert_eq!(
            (a.user_id.as_str(), a.client.as_str(), a.credits_used.to_string().as_str()),
            ("d-9066195b8c.u-1", "KIRO_CLI", "12.5")
        );
        assert_eq!(a.date, 1_791_158_400); // 2026-10-05
        assert_eq!(
            (a.overage_cap, a.overage_enabled, a.tier.as_deref()),
            (Some(Decimal::from(1000)), Some(true), Some("PRO_PLUS"))
        );
        assert_eq!(a.messages, vec![("claude_sonnet_4".to_owned(), Decimal::from(4))]);
        assert_eq!(a.chat_conversations, Some(Decimal::from(3)));
        let b = &rows[1];
        assert_eq!(
            (b.client.as_str(), b.overage_cap, b.overage_enabled),
            ("KIRO_IDE", None, None),
            "client from the file name"
        );
        assert_eq!(b.messages, vec![("auto".to_owned(), Decimal::ONE)]);
    }

    #[test]
    fn drifted_names_dates_short_rows_and_odd_optional_values() {
        let csv = "User Id,CreditsUsed,date,Overage_Cap,Overage_Enabled,Chat_Conversations,x_messages\n\
                   u,1.5,2026/10/05,Unlimited,maybe,-1,2\n\
                   v,2,20261006\n\
                   w,3,2026-10-07T00:00:00.000+0000,10,yes\n";
        let rows = parse_report("f.csv", &info(), csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].date, rows[0].overage_cap, rows[0].overage_enabled), (1_791_158_400, None, None));
        assert_eq!(rows[0].chat_conversations, None);
        assert_eq!(rows[0].messages, vec![("x".to_owned(), Decimal::from(2))]);
        assert_eq!((rows[1].date, rows[1].credits_used), (1_791_244_800, Decimal::from(2)));
        assert_eq!((rows[2].overage_cap, rows[2].overage_enabled), (Some(Decimal::from(10)), Some(true)));
        assert_eq!(
            file_info("AWSLogs/1/KiroLogs/user_report/r/2026/10/01/00/KIRO_IDE_1_user_report_202610020000_part_2.csv")
                .unwrap()
                .delivered,
            "202610020000"
        );
    }

    #[test]
    fn broken_files_are_named_errors() {
        let e = parse_report("f.csv", &info(), b"Date;UserId;Credits_Used\n2026-10-01;u;1\n").unwrap_err();
        assert_eq!(e.kind(), "missing_column");
        assert!(e.to_string().starts_with("activity report f.csv: no column UserId"), "{e}");
        for (body, want) in [
            ("Date,UserId,Credits_Used\n2026-10-01,u,NaN\n", "line 2: column credits_used: not a number"),
            ("Date,UserId,Credits_Used\n2026-10-01,u,-3\n", "line 2: column credits_used: negative value -3"),
            ("Date,UserId,Credits_Used\n2026-10-01,u,1e300\n", "line 2: column credits_used"),
            ("Date,UserId,Credits_Used\n2026-10-01,u,7e28\n", "line 2: column credits_used: absurd value 7e28"),
            ("Date,UserId,Credits_Used\nyesterday,u,1\n", "line 2: column date: not a date"),
            ("Date,UserId,Credits_Used\n2026-10-01,,1\n", "line 2: empty UserId"),
        ] {
            let e = parse_report("f.csv", &info(), body.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(want), "{body:?}: {e}");
            assert_eq!(e.kind(), "parse");
        }
    }
}
