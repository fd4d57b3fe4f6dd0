//! The SQL texts, one per aggregate, and the typed reading of their results.
//!
//! Each aggregate is written once (`include_str!`) in the subset of SQL that Athena (Trino), DuckDB and
//! DataFusion all run unchanged. An engine substitutes only `{{table}}` (its table reference) and
//! `{{period}}` (a validated `YYYY-MM`). Results come back from every engine as a [`Table`] of optional
//! strings, so one parser per aggregate serves all engines and their numbers agree to the last digit.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

use crate::model::bedrock::BedrockLine;
use crate::model::{BillingPeriod, KiroLine};

/// A column an aggregate reads, and what to tell the user when the export lacks it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// The column's CUR 2.0 type.
    pub ty: SqlType,
    /// Optional columns may be absent from an export; an engine then reads them as NULL.
    pub optional: bool,
    /// The Data Export setting that adds the column.
    pub fix: &'static str,
}

/// CUR 2.0 column types, as far as the aggregates care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Varchar,
    Double,
    Timestamp,
    /// `map<string,string>`
    MapVarchar,
}

const ALL_COLUMNS: &str = "select all CUR 2.0 columns in the export's column selection";

/// One aggregate: its name (a metric label) and SQL text.
#[derive(Debug)]
pub struct Aggregate {
    pub name: &'static str,
    sql: &'static str,
    pub columns: &'static [Column],
}

const fn required(name: &'static str, ty: SqlType) -> Column {
    Column { name, ty, optional: false, fix: ALL_COLUMNS }
}

