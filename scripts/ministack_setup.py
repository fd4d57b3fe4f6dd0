"""Puts a generated CUR 2.0 export into MiniStack's S3 and creates the Athena tables over it.

Used by the Athena integration tests and by scripts/bench-athena:
    python scripts/ministack_setup.py ENDPOINT EXPORT_DIR < ddl-lines
Data folders are uploaded in Hive's lower case (`data/billing_period=...`), as the emulator needs; the
export lands in s3://cur/exp, query results go to s3://results/, tables to the database `billing`, and each
table's partitions are registered in Glue (with their folders as locations) as the export's crawler does.
"""
import os
import sys
import time

import boto3


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client("s3", **kw), boto3.client("glue", **kw), boto3.client("athena", **kw)


def query(ath, sql):
    """Runs one statement to the end; returns (state, bytes scanned)."""
    qid = ath.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": "billing"},
                                    ResultConfiguration={"OutputLocation": "s3://results/"})["QueryExecutionId"]
    while True:
        e = ath.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if e["Status"]["State"] not in ("QUEUED", "RUNNING"):
            return e["Status"]["State"], e.get("Statistics", {}).get("DataScannedInBytes", 0)
        time.sleep(0.1)


def setup(endpoint, root, ddls):
    s3, glue, ath = clients(endpoint)
    for b in ("cur", "results"):
        s3.create_bucket(Bucket=b)
    for dp, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, root).replace("data/BILLING_PERIOD=", "data/billing_period=")
            s3.upload_file(p, "cur", "exp/" + rel)
    glue.create_database(DatabaseInput={"Name": "billing"})
    for ddl in ddls:
        state, _ = query(ath, ddl)
        if state != "SUCCEEDED":
            raise SystemExit(f"{state}: {ddl[:80]}")
    register_partitions(s3, glue)
    return ath


def register_partitions(s3, glue):
    """Registers each table's billing_period partitions in Glue, as the Data Exports crawler does: one per
    `billing_period=YYYY-MM/` folder under the table's location, with that folder as its location."""
    for table in glue.get_tables(DatabaseName="billing")["TableList"]:
        location = table.get("StorageDescriptor", {}).get("Location", "")
        if not location.startswith("s3://") or not table.get("PartitionKeys"):
            continue
        bucket, _, prefix = location[len("s3://"):].partition("/")
        prefix = prefix.rstrip("/") + "/"
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/").get("CommonPrefixes", [])
        inputs = []
        for p in listed:
            folder = p["Prefix"][len(prefix):].rstrip("/")
            key, _, value = folder.partition("=")
            if key.lower() == "billing_period" and value:
                inputs.append({"Values": [value], "StorageDescriptor": {"Location": f"s3://{bucket}/{p['Prefix']}"}})
        if inputs:
            glue.batch_create_partition(DatabaseName="billing", TableName=table["Name"], PartitionInputList=inputs)


if __name__ == "__main__":
    setup(sys.argv[1], sys.argv[2], [line for line in sys.stdin.read().splitlines() if line.strip()])
