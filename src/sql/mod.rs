//! The SQL texts, one per aggregate (the catalogue and its templating), and the typed reading of their
//! results ([`result`], [`value`]).
//!
//! Each aggregate is written once (`include_str!`) in the subset of SQL that Athena (Trino), DuckDB and
//! DataFusion all run. An engine substitutes `{{table}}` (its table reference), `{{period}}` (a validated
//! `YYYY-MM`) and the Bedrock tag columns; the Athena source also guards each map lookup (`m['k']` fails
//! on Trino when the key is absent; see `sources::athena::null_safe_map_lookups`), which changes no
//! result. Results come back from every engine as a [`Table`] of optional strings, so one parser per
//! aggregate serves all engines and their numbers agree to the last digit.

mod result;
pub mod value;

pub use result::{
    ResultError, ResultRows, Table, check_bedrock_lines, check_kiro_lines, parse_bedrock_lines, parse_bedrock_lines_at,
    parse_kiro_lines, parse_kiro_lines_at,
};

use crate::model::BillingPeriod;

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
        Column { name: NET_UNBLENDED_COST, ty: SqlType::Double, optional: true, fix: NET_FIX },
        Column { name: "line_item_currency_code", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
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
        Column { name: NET_UNBLENDED_COST, ty: SqlType::Double, optional: true, fix: NET_FIX },
        Column { name: "line_item_currency_code", ty: SqlType::Varchar, optional: true, fix: ALL_COLUMNS },
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

/// The cost after discounts; AWS adds it to an export only for accounts that have discounts.
pub const NET_UNBLENDED_COST: &str = "line_item_net_unblended_cost";

const NET_FIX: &str =
    "none needed: the column exists only when the account has discounts; without it the net cost is the unblended cost";

/// The column that attributes Bedrock cost to the calling IAM principal.
pub const IAM_PRINCIPAL: &str = "line_item_iam_principal";

/// The Data Export setting that adds [`IAM_PRINCIPAL`].
pub const IAM_PRINCIPAL_FIX: &str =
    "enable IAM principal data in the Data Export's content settings (data from 2026-04-08 on)";

/// How every aggregate's SQL text selects its rows: the period, then `AND` its own row filter, up to the
/// `GROUP BY`.
const PERIOD_FILTER: &str = "WHERE billing_period = '{{period}}'\n  AND ";

impl Aggregate {
    /// The aggregate's row filter as its SQL text writes it (without the period), e.g. Kiro's
    /// `line_item_product_code = 'Kiro' AND ...`: what a single scan for several aggregates selects with
    /// the `OR` of theirs.
    pub fn rows_filter(&self) -> &'static str {
        let sql: &'static str = self.sql;
        let start = sql.find(PERIOD_FILTER).map_or(0, |i| i + PERIOD_FILTER.len());
        let end = sql[start..].find("\nGROUP BY").map_or(sql.len(), |i| start + i);
        sql[start..end].trim()
    }
}

/// The column of [`union_all`]'s result that names the aggregate a row belongs to.
pub const UNION_TAG: &str = "aggregate_name";

/// The result columns of a rendered aggregate text, in order: the `AS` name ending each line of its select
/// list.
pub fn output_columns(rendered: &str) -> Vec<String> {
    let select = rendered.split_once("\nSELECT\n").map_or(rendered, |(_, rest)| rest);
    let select = select.split_once("\nFROM ").map_or(select, |(list, _)| list);
    select
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').rsplit_once(" AS ").map(|(_, name)| name.trim().to_owned()))
        .collect()
}

/// Several rendered aggregates as one query, for an engine that bills and schedules per query (Athena):
/// each text is a sub-select tagged with its aggregate's name in [`UNION_TAG`], the result columns aligned
/// by name (NULL where an aggregate has no such column), joined by `UNION ALL`. [`split_union`] takes the
/// result apart again; each aggregate's rows are exactly those its own text returns.
pub fn union_all<S: AsRef<str>>(parts: &[(S, String)]) -> String {
    let mut columns: Vec<String> = Vec::new();
    let outputs: Vec<Vec<String>> = parts.iter().map(|(_, sql)| output_columns(sql)).collect();
    for c in outputs.iter().flatten() {
        if !columns.contains(c) {
            columns.push(c.clone());
        }
    }
    let branches: Vec<String> = parts
        .iter()
        .zip(&outputs)
        .enumerate()
        .map(|(i, ((name, sql), own))| {
            let select: Vec<String> = columns
                .iter()
                .map(|c| if own.contains(c) { format!("a{i}.{c}") } else { format!("NULL AS {c}") })
                .collect();
            format!(
                "SELECT '{}' AS {UNION_TAG}, {}\nFROM (\n{}\n) a{i}",
                name.as_ref(),
                select.join(", "),
                sql.trim_end()
            )
        })
        .collect();
    branches.join("\nUNION ALL\n")
}

