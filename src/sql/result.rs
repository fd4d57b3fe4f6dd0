//! The result of an aggregate, read by column name into the model's lines ([`ResultRows`]: text as every
//! engine can print it, a [`Table`], or typed columns), and the plausibility checks that refuse values no
//! real bill has.

use std::borrow::Cow;
use std::collections::HashMap;

use rust_decimal::Decimal;

use super::value::{parse_decimal, parse_timestamp};
use super::{BEDROCK_LINES, KIRO_LINES};
use crate::model::KiroLine;
use crate::model::bedrock::BedrockLine;

/// A query result: column names and rows of optional text values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// A chunk of an aggregate's result, read cell by cell by column position. A [`Table`] holds it as text,
/// the one shape every engine can print (Athena's results are text); the embedded engine's record
/// batches are read typed (`sources::embedded`), which skips printing each cell only to parse it back:
/// on the 10,000,000-row benchmark month that round trip was a fifth of the refresh's serial time.
pub trait ResultRows {
    /// The result's column names, in order.
    fn columns(&self) -> Vec<&str>;
    /// Rows in this chunk.
    fn row_count(&self) -> usize;
    /// A cell as text (`None`: NULL).
    fn text(&self, column: usize, row: usize) -> Option<Cow<'_, str>>;
    /// A cell as a decimal (`None`: NULL); by default its text, parsed as engines print decimals.
    fn decimal(&self, column: usize, row: usize) -> Option<Result<Decimal, String>> {
        self.text(column, row).map(|s| parse_decimal(&s))
    }
    /// A cell as Unix seconds (`None`: NULL); by default its text, parsed as engines print timestamps.
    fn timestamp(&self, column: usize, row: usize) -> Option<Result<i64, String>> {
        self.text(column, row).map(|s| parse_timestamp(&s))
    }
}

impl ResultRows for Table {
    fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn row_count(&self) -> usize {
        self.rows.len()
    }

    fn text(&self, column: usize, row: usize) -> Option<Cow<'_, str>> {
        self.rows.get(row).and_then(|r| r.get(column)).and_then(|c| c.as_deref()).map(Cow::Borrowed)
    }
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
    /// Rows of the result before this table (it is one chunk of it): error messages count from the start.
    before: usize,
}

impl<'a> Cols<'a> {
    fn new(aggregate: &'static str, rows: &'a dyn ResultRows, before: usize) -> Self {
        Self { aggregate, index: rows.columns().into_iter().enumerate().map(|(i, c)| (c, i)).collect(), before }
    }

    fn get(&self, name: &str) -> Result<usize, ResultError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| ResultError { aggregate: self.aggregate, reason: format!("missing column {name}") })
    }

    /// A column a result may lack (an older text's result): `None` then.
    fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    fn err(&self, row: usize, col: &str, reason: String) -> ResultError {
        ResultError { aggregate: self.aggregate, reason: format!("row {}, column {col}: {reason}", self.before + row) }
    }
}

/// The cells of one row of a result, for the parsers.
struct Row<'r> {
    rows: &'r dyn ResultRows,
    c: &'r Cols<'r>,
    /// Position in the chunk.
    n: usize,
}

impl Row<'_> {
    fn text(&self, column: usize) -> Option<String> {
        self.rows.text(column, self.n).map(Cow::into_owned)
    }

    /// A decimal cell, `None` when NULL.
    fn decimal(&self, column: usize, name: &str) -> Result<Option<Decimal>, ResultError> {
        self.rows.decimal(column, self.n).transpose().map_err(|e| self.c.err(self.n + 1, name, e))
    }

    /// A decimal cell, zero when NULL (a sum over no values).
    fn number(&self, column: usize, name: &str) -> Result<Decimal, ResultError> {
        Ok(self.decimal(column, name)?.unwrap_or(Decimal::ZERO))
    }

    fn timestamp(&self, column: usize, name: &str) -> Result<Option<i64>, ResultError> {
        self.rows.timestamp(column, self.n).transpose().map_err(|e| self.c.err(self.n + 1, name, e))
    }
}

/// Reads the rows of [`KIRO_LINES`].
pub fn parse_kiro_lines(table: &Table) -> Result<Vec<KiroLine>, ResultError> {
    parse_kiro_lines_at(table, 0)
}

/// Reads a chunk of the rows of [`KIRO_LINES`] that follows `before` rows of the same result.
pub fn parse_kiro_lines_at(rows: &dyn ResultRows, before: usize) -> Result<Vec<KiroLine>, ResultError> {
    let c = Cols::new(KIRO_LINES.name, rows, before);
    let costs = CostColumns::find(&c)?;
    let (account, resource, region, region_code, usage_type, op, lit, day, amount, end) = (
        c.get("account_id")?,
        c.get("resource_id")?,
        c.get("product_region")?,
        c.get("product_region_code")?,
        c.get("usage_type")?,
        c.get("operation")?,
        c.get("line_item_type")?,
        c.get("usage_date")?,
        c.get("usage_amount")?,
        c.get("last_usage_end")?,
    );
    let mut out = Vec::with_capacity(rows.row_count());
    for n in 0..rows.row_count() {
        let row = Row { rows, c: &c, n };
        let (unblended_cost, net_unblended_cost, currency) = costs.read(&row)?;
        out.push(KiroLine {
            account_id: row.text(account).unwrap_or_default(),
            resource_id: row.text(resource),
            product_region: row.text(region),
            product_region_code: row.text(region_code),
            usage_type: row.text(usage_type),
            operation: row.text(op),
            line_item_type: row.text(lit),
            usage_amount: row.number(amount, "usage_amount")?,
            unblended_cost,
            net_unblended_cost,
            currency,
            usage_date: row.timestamp(day, "usage_date")?,
            last_usage_end: row.timestamp(end, "last_usage_end")?,
        });
    }
    Ok(out)
}

