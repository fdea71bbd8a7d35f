"""Reading SQL files and moving query results into DataFrames with COPY."""

from __future__ import annotations

import io
from functools import cache
from importlib.resources import files

import pandas as pd


@cache
def read_sql(name: str) -> str:
    """The text of ``tasks/sql/<name>.sql``."""
    return files("tasks").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def copy_frame(conn, sql_name: str, params: dict, *, parse_dates: tuple[str, ...] = (),
               dtypes: dict[str, str] | None = None, converters: dict | None = None) -> pd.DataFrame:
    """Run a SQL file with bound parameters and read the result through ``COPY ... TO STDOUT``.

    psycopg2 binds the values (``mogrify``); COPY is several times faster than fetching tuples.
    """
    with conn.cursor() as cur:
        query = cur.mogrify(read_sql(sql_name), params).decode()
        buffer = io.StringIO()
        cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer)
    buffer.seek(0)
    frame = pd.read_csv(buffer, dtype=dtypes, converters=converters, keep_default_na=True)
    del buffer
    for column in parse_dates:
        frame[column] = pd.to_datetime(frame[column], format="ISO8601").astype("datetime64[us]")
    return frame


def copy_arrow(conn, sql_name: str, params: dict, types: dict):
    """Like copy_frame, with the column types fixed at read, for large extracts; a pyarrow Table.

    A bytes buffer (a StringIO holds 4 bytes per character once read) and pyarrow's CSV and
    timestamp parsing: a 4-day window at 10,000 users reads in 2.2 s and +0.3 GB instead of
    7.6 s and +1.6 GB.
    """
    import pyarrow.csv as pacsv

    with conn.cursor() as cur:
        query = cur.mogrify(read_sql(sql_name), params).decode()
        buffer = io.BytesIO()
        cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer)
    buffer.seek(0)
    table = pacsv.read_csv(buffer, convert_options=pacsv.ConvertOptions(
        column_types=types, true_values=["t"], false_values=["f"], strings_can_be_null=True))
    del buffer
    return table


def fetch_rows(conn, sql_name: str, params: dict) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(read_sql(sql_name), params)
        return cur.fetchall()
