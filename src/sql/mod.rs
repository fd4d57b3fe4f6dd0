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

pub use result::{ResultError, Table, check_bedrock_lines, check_kiro_lines, parse_bedrock_lines, parse_kiro_lines};

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
