"""Turn a raw file's bytes into a table: CSV (optionally gzipped, with or without BOM, any line
endings) or Parquet. Anything unreadable becomes a :class:`Violation` naming the file and the rule."""

from __future__ import annotations

import gzip
import io
import zlib

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from umm_assets.lib.landing import RawFile
from umm_assets.lib.violations import ContractError, Violation

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
SUPPORTED = "CSV (.csv, optionally gzipped as .csv.gz) or Parquet (.parquet)"


def file_format(file: RawFile) -> str | None:
    name = file.name.lower()
    if name.endswith((".csv", ".csv.gz", ".csv.gzip", ".gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return None


def read_table(file: RawFile, data: bytes) -> tuple[pd.DataFrame, bool]:
    """Decode one raw file.

    Returns the table and whether it came from text (CSV: every cell is a string or missing, and
    physical line numbers are row + 1). Raises :class:`ContractError` with one violation otherwise.
    """
    fmt = file_format(file)
    if fmt is None:
        _fail(file, f"unsupported file type: expected {SUPPORTED}")
    if not data:
        _fail(file, "file is empty")
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(file, data)
        if not data:
            _fail(file, "file is empty (after gzip decompression)")
    if fmt == "parquet" or data[:4] == PARQUET_MAGIC:
        return _read_parquet(file, data), False
    return _read_csv(file, data), True


def _fail(file: RawFile, rule: str, **where) -> None:
    raise ContractError([Violation(file.path, rule, **where)])


def _gunzip(file: RawFile, data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        _fail(file, f"gzip stream is truncated or corrupt, the file may still be being written ({err})")


def _read_parquet(file: RawFile, data: bytes) -> pd.DataFrame:
    if data[:4] != PARQUET_MAGIC or data[-4:] != PARQUET_MAGIC:
        _fail(file, "not a complete Parquet file (missing PAR1 footer): it may still be being written")
    try:
        return pq.read_table(io.BytesIO(data)).to_pandas()
    except (pa.ArrowException, OSError) as err:
        _fail(file, f"unreadable Parquet file ({err})")


def _read_csv(file: RawFile, data: bytes) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte-order mark is accepted and dropped
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        byte = data[err.start : err.start + 1].hex()
        _fail(file, f"text is not valid UTF-8 (byte 0x{byte} at offset {err.start})", line=line)
    if not text.strip():
        _fail(file, "file is empty")
    try:
        table = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True
        )
    except pd.errors.ParserError as err:
        _fail(file, f"malformed CSV: {err}")
    except pd.errors.EmptyDataError:
        _fail(file, "file is empty")
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        _fail(file, "file has a header but no data rows")
    return table
