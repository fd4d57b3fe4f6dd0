"""Sets up the CUR table on MiniStack and compares the exporter's Athena usage with the naive queries."""
import os, re, subprocess, sys, time
import boto3

endpoint, root, binary = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
s3, glue, ath = (boto3.client(n, **kw) for n in ("s3", "glue", "athena"))
for b in ("cur", "results"):
    s3.create_bucket(Bucket=b)
for dp, _, files in os.walk(root):
    for f in files:
        p = os.path.join(dp, f)
        rel = os.path.relpath(p, root).replace("data/BILLING_PERIOD=", "data/billing_period=")
        s3.upload_file(p, "cur", "exp/" + rel)
glue.create_database(DatabaseInput={"Name": "billing"})
src = open("src/generate/columns.rs").read()
types = {"Str": "string", "F64": "double", "Ts": "timestamp", "MapStr": "map<string,string>", "MapF64": "map<string,double>"}
cols = ", ".join(f"`{n}` {types[t]}" for n, t in re.findall(r'\("(\w+)", (\w+)\)', src))

def q(sql):
    qid = ath.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": "billing"},
                                    ResultConfiguration={"OutputLocation": "s3://results/"})["QueryExecutionId"]
    while True:
        e = ath.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if e["Status"]["State"] not in ("QUEUED", "RUNNING"):
            return e["Status"]["State"], e.get("Statistics", {}).get("DataScannedInBytes", 0)
        time.sleep(0.1)

q(f"CREATE EXTERNAL TABLE cur_data ({cols}) PARTITIONED BY (billing_period string) STORED AS PARQUET LOCATION 's3://cur/exp/data/'")
out = subprocess.run([binary, "--once", "--log.level", "warn", "--athena.database", "billing", "--athena.table", "cur_data",
                      "--athena.output-location", "s3://results/", "--athena.export-path", "s3://cur/exp",
                      "--billing-period", "2026-10"], capture_output=True, text=True, check=True).stdout
metric = lambda name: sum(float(l.rsplit(" ", 1)[1]) for l in out.splitlines() if l.startswith(name))
print(f"exporter: {metric('kiro_exporter_athena_queries_total'):.0f} query per refresh, "
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
    state, scanned = q(sql)
    total += scanned
    print(f"naive '{name}': {state}, {scanned} bytes scanned")
print(f"naive: {len(naive)} queries, {total} bytes scanned")