/// Reads the rows of [`BEDROCK_LINES`] rendered with `tag_count` tag keys.
pub fn parse_bedrock_lines(table: &Table, tag_count: usize) -> Result<Vec<BedrockLine>, ResultError> {
    parse_bedrock_lines_at(table, tag_count, 0)
}

/// Reads a chunk of the rows of [`BEDROCK_LINES`] that follows `before` rows of the same result.
pub fn parse_bedrock_lines_at(
    rows: &dyn ResultRows,
    tag_count: usize,
    before: usize,
) -> Result<Vec<BedrockLine>, ResultError> {
    let c = Cols::new(BEDROCK_LINES.name, rows, before);
    let (account, region_code, region, principal, usage_type, model, name, unit, lit, amount) = (
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
    );
    let costs = CostColumns::find(&c)?;
    let tags = (0..tag_count).map(|i| c.get(&format!("tag_{i}"))).collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(rows.row_count());
    for n in 0..rows.row_count() {
        let row = Row { rows, c: &c, n };
        let (unblended_cost, net_unblended_cost, currency) = costs.read(&row)?;
        out.push(BedrockLine {
            account_id: row.text(account).unwrap_or_default(),
            product_region_code: row.text(region_code),
            product_region: row.text(region),
            principal: row.text(principal),
            usage_type: row.text(usage_type),
            product_model: row.text(model),
            product_name: row.text(name),
            pricing_unit: row.text(unit),
            line_item_type: row.text(lit),
            tags: tags.iter().map(|&i| row.text(i)).collect(),
            usage_amount: row.number(amount, "usage_amount")?,
            unblended_cost,
            net_unblended_cost,
            currency,
        });
    }
    Ok(out)
}

/// The cost columns both aggregates return: the unblended and net cost (the net one may be missing from an
/// older text's result: then it is the unblended cost) and the currency (a group key: a group has one).
struct CostColumns {
    cost: usize,
    net: Option<usize>,
    currency: Option<usize>,
}

impl CostColumns {
    fn find(c: &Cols<'_>) -> Result<Self, ResultError> {
        Ok(Self { cost: c.get("unblended_cost")?, net: c.find("net_unblended_cost"), currency: c.find("currency") })
    }

    /// (unblended cost, net cost, currency) of a row.
    fn read(&self, row: &Row<'_>) -> Result<(Decimal, Decimal, Option<String>), ResultError> {
        let unblended = row.number(self.cost, "unblended_cost")?;
        let net = match self.net {
            Some(i) => row.decimal(i, "net_unblended_cost")?.unwrap_or(unblended),
            None => unblended,
        };
        // A blank code is no currency.
        let currency = self.currency.and_then(|i| row.text(i)).filter(|c| !c.trim().is_empty());
        Ok((unblended, net, currency))
    }
}

/// Amounts beyond this (credits, tokens in the bill's unit, USD) are not a bill but a broken export.
const ABSURD: i64 = 1_000_000_000_000;

/// Refuses values no real bill has: negative credits used, and amounts beyond a trillion. The error names
/// the column, the value and the licence, so the user can find the line item.
pub fn check_kiro_lines(lines: &[KiroLine]) -> Result<(), ResultError> {
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
        if let Some((column, v)) = absurd_amount(l.usage_amount, l.unblended_cost, l.net_unblended_cost) {
            return Err(ResultError {
                aggregate: KIRO_LINES.name,
                reason: format!("column {column}: absurd value {} for {}", v.normalize(), who()),
            });
        }
    }
    Ok(())
}

/// The first of a line's amounts beyond [`ABSURD`], with its column.
fn absurd_amount(usage: Decimal, unblended: Decimal, net: Decimal) -> Option<(&'static str, Decimal)> {
    let absurd = Decimal::from(ABSURD);
    [("line_item_usage_amount", usage), ("line_item_unblended_cost", unblended), ("line_item_net_unblended_cost", net)]
        .into_iter()
        .find(|(_, v)| v.abs() > absurd)
}

/// The same magnitude check for the Bedrock rows.
pub fn check_bedrock_lines(lines: &[BedrockLine]) -> Result<(), ResultError> {
    for l in lines {
        if let Some((column, v)) = absurd_amount(l.usage_amount, l.unblended_cost, l.net_unblended_cost) {
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
        // The net cost (the default basis) is checked like the unblended one.
        let net =
            BedrockLine { net_unblended_cost: Decimal::from(ABSURD) * Decimal::from(3), ..BedrockLine::default() };
        assert!(check_bedrock_lines(&[net]).unwrap_err().to_string().contains("line_item_net_unblended_cost: absurd"));
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
        // A later chunk of the same result counts its rows from the start of the result.
        assert_eq!(
            parse_kiro_lines_at(&bad, 8192).unwrap_err().to_string(),
            "result of kiro_lines: row 8193, column usage_amount: not a number: \"abc\""
        );
    }
}