/// Per-licence Kiro line items (`kiro_lines.sql`).
pub static KIRO_LINES: Aggregate = Aggregate {
    name: "kiro_lines",
    sql: include_str!("kiro_lines.sql"),
    columns: &[
        required("line_item_product_code", SqlType::Varchar),
        required("line_item_operation", SqlType::Varchar),
        required("line_item_usage_type", SqlType::Varchar),
        required("line_item_line_item_type", SqlType::Varchar),
        Column {
            name: "line_item_resource_id",
            ty: SqlType::Varchar,
            optional: false,
            fix: "enable \"Include resource IDs\" in the Data Export's content settings",
        },
        required("line_item_usage_account_id", SqlType::Varchar),
        required("line_item_usage_amount", SqlType::Double),
        required("line_item_unblended_cost", SqlType::Double),
        required("line_item_usage_start_date", SqlType::Timestamp),
        required("line_item_usage_end_date", SqlType::Timestamp),
        // The region falls back to the usage-type prefix when these are absent.
        Column { name: "product", ty: SqlType::MapVarchar, optional: true, fix: ALL_COLUMNS },
        Column { name: "product_region_code", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
        Column { name: "product_usagetype", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
    ],
};

/// Amazon Bedrock line items (`bedrock_lines.sql`).
pub static BEDROCK_LINES: Aggregate = Aggregate {
    name: "bedrock_lines",
    sql: include_str!("bedrock_lines.sql"),
    columns: &[
        required("line_item_product_code", SqlType::Varchar),
        required("line_item_usage_type", SqlType::Varchar),
        required("line_item_line_item_type", SqlType::Varchar),
        required("line_item_usage_account_id", SqlType::Varchar),
        required("line_item_usage_amount", SqlType::Double),
        required("line_item_unblended_cost", SqlType::Double),
        Column { name: IAM_PRINCIPAL, ty: SqlType::Varchar, optional: true, fix: IAM_PRINCIPAL_FIX },
        Column { name: "tags", ty: SqlType::MapVarchar, optional: true, fix: ALL_COLUMNS },
        Column { name: "product", ty: SqlType::MapVarchar, optional: true, fix: ALL_COLUMNS },
        Column { name: "product_region_code", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
        Column { name: "product_usagetype", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
        Column { name: "product_product_family", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
        Column { name: "pricing_unit", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
        Column { name: "bill_billing_entity", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
    ],
};

/// The column that attributes Bedrock cost to the calling IAM principal.
pub const IAM_PRINCIPAL: &str = "line_item_iam_principal";

/// The Data Export setting that adds [`IAM_PRINCIPAL`].
pub const IAM_PRINCIPAL_FIX: &str =
    "enable IAM principal data in the Data Export's content settings (data from 2026-04-08 on)";

/// One query: an aggregate and the keys of the `tags` map it reads (Bedrock's tag labels).
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub aggregate: &'static Aggregate,
    /// Validated tag keys (see [`valid_tag_key`]); only `bedrock_lines` reads them.
    pub tag_keys: &'a [String],
}

impl Query<'_> {
    /// The SQL text for one engine: `table` must already be a safe, quoted reference.
    pub fn render(&self, table: &str, period: BillingPeriod) -> String {
        // `BillingPeriod` only ever prints `YYYY-MM`, and tag keys cannot hold a quote (`valid_tag_key`),
        // so neither can end a string literal.
        let columns: String =
            self.tag_keys.iter().enumerate().map(|(i, k)| format!("tags['{k}'] AS tag_{i},\n  ")).collect();
        let group: String = self.tag_keys.iter().map(|k| format!(",\n  tags['{k}']")).collect();
        self.aggregate
            .sql
            .replace("{{table}}", table)
            .replace("{{period}}", &period.to_string())
            .replace("{{tag_columns}}\n  ", &columns)
            .replace("{{tag_group}}", &group)
    }
}

/// Why a tag key cannot go into a query: AWS tag keys are at most 128 characters of letters, digits,
/// spaces and `_ . : / = + - @`; anything that could end a string literal is refused.
pub fn valid_tag_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(format!("tag key {key:?} must be 1 to 128 characters"));
    }
    match key.chars().find(|c| !(c.is_alphanumeric() || " _.:/=+-@".contains(*c))) {
        Some(c) => Err(format!("tag key {key:?} has {c:?}; tag keys hold letters, digits, spaces and _.:/=+-@")),
        None => Ok(()),
    }
}

/// A query result: column names and rows of optional text values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// A result that does not have the shape its aggregate promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("result of {aggregate}: {reason}")]
pub struct ResultError {
    pub aggregate: &'static str,
    pub reason: String,
}

struct Cols<'a> {
    aggregate: &'static str,
    index: HashMap<&'a str, usize>,
}

impl<'a> Cols<'a> {
    fn new(aggregate: &'static str, table: &'a Table) -> Self {
        Self { aggregate, index: table.columns.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect() }
    }

    fn get(&self, name: &str) -> Result<usize, ResultError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| ResultError { aggregate: self.aggregate, reason: format!("missing column {name}") })
    }

    fn err(&self, row: usize, col: &str, reason: String) -> ResultError {
        ResultError { aggregate: self.aggregate, reason: format!("row {row}, column {col}: {reason}") }
    }
}

/// Parses a decimal as engines print it (`1234.5600000000`, `-0.5`, `1E+3`).
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let s = s.trim();
    s.parse::<Decimal>().or_else(|_| Decimal::from_scientific(s)).map_err(|_| format!("not a number: {s:?}"))
}

/// Parses a timestamp as engines print it (`2026-01-31 00:00:00.000`, `2026-01-31T00:00:00`, with or
/// without a zone) into Unix seconds. Zone-less values are UTC, as CUR's are.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Some(t) = parse_timestamp_fast(s) {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let bare = s.trim_end_matches(" UTC").trim_end_matches('Z');
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(bare, fmt) {
            return Ok(t.and_utc().timestamp());
        }
        if let Ok(t) = DateTime::parse_from_str(bare, fmt) {
            return Ok(t.timestamp());
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(bare, fmt) {
            return Ok(d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp()));
        }
    }
    Err(format!("not a timestamp: {s:?}"))
}

/// The common shapes, without chrono's format machinery (tens of thousands of values per refresh):
/// `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM:SS`, a fraction, and `Z`/` UTC`.
fn parse_timestamp_fast(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let mut secs = 0;
    let mut rest = &s[10..];
    if !rest.is_empty() {
        let t = rest.as_bytes();
        if !(t[0] == b'T' || t[0] == b' ') || t.len() < 9 || t[3] != b':' || t[6] != b':' {
            return None;
        }
        let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || m > 59 || sec > 60 {
            return None;
        }
        secs = i64::from(h * 3600 + m * 60 + sec);
        rest = &rest[9..];
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            rest = &frac[digits..];
        }
    }
    matches!(rest, "" | "Z" | " UTC")
        .then(|| date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp() + secs))
        .flatten()
}

