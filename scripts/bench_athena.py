"""Sets up the CUR table on MiniStack and compares the exporter's Athena usage with the naive queries."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from ministack_setup import query, setup  # noqa: E402

endpoint, root, binary = sys.argv[1:4]
# The documented DDL (deploy/athena-cur2-table.sql), pointed at the emulator's copy of the export.
ddl = open("deploy/athena-cur2-table.sql").read()
ddl = " ".join(l for l in ddl.splitlines() if not l.startswith("--"))
ddl = ddl.replace("s3://CUR_BUCKET/CUR_PREFIX/EXPORT_NAME/data/", "s3://cur/exp/data/").rstrip().rstrip(";")
ath = setup(endpoint, root, [ddl])
out = subprocess.run([binary, "--once", "--log.level", "warn", "--athena.database", "billing", "--athena.table", "cur_data",
                      "--athena.output-location", "s3://results/", "--athena.export-path", "s3://cur/exp",
                      "--billing-period", "2026-10"], capture_output=True, text=True, check=True).stdout
metric = lambda name: sum(float(l.rsplit(" ", 1)[1]) for l in out.splitlines() if l.startswith(name))
print(f"exporter: {metric('kiro_exporter_athena_queries_total'):.0f} queries per refresh (one for both aggregates), "
      f"{metric('kiro_exporter_athena_data_scanned_bytes_total'):.0f} bytes scanned, "
      f"{metric('kiro_credits_used{'):.2f} credits over {sum(1 for l in out.splitlines() if l.startswith('kiro_credits_used{'))} licences")

plans = """SELECT DISTINCT SPLIT_PART(line_item_resource_id, 'user/', 2) AS user_id,
  CASE WHEN product_usagetype LIKE '%Pro+%' THEN 'Pro+' WHEN product_usagetype LIKE '%Power%' THEN 'Power'
       WHEN product_usagetype LIKE '%Pro%' THEN 'Pro' END AS subscription_plan
FROM cur_data WHERE billing_period = '2026-10' AND line_item_product_code = 'Kiro' AND line_item_operation = 'monthly-subscription'"""
usage = f"""WITH user_plans AS ({plans})
SELECT p.subscription_plan, p.user_id, SUM(c.line_item_usage_amount) AS total_credits
FROM cur_data c JOIN user_plans p ON SPLIT_PART(c.line_item_resource_id, 'user/', 2) = p.user_id
WHERE c.billing_period = '2026-10' AND c.line_item_product_code = 'Kiro' AND c.line_item_operation = 'Credits'
GROUP BY p.subscription_plan, p.user_id"""
naive = {
    "all Kiro line items": """SELECT identity_time_interval, line_item_operation, product_usagetype, line_item_line_item_description,
  product_sku, line_item_usage_amount, line_item_resource_id, line_item_blended_cost, line_item_unblended_cost
FROM cur_data WHERE billing_period = '2026-10' AND line_item_product_code = 'Kiro'""",
    "credits per user": usage,
    "users over plan": f"WITH u AS ({usage}) SELECT * FROM u WHERE total_credits > 1000",
}
total = 0
for name, sql in naive.items():
    state, scanned = query(ath, sql)
    total += scanned
    print(f"naive '{name}': {state}, {scanned} bytes scanned")
print(f"naive: {len(naive)} queries, {total} bytes scanned")
