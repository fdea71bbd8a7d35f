"""Dump both marts of a chDB path to parquet, and compare two dumps cell by cell.

    python bench/compare_marts.py dump --chdb .data/clickhouse --out /tmp/after.parquet
    python bench/compare_marts.py compare .data/mart-baseline/default.parquet /tmp/after.parquet

Meant to prove that a change of the ETL's computation changes no mart cell: dump the marts computed by
the old code, dump the ones computed by the new code from the same sources, compare.

dump
    Opens the chDB path directly (``chdb:///abs/path``; chDB allows one path per process, so run it
    while no ETL, API or other process has that path open) and reads every row of every month of
    ``reports_db.report_user_monthly_metrics`` and ``reports_db.report_prosthetic_monthly_metrics``,
    every column but ``created_at`` and ``last_updated`` (found from ``system.columns``, so added or
    removed columns show up in the comparison). Writes ONE parquet file holding both marts:

    - column ``mart`` = ``user`` or ``prosthetic``, then the union of the two marts' columns in table
      order; a column that does not belong to a row's mart is null in that row;
    - keys: ``user`` = (report_date, user_id), ``prosthetic`` = (report_date, prosthetic_id);
    - rows sorted by (mart: user first, report_date, key);
    - types kept exact: Decimal(P, S) as parquet decimal128(P, S), Float64 as double (bit-exact),
      Date as date32, IntN as intN, String as string;
    - the file's schema metadata ``compare_marts`` (JSON) names, per mart, the table, the key, the
      columns and their ClickHouse types, the row count, the source path and the dump time.

compare BEFORE AFTER
    Reads two dumps and prints: rows per mart on each side, keys only in one side (the first 10 of
    each), columns only in one side, type changes, duplicate keys, the number of differing cells per
    column, the first 10 differing cells, and last ``differing cells: N``. Cells are compared exactly:
    Decimals as Decimals (numeric equality, no float on the way), floats by value (equal when
    ``a == b`` with the same sign, so 0.0 and -0.0 differ; NaN equals NaN), everything else with
    ``==``; a null equals only a null. A column present in one side only counts each of that mart's
    common rows as a differing cell. Exit status 0 when N is 0, the key sets are equal and no key is
    duplicated; 1 otherwise (2 on a usage error).

Dependencies: the standard library, clickhouse-connect (with chDB) for ``dump``, pyarrow (pandas'
parquet engine, installed with chDB) for both. It imports nothing from the project.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DATABASE = "reports_db"
EXCLUDED = ("created_at", "last_updated")
META_KEY = b"compare_marts"
SHOWN = 10


@dataclass(frozen=True)
class Mart:
    name: str
    table: str
    key: tuple[str, ...]


MARTS = (
    Mart("user", "report_user_monthly_metrics", ("report_date", "user_id")),
    Mart("prosthetic", "report_prosthetic_monthly_metrics", ("report_date", "prosthetic_id")),
)

_INTS = {f"{s}Int{n}": getattr(pa, f"{s.lower()}int{n}")() for s in ("", "U") for n in (8, 16, 32, 64)}
_SIMPLE = {**_INTS, "Float32": pa.float32(), "Float64": pa.float64(), "Date": pa.date32(), "Date32": pa.date32(),
           "String": pa.string(), "Bool": pa.bool_(), "UUID": pa.string()}


def arrow_type(ch_type: str) -> pa.DataType:
    """The parquet type that keeps a ClickHouse column's values exactly."""
    inner = re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", ch_type)
    if inner:
        return arrow_type(inner.group(1))
    if ch_type in _SIMPLE:
        return _SIMPLE[ch_type]
    decimal = re.fullmatch(r"Decimal\((\d+),\s*(\d+)\)", ch_type)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    sized = re.fullmatch(r"Decimal(32|64|128|256)\((\d+)\)", ch_type)
    if sized:
        precision = {"32": 9, "64": 18, "128": 38, "256": 76}[sized.group(1)]
        return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, int(sized.group(2)))
    if re.fullmatch(r"FixedString\(\d+\)", ch_type):
        return pa.string()
    raise SystemExit(f"compare_marts: no exact parquet type for ClickHouse type {ch_type!r}")