/// Reads the rows of [`KIRO_LINES`].
pub fn parse_kiro_lines(table: &Table) -> Result<Vec<KiroLine>, ResultError> {
    let c = Cols::new(KIRO_LINES.name, table);
    let (account, resource, region, region_code, usage_type, op, lit, day, amount, cost, end) = (
        c.get("account_id")?,
        c.get("resource_id")?,
        c.get("product_region")?,
        c.get("product_region_code")?,
        c.get("usage_type")?,
        c.get("operation")?,
        c.get("line_item_type")?,
        c.get("usage_date")?,
        c.get("usage_amount")?,
        c.get("unblended_cost")?,
        c.get("last_usage_end")?,
    );
    let mut out = Vec::with_capacity(table.rows.len());
    for (n, row) in table.rows.iter().enumerate() {
        let text = |i: usize| row.get(i).cloned().flatten();
        let number = |i: usize, name: &str| -> Result<Decimal, ResultError> {
            match text(i) {
                None => Ok(Decimal::ZERO),
                Some(s) => parse_decimal(&s).map_err(|e| c.err(n + 1, name, e)),
            }
        };
        out.push(KiroLine {
            account_id: text(account).unwrap_or_default(),
            resource_id: text(resource),
            product_region: text(region),
            product_region_code: text(region_code),
            usage_type: text(usage_type),
            operation: text(op),
            line_item_type: text(lit),
            usage_amount: number(amount, "usage_amount")?,
            unblended_cost: number(cost, "unblended_cost")?,
            usage_date: text(day)
                .map(|s| parse_timestamp(&s).map_err(|e| c.err(n + 1, "usage_date", e)))
                .transpose()?,
            last_usage_end: text(end)
                .map(|s| parse_timestamp(&s).map_err(|e| c.err(n + 1, "last_usage_end", e)))
                .transpose()?,
        });
    }
    Ok(out)
}

/// Reads the rows of [`BEDROCK_LINES`] rendered with `tag_count` tag keys.
pub fn parse_bedrock_lines(table: &Table, tag_count: usize) -> Result<Vec<BedrockLine>, ResultError> {
    let c = Cols::new(BEDROCK_LINES.name, table);
    let (account, region_code, region, principal, usage_type, model, name, unit, lit, amount, cost) = (
        c.get("account_id")?,
        c.get("product_region_code")?,
        c.get("product_region")?,
        c.get("principal")?,
        c.get("usage_type")?,
        c.get("product_model")?,
        c.get("product_name")?,
        c.get("pricing_unit")?,
        c.get("line_item_type")?,
        c.get("usage_amount")?,
        c.get("unblended_cost")?,
    );
    let tags = (0..tag_count).map(|i| c.get(&format!("tag_{i}"))).collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(table.rows.len());
    for (n, row) in table.rows.iter().enumerate() {
        let text = |i: usize| row.get(i).cloned().flatten();
        let number = |i: usize, name: &str| -> Result<Decimal, ResultError> {
            text(i).map_or(Ok(Decimal::ZERO), |s| parse_decimal(&s).map_err(|e| c.err(n + 1, name, e)))
        };
        out.push(BedrockLine {
            account_id: text(account).unwrap_or_default(),
            product_region_code: text(region_code),
            product_region: text(region),
            principal: text(principal),
            usage_type: text(usage_type),
            product_model: text(model),
            product_name: text(name),
            pricing_unit: text(unit),
            line_item_type: text(lit),
            tags: tags.iter().map(|&i| text(i)).collect(),
            usage_amount: number(amount, "usage_amount")?,
            unblended_cost: number(cost, "unblended_cost")?,
        });
    }
    Ok(out)
}

/// Amounts beyond this (credits, tokens in the bill's unit, USD) are not a bill but a broken export.
const ABSURD: i64 = 1_000_000_000_000;