/// The per-aggregate results of a [`union_all`] query, in the order of `names`.
pub fn split_union<S: AsRef<str>>(table: Table, names: &[S]) -> Result<Vec<Table>, ResultError> {
    let tag = table
        .columns
        .iter()
        .position(|c| c == UNION_TAG)
        .ok_or_else(|| ResultError { aggregate: "union", reason: format!("missing column {UNION_TAG}") })?;
    let mut out: Vec<Table> =
        names.iter().map(|_| Table { columns: table.columns.clone(), rows: Vec::new() }).collect();
    for row in table.rows {
        let name = row.get(tag).cloned().flatten().unwrap_or_default();
        let i = names.iter().position(|n| n.as_ref() == name).ok_or_else(|| ResultError {
            aggregate: "union",
            reason: format!("a row of unknown aggregate {name:?}"),
        })?;
        out[i].rows.push(row);
    }
    Ok(out)
}

/// One query: an aggregate and the keys of the `tags` map it reads (Bedrock's tag labels).
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub aggregate: &'static Aggregate,
    /// Validated tag keys (see [`crate::model::bedrock::valid_tag_key`]); only `bedrock_lines` reads them.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_aggregate_names_its_row_filter_once() {
        assert_eq!(
            KIRO_LINES.rows_filter(),
            "line_item_product_code = 'Kiro'\n  AND COALESCE(line_item_operation, '') <> 'q-developer-snapshot'"
        );
        let bedrock = BEDROCK_LINES.rows_filter();
        assert!(bedrock.starts_with("(\n    line_item_product_code IN ('AmazonBedrock',"), "{bedrock}");
        assert!(bedrock.ends_with("LIKE '%Bedrock%')\n  )"), "{bedrock}");
        for a in [&KIRO_LINES, &BEDROCK_LINES] {
            assert!(a.sql.contains(&format!("{PERIOD_FILTER}{}\nGROUP BY", a.rows_filter())), "{}", a.name);
        }
    }

    #[test]
    fn aggregates_run_as_one_union_and_come_apart_again() {
        let period = "2026-05".parse().unwrap();
        let kiro = Query { aggregate: &KIRO_LINES, tag_keys: &[] }.render("cur", period);
        let keys = ["iamPrincipal/team".to_owned()];
        let bedrock = Query { aggregate: &BEDROCK_LINES, tag_keys: &keys }.render("cur", period);
        assert_eq!(
            output_columns(&kiro),
            [
                "account_id",
                "resource_id",
                "product_region",
                "product_region_code",
                "usage_type",
                "operation",
                "line_item_type",
                "currency",
                "usage_date",
                "usage_amount",
                "unblended_cost",
                "net_unblended_cost",
                "last_usage_end"
            ]
        );
        assert_eq!(
            output_columns(&bedrock)[8..],
            ["currency", "line_item_type", "tag_0", "usage_amount", "unblended_cost", "net_unblended_cost"]
        );
        let sql = union_all(&[("kiro_lines", kiro.clone()), ("bedrock_lines", bedrock.clone())]);
        assert!(sql.starts_with("SELECT 'kiro_lines' AS aggregate_name, a0.account_id, a0.resource_id,"), "{sql}");
        assert!(sql.contains(&format!("FROM (\n{}\n) a0\nUNION ALL\n", kiro.trim_end())), "{sql}");
        assert!(sql.contains("SELECT 'bedrock_lines' AS aggregate_name, a1.account_id, NULL AS resource_id,"));
        assert!(sql.contains("NULL AS last_usage_end, a1.principal, a1.product_model"), "{sql}");
        let columns: Vec<String> = ["aggregate_name", "account_id"].map(String::from).to_vec();
        let row = |tag: &str, acct: &str| vec![Some(tag.to_owned()), Some(acct.to_owned())];
        let table =
            Table { columns, rows: vec![row("bedrock_lines", "1"), row("kiro_lines", "2"), row("bedrock_lines", "3")] };
        let parts = split_union(table, &["kiro_lines", "bedrock_lines"]).unwrap();
        assert_eq!(parts[0].rows, vec![row("kiro_lines", "2")]);
        assert_eq!(parts[1].rows, vec![row("bedrock_lines", "1"), row("bedrock_lines", "3")]);
        let stray = Table { columns: vec!["aggregate_name".into()], rows: vec![vec![Some("x".into())]] };
        assert!(split_union(stray, &["kiro_lines"]).unwrap_err().to_string().contains("unknown aggregate"));
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
}
