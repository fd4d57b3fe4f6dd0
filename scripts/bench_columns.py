"""The compressed bytes of the columns the aggregates read, plus every file's footer: the least a refresh
must fetch. Usage: bench_columns.py PARTITION_DIR COLUMN...  (map columns count with all their leaves)."""
import glob
import os
import struct
import sys

import duckdb

part, *columns = sys.argv[1:]
files = sorted(glob.glob(f"{part}/*.parquet"))
con = duckdb.connect()
chunks = con.execute(
    f"SELECT path_in_schema, total_compressed_size FROM parquet_metadata({files!r})").fetchall()
needed = sum(size for path, size in chunks if path.split(", ")[0] in columns)
footers = 0
for f in files:
    with open(f, "rb") as fh:
        fh.seek(-8, os.SEEK_END)
        footers += struct.unpack("<I", fh.read(4))[0] + 8
print(f"needed columns {needed} + footers {footers} = {needed + footers} bytes")