/// Refuses values no real bill has: negative credits used, and amounts beyond a trillion. The error names
/// the column, the value and the licence, so the user can find the line item.
pub fn check_kiro_lines(lines: &[KiroLine]) -> Result<(), ResultError> {
    let absurd = Decimal::from(ABSURD);
    for l in lines {
        let who = || {
            format!(
                "account {}, {}, day {}",
                l.account_id,
                l.resource_id.as_deref().unwrap_or("no resource id"),
                l.usage_date.map_or_else(
                    || "-".to_owned(),
                    |t| chrono::DateTime::from_timestamp(t, 0)
                        .map_or(t.to_string(), |d| d.format("%Y-%m-%d").to_string())
                )
            )
        };
        let credits = l.operation.as_deref() == Some("Credits") && l.line_item_type.as_deref() == Some("Usage");
        if credits && l.usage_amount.is_sign_negative() && !l.usage_amount.is_zero() {
            return Err(ResultError {
                aggregate: KIRO_LINES.name,
                reason: format!(
                    "column line_item_usage_amount: negative credits used ({}) for {}",
                    l.usage_amount.normalize(),
                    who()
                ),
            });
        }
        for (column, v) in [("line_item_usage_amount", l.usage_amount), ("line_item_unblended_cost", l.unblended_cost)]
        {
            if v.abs() > absurd {
                return Err(ResultError {
                    aggregate: KIRO_LINES.name,
                    reason: format!("column {column}: absurd value {} for {}", v.normalize(), who()),
                });
            }
        }
    }
    Ok(())
}

