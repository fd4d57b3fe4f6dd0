-- kiro_lines: Kiro line items of one billing period, grouped per licence and billing dimension.
--
-- Portable subset: runs on Athena (Trino), DuckDB and DataFusion. Only {{table}} and {{period}} are
-- substituted (the period is validated as YYYY-MM, the table reference is quoted); the Athena engine also
-- guards each map lookup (Trino fails on a missing key) and runs this text and bedrock_lines.sql as one
-- UNION ALL query; the embedded engine runs both over one scan of the rows either selects (the condition
-- after the period line is this text's row filter). Amounts are summed as DECIMAL so both engines return
-- the same exact figures; the rules (plan, credits, costs on the configured basis, projections) are
-- applied by the exporter's model, not here. Credits rows are kept per usage day (for the month-end
-- projection); other rows are not split by day. The net cost falls back per line to the unblended cost
-- (the net column exists only for accounts with discounts); the currency is checked by the model. The
-- currency is a group key, not a MIN/MAX per group: a group has one currency, and a bill that mixes them
-- splits into rows the model adds up and refuses by name all the same; the bounds cost DataFusion about
-- 110 bytes per group (a heap string each), a key about 7 (README, "Sample data and benchmarks").
SELECT
  line_item_usage_account_id AS account_id,
  line_item_resource_id AS resource_id,
  product['region'] AS product_region,
  product_region_code AS product_region_code,
  COALESCE(line_item_usage_type, product_usagetype) AS usage_type,
  line_item_operation AS operation,
  line_item_line_item_type AS line_item_type,
  line_item_currency_code AS currency,
  CASE WHEN line_item_operation = 'Credits' THEN CAST(line_item_usage_start_date AS DATE) END AS usage_date,
  SUM(CAST(line_item_usage_amount AS DECIMAL(38, 10))) AS usage_amount,
  SUM(CAST(line_item_unblended_cost AS DECIMAL(38, 10))) AS unblended_cost,
  SUM(CAST(COALESCE(line_item_net_unblended_cost, line_item_unblended_cost) AS DECIMAL(38, 10))) AS net_unblended_cost,
  MAX(line_item_usage_end_date) AS last_usage_end
FROM {{table}}
WHERE billing_period = '{{period}}'
  AND line_item_product_code = 'Kiro'
  AND COALESCE(line_item_operation, '') <> 'q-developer-snapshot'
GROUP BY
  line_item_usage_account_id,
  line_item_resource_id,
  product['region'],
  product_region_code,
  COALESCE(line_item_usage_type, product_usagetype),
  line_item_operation,
  line_item_line_item_type,
  line_item_currency_code,
  CASE WHEN line_item_operation = 'Credits' THEN CAST(line_item_usage_start_date AS DATE) END
