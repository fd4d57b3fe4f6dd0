"""Runs an aggregate's SQL text in DuckDB over a partition's Parquet files (the benchmark's baseline)."""
import glob
import sys
import time

import duckdb

part, period, sql_path = sys.argv[1:4]
files = sorted(glob.glob(f"{part}/*.parquet"))
sql = open(sql_path).read().replace("{{table}}", "cur").replace("{{period}}", period)
t0 = time.perf_counter()
con = duckdb.connect()
con.execute(f"CREATE VIEW cur AS SELECT *, '{period}' AS billing_period FROM read_parquet({files!r}, union_by_name=true)")
rows = con.execute(sql).fetchall()
print(f"{time.perf_counter() - t0:.3f}s {len(rows)} groups", file=sys.stderr)
