"""PostgreSQL binary COPY rows built with numpy (no Python loop per row).

A binary COPY row is ``int16 field count`` then, per field, ``int32 length`` (-1 for NULL) and the
value in network byte order. Rows whose fields all have a fixed width share one numpy structured
dtype, so a block of them is one ``tobytes()``. Rows with different text values or NULLs are encoded
per group and scattered back into their original order.

Supported column kinds: ``int8``, ``int4``, ``float8``, ``bool``, ``timestamp`` (int64 microseconds since
1970-01-01, naive UTC), ``numeric:<scale>`` (float values, |integer part| < 10000), ``text`` (one
value for the whole block) and ``null``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
PG_EPOCH_MICROSECONDS = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
NUMERIC_POS, NUMERIC_NEG = 0x0000, 0x4000

_FIXED = {"int8": (">i8", 8), "int4": (">i4", 4), "float8": (">f8", 8), "bool": ("u1", 1), "timestamp": (">i8", 8)}


def _dtype(columns: Sequence[tuple[str, object]]) -> np.dtype:
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for index, (kind, value) in enumerate(columns):
        fields.append((f"l{index}", ">i4"))
        if kind in _FIXED:
            fields.append((f"v{index}", _FIXED[kind][0]))
        elif kind == "text":
            fields.append((f"v{index}", f"S{len(value)}"))
        elif kind.startswith("numeric:"):
            fields += [(f"v{index}_{part}", ">i2") for part in ("ndigits", "weight", "sign", "dscale", "d0", "d1")]
        elif kind != "null":
            raise ValueError(f"unknown column kind {kind!r}")
    return np.dtype(fields)


def encode_block(n: int, columns: Sequence[tuple[str, object]]) -> np.ndarray:
    """``n`` rows as a structured array (``.tobytes()`` is the COPY data, header excluded).

    ``columns`` is a sequence of ``(kind, values)``: arrays of length ``n`` for the fixed kinds,
    ``bytes`` for ``text``, ``None`` for ``null``.
    """
    rows = np.empty(n, dtype=_dtype(columns))
    rows["count"] = len(columns)
    for index, (kind, value) in enumerate(columns):
        length = f"l{index}"
        if kind == "null":
            rows[length] = -1
        elif kind == "text":
            rows[length] = len(value)
            rows[f"v{index}"] = value
        elif kind == "timestamp":
            rows[length] = 8
            rows[f"v{index}"] = np.asarray(value, dtype=np.int64) - PG_EPOCH_MICROSECONDS
        elif kind in _FIXED:
            rows[length] = _FIXED[kind][1]
            rows[f"v{index}"] = value
        else:  # numeric:<scale>: two base-10000 digits, the integer part and the fraction
            scale = int(kind.split(":", 1)[1])
            if not 0 <= scale <= 4:
                raise ValueError("numeric scale must be 0..4")
            scaled = np.rint(np.abs(np.asarray(value, dtype=np.float64)) * 10**scale).astype(np.int64)
            integer, fraction = np.divmod(scaled, 10**scale)
            if n and integer.max() >= 10_000:
                raise ValueError("numeric value too large for the binary encoder")
            rows[length] = 12
            rows[f"v{index}_ndigits"] = 2
            rows[f"v{index}_weight"] = 0
            rows[f"v{index}_sign"] = np.where(np.asarray(value) < 0, NUMERIC_NEG, NUMERIC_POS)
            rows[f"v{index}_dscale"] = scale
            rows[f"v{index}_d0"] = integer
            rows[f"v{index}_d1"] = fraction * 10 ** (4 - scale)
    return rows


def scatter_blocks(blocks: Sequence[tuple[np.ndarray, np.ndarray]], n: int, slice_rows: int = 65_536) -> bytes:
    """Concatenate encoded blocks so that output row ``positions[k]`` is ``rows[k]`` of its block.

    ``blocks`` is a sequence of ``(positions, encoded rows)`` with increasing positions in each
    block; together the positions are a permutation of ``range(n)``. Works on slices of rows so
    that the byte index arrays stay small.
    """
    sizes = np.zeros(n, dtype=np.int64)
    for positions, rows in blocks:
        sizes[positions] = rows.dtype.itemsize
    offsets = np.cumsum(sizes) - sizes
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    for positions, rows in blocks:
        width = rows.dtype.itemsize
        raw = rows.view(np.uint8).reshape(len(rows), width)
        step = max(1, slice_rows * 64 // width)
        columns = np.arange(width, dtype=np.int64)
        for first in range(0, len(positions), step):
            target = offsets[positions[first:first + step]]
            out[(target[:, None] + columns).reshape(-1)] = raw[first:first + step].reshape(-1)
    return out.tobytes()