/// The same magnitude check for the Bedrock rows.
pub fn check_bedrock_lines(lines: &[BedrockLine]) -> Result<(), ResultError> {
    let absurd = Decimal::from(ABSURD);
    for l in lines {
        for (column, v) in [("line_item_usage_amount", l.usage_amount), ("line_item_unblended_cost", l.unblended_cost)]
        {
            if v.abs() > absurd {
                return Err(ResultError {
                    aggregate: BEDROCK_LINES.name,
                    reason: format!(
                        "column {column}: absurd value {v} for account {}, principal {:?}, usage type {:?}",
                        l.account_id,
                        l.principal.as_deref().unwrap_or(""),
                        l.usage_type.as_deref().unwrap_or("")
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_and_negative_values_are_refused_by_name() {
        let ok = KiroLine {
            account_id: "1".into(),
            resource_id: Some("arn:aws:identitystore:::user/u".into()),
            operation: Some("Credits".into()),
            line_item_type: Some("Usage".into()),
            usage_amount: Decimal::from(5),
            ..KiroLine::default()
        };
        assert!(check_kiro_lines(std::slice::from_ref(&ok)).is_ok());
        let neg = KiroLine { usage_amount: Decimal::from(-500), usage_date: Some(1_791_158_400), ..ok.clone() };
        let e = check_kiro_lines(&[neg]).unwrap_err().to_string();
        assert!(
            e.contains("line_item_usage_amount: negative credits used (-500)") && e.contains("user/u, day 2026-10-05"),
            "{e}"
        );
        let refund = KiroLine { line_item_type: Some("Refund".into()), usage_amount: Decimal::from(-5), ..ok.clone() };
        assert!(check_kiro_lines(&[refund]).is_ok(), "refunds may be negative");
        let big = KiroLine { unblended_cost: Decimal::from(ABSURD) * Decimal::from(10), ..ok };
        assert!(check_kiro_lines(&[big]).unwrap_err().to_string().contains("line_item_unblended_cost: absurd value"));
        let b = BedrockLine { usage_amount: Decimal::from(ABSURD) * Decimal::from(2), ..BedrockLine::default() };
        assert!(check_bedrock_lines(&[b]).is_err());
    }

    #[test]
    fn renders_only_table_and_period() {
        let sql =
            Query { aggregate: &KIRO_LINES, tag_keys: &[] }.render("\"cur\".\"data\"", "2026-01".parse().unwrap());
        assert!(sql.contains("FROM \"cur\".\"data\"\n"));
        assert!(sql.contains("billing_period = '2026-01'"));
        assert!(!sql.contains("{{"));
    }

    #[test]
    fn renders_tag_keys_as_columns_and_groups() {
        let keys = ["iamPrincipal/team".to_owned(), "iamPrincipal/cost-center".to_owned()];
        let sql = Query { aggregate: &BEDROCK_LINES, tag_keys: &keys }.render("cur", "2026-05".parse().unwrap());
        assert!(
            sql.contains("tags['iamPrincipal/team'] AS tag_0,\n  tags['iamPrincipal/cost-center'] AS tag_1,\n  SUM(")
        );
        assert!(
            sql.contains(
                "line_item_line_item_type,\n  tags['iamPrincipal/team'],\n  tags['iamPrincipal/cost-center']\n"
            )
        );
        let none = Query { aggregate: &BEDROCK_LINES, tag_keys: &[] }.render("cur", "2026-05".parse().unwrap());
        assert!(none.contains("line_item_type,\n  SUM(") && none.trim_end().ends_with("line_item_line_item_type"));
        assert!(!sql.contains("{{") && !none.contains("{{"));
        assert_eq!(sql.matches("tags['iamPrincipal/team']").count(), 2, "once selected, once grouped:\n{sql}");
    }

    #[test]
    fn tag_keys_cannot_break_out_of_a_literal() {
        assert!(valid_tag_key("iamPrincipal/cost-center").is_ok());
        assert!(valid_tag_key("user:Team Name@x=1+2.3").is_ok());
        for bad in ["", "a'b", "a\\b", "a\nb", "a;b", &"k".repeat(129)] {
            assert!(valid_tag_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers_and_times_from_any_engine() {
        assert_eq!(parse_decimal("1234.5600000000").unwrap().to_string(), "1234.5600000000");
        assert_eq!(parse_decimal("1E+3").unwrap(), Decimal::from(1000));
        assert!(parse_decimal("1,5").is_err());
        let want = 1_769_817_600; // 2026-01-31T00:00:00Z
        for s in [
            "2026-01-31 00:00:00.000",
            "2026-01-31T00:00:00",
            "2026-01-31T00:00:00Z",
            "2026-01-31 00:00:00 UTC",
            "2026-01-31T00:00:00+00:00",
            "2026-01-31",
        ] {
            assert_eq!(parse_timestamp(s), Ok(want), "{s}");
        }
        assert!(parse_timestamp("yesterday").is_err());
        assert_eq!(parse_timestamp("2026-01-31T12:34:56.789Z"), Ok(want + 45_296));
        assert_eq!(parse_timestamp("2026-01-31 12:34:56"), Ok(want + 45_296));
        for bad in ["2026-13-01", "2026-01-31T25:00:00", "2026-01-31X00:00:00", "2026-01-31T00:00:00 PST"] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_rows_by_column_name() {
        let cols = [
            "usage_amount",
            "account_id",
            "resource_id",
            "product_region",
            "product_region_code",
            "usage_type",
            "operation",
            "line_item_type",
            "unblended_cost",
            "last_usage_end",
            "usage_date",
        ];
        let t = Table {
            columns: cols.iter().map(|s| s.to_string()).collect(),
            rows: vec![vec![
                Some("12.5000000000".into()),
                Some("111122223333".into()),
                Some("arn:aws:identitystore:::user/u1".into()),
                None,
                Some("us-east-1".into()),
                Some("USE1-KiroEnterprise-Credits".into()),
                Some("Credits".into()),
                Some("Usage".into()),
                None,
                Some("2026-01-02 00:00:00.000".into()),
                Some("2026-01-01".into()),
            ]],
        };
        let rows = parse_kiro_lines(&t).unwrap();
        assert_eq!(rows[0].usage_amount, Decimal::new(125, 1));
        assert_eq!(rows[0].unblended_cost, Decimal::ZERO);
        assert_eq!(rows[0].last_usage_end, Some(1_767_312_000));
        assert_eq!(rows[0].usage_date, Some(1_767_225_600));
        let mut bad = t.clone();
        bad.rows[0][0] = Some("abc".into());
        assert_eq!(
            parse_kiro_lines(&bad).unwrap_err().to_string(),
            "result of kiro_lines: row 1, column usage_amount: not a number: \"abc\""
        );
    }
}