# --- dump -------------------------------------------------------------------------------------------


def dump(chdb_path: Path, out: Path) -> int:
    import clickhouse_connect

    path = chdb_path.expanduser().resolve()
    if not path.is_dir():  # chDB would silently create an empty database at a wrong path
        raise SystemExit(f"compare_marts: {path} is not a directory (the chDB path, e.g. <data dir>/clickhouse)")
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    try:
        marts: dict[str, dict] = {}
        rows: list[dict] = []
        union: dict[str, pa.DataType] = {}
        for mart in MARTS:
            described = client.query(
                "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} "
                "ORDER BY position", parameters={"db": DATABASE, "t": mart.table}).result_rows
            if not described:
                raise SystemExit(f"compare_marts: {DATABASE}.{mart.table} does not exist in {path}")
            columns = [(name, ch_type) for name, ch_type in described if name not in EXCLUDED]
            names = [name for name, _ in columns]
            missing = [k for k in mart.key if k not in names]
            if missing:
                raise SystemExit(f"compare_marts: {mart.table} has no key column(s) {missing}")
            for name, ch_type in columns:
                kind = arrow_type(ch_type)
                if union.setdefault(name, kind) != kind:
                    raise SystemExit(f"compare_marts: column {name} has types {union[name]} and {kind} in the two marts")
            select = ", ".join(f"`{n}`" for n in names)
            order = ", ".join(f"`{k}`" for k in mart.key)
            result = client.query(f"SELECT {select} FROM {DATABASE}.{mart.table} ORDER BY {order}")
            mart_rows = [dict(zip(names, row), mart=mart.name) for row in result.result_rows]
            rows.extend(mart_rows)
            marts[mart.name] = {"table": f"{DATABASE}.{mart.table}", "key": list(mart.key), "columns": names,
                                "types": dict(columns), "rows": len(mart_rows)}
    finally:
        client.close()

    schema = pa.schema([pa.field("mart", pa.string(), nullable=False)]
                       + [pa.field(name, kind) for name, kind in union.items()])
    meta = {"source": str(path), "dumped_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "excluded": list(EXCLUDED), "marts": marts}
    schema = schema.with_metadata({META_KEY: json.dumps(meta).encode()})
    table = pa.Table.from_pylist(rows, schema=schema)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    counts = ", ".join(f"{name}: {m['rows']:,} rows" for name, m in marts.items())
    print(f"{path} -> {out} ({counts})")
    return 0


# --- compare ----------------------------------------------------------------------------------------


@dataclass
class Dump:
    path: Path
    meta: dict
    rows: dict[str, dict[tuple, dict]]  # mart -> key -> row
    duplicates: dict[str, list[tuple]]


def load(path: Path) -> Dump:
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise SystemExit(f"compare_marts: {path} is not a dump of this script (no {META_KEY.decode()} metadata)")
    meta = json.loads(raw)
    rows: dict[str, dict[tuple, dict]] = {name: {} for name in meta["marts"]}
    duplicates: dict[str, list[tuple]] = {name: [] for name in meta["marts"]}
    for row in table.to_pylist():  # Decimal, float, int, str, date: exact Python values
        mart = meta["marts"][row["mart"]]
        key = tuple(row[k] for k in mart["key"])
        values = {c: row[c] for c in mart["columns"]}
        if key in rows[row["mart"]]:
            duplicates[row["mart"]].append(key)
        rows[row["mart"]][key] = values
    return Dump(path, meta, rows, duplicates)


def same(a: object, b: object) -> bool:
    """Exact equality of two cells: Decimals as Decimals, floats bit-for-bit in value and sign."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, float) and isinstance(b, float)):
            return False  # a float against a Decimal or int is a change of type: never silently equal
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return isinstance(a, Decimal) and isinstance(b, Decimal) and a == b
    return type(a) is type(b) and a == b


def show(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def compare(before_path: Path, after_path: Path) -> int:
    before, after = load(before_path), load(after_path)
    print(f"before: {before.path} (from {before.meta['source']}, dumped {before.meta['dumped_at']})")
    print(f"after:  {after.path} (from {after.meta['source']}, dumped {after.meta['dumped_at']})")
    problems = 0
    cells: Counter[str] = Counter()
    columns_seen: list[str] = []
    differences: list[str] = []
    for name in dict.fromkeys([*before.meta["marts"], *after.meta["marts"]]):
        mb, ma = before.meta["marts"].get(name), after.meta["marts"].get(name)
        if mb is None or ma is None:
            print(f"\nmart {name}: only in {'after' if mb is None else 'before'}")
            problems += 1
            continue
        rb, ra = before.rows[name], after.rows[name]
        print(f"\nmart {name} ({mb['table']}, key {', '.join(mb['key'])}): "
              f"rows before {len(rb):,}, after {len(ra):,}")
        if mb["key"] != ma["key"]:
            print(f"  key differs: before {mb['key']}, after {ma['key']}")
            problems += 1
        for label, dump_ in (("before", before), ("after", after)):
            if dump_.duplicates[name]:
                problems += 1
                print(f"  duplicate keys in {label}: {len(dump_.duplicates[name])}, "
                      f"first {dump_.duplicates[name][:SHOWN]}")
        only_before = sorted(rb.keys() - ra.keys())
        only_after = sorted(ra.keys() - rb.keys())
        for label, keys in (("before", only_before), ("after", only_after)):
            print(f"  keys only in {label}: {len(keys):,}" + (f", first {[tuple(map(str, k)) for k in keys[:SHOWN]]}" if keys else ""))
        problems += bool(only_before) + bool(only_after)
        cols_b, cols_a = mb["columns"], ma["columns"]
        for label, cols in (("before", [c for c in cols_b if c not in cols_a]), ("after", [c for c in cols_a if c not in cols_b])):
            if cols:
                print(f"  columns only in {label}: {cols}")
        for column in cols_b:
            if column in cols_a and mb["types"][column] != ma["types"][column]:
                print(f"  type of {column}: before {mb['types'][column]}, after {ma['types'][column]} (values still compared exactly)")
        common = sorted(rb.keys() & ra.keys())
        for column in dict.fromkeys([*cols_b, *cols_a]):
            qualified = f"{name}.{column}"
            columns_seen.append(qualified)
            for key in common:
                vb, va = rb[key].get(column, "<no column>"), ra[key].get(column, "<no column>")
                if column not in rb[key] or column not in ra[key] or not same(vb, va):
                    cells[qualified] += 1
                    if len(differences) < SHOWN:
                        where = ", ".join(f"{k}={v}" for k, v in zip(mb["key"], key))
                        differences.append(f"  {name} [{where}] {column}: before {show(vb)}, after {show(va)}")

    print("\ndiffering cells per column:")
    width = max(map(len, columns_seen), default=0)
    for qualified in columns_seen:
        print(f"  {qualified:<{width}} {cells[qualified]:>10,}")
    print(f"\nfirst {SHOWN} differences:" if differences else "\nno differences")
    for line in differences:
        print(line)
    total = sum(cells.values())
    print(f"differing cells: {total}")
    return 0 if total == 0 and problems == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="See the module docstring for the file format and the rules.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_dump = sub.add_parser("dump", help="write both marts of a chDB path to one parquet file")
    p_dump.add_argument("--chdb", type=Path, required=True, help="the chDB path, e.g. <data dir>/clickhouse")
    p_dump.add_argument("--out", type=Path, required=True, help="the parquet file to write")
    p_cmp = sub.add_parser("compare", help="compare two dumps cell by cell (exit 1 on any difference)")
    p_cmp.add_argument("before", type=Path)
    p_cmp.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.command == "dump":
        code = dump(args.chdb, args.out)
        print(f"in {time.perf_counter() - started:.1f} s")
        return code
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
