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


def fetch_rows(conn, sql_name: str, params: dict) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(read_sql(sql_name), params)
        return cur.fetchall()
