-- bedrock_lines: Amazon Bedrock line items of one billing period, grouped per account, region, IAM
-- principal, usage type, model, pricing unit and line item type (plus the configured principal tags).
--
-- Portable subset, as kiro_lines.sql. Substituted: the table, the period, and the tag placeholders (in
-- the select list and the GROUP BY), which the exporter renders from validated tag keys as
-- `tags['KEY'] AS tag_0`; a key may only hold the characters AWS allows in tag keys, none
-- of which can end a string literal.
-- Bedrock rows: the Bedrock product codes; or the product family every Bedrock row has since July 2026;
-- or AWS Marketplace rows (third-party models such as Claude) whose product name names Bedrock.
-- Token classes, model names, unit scaling and principal parsing are the model's rules, not SQL's. The
-- currency is a group key, as in kiro_lines.sql.
SELECT
  line_item_usage_account_id AS account_id,
  product_region_code AS product_region_code,
  product['region'] AS product_region,
  line_item_iam_principal AS principal,
  COALESCE(line_item_usage_type, product_usagetype) AS usage_type,
  product['model'] AS product_model,
  product['product_name'] AS product_name,
  pricing_unit AS pricing_unit,
  line_item_currency_code AS currency,
  line_item_line_item_type AS line_item_type,
  {{tag_columns}}
  SUM(CAST(line_item_usage_amount AS DECIMAL(38, 10))) AS usage_amount,
  SUM(CAST(line_item_unblended_cost AS DECIMAL(38, 10))) AS unblended_cost,
  SUM(CAST(COALESCE(line_item_net_unblended_cost, line_item_unblended_cost) AS DECIMAL(38, 10))) AS net_unblended_cost
FROM {{table}}
WHERE billing_period = '{{period}}'
  AND (
    line_item_product_code IN ('AmazonBedrock', 'AmazonBedrockService', 'AmazonBedrockFoundationModels', 'AmazonBedrockAgentCore')
    OR product_product_family = 'Amazon Bedrock'
    OR (bill_billing_entity = 'AWS Marketplace' AND product['product_name'] LIKE '%Bedrock%')
  )
GROUP BY
  line_item_usage_account_id,
  product_region_code,
  product['region'],
  line_item_iam_principal,
  COALESCE(line_item_usage_type, product_usagetype),
  product['model'],
  product['product_name'],
  pricing_unit,
  line_item_currency_code,
  line_item_line_item_type{{tag_group}}
