"""Turn a raw file's bytes into a table: CSV (optionally gzipped, with or without BOM, any line
endings) or Parquet. Anything unreadable becomes a :class:`Violation` naming the file and the rule."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections import Counter

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
    physical line numbers are row + 1). Raises :class:`ContractError` with its violations otherwise.
    """
    fmt = file_format(file)
    if fmt is None:
        _fail(file, f"unsupported file type: expected {SUPPORTED}")
    if not data:
        _fail(file, "file is empty")
    gzipped = data[:2] == GZIP_MAGIC
    if gzipped:
        data = _gunzip(file, data)
        if not data:
            _fail(file, "file is empty (after gzip decompression)")
    if fmt == "parquet" or data[:4] == PARQUET_MAGIC:
        return _read_parquet(file, data), False
    return _read_csv(file, data, gzipped), True


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
        parquet = pq.ParquetFile(io.BytesIO(data))
        _check_header(file, parquet.schema_arrow.names)
        if parquet.metadata.num_rows == 0:
            _fail(file, "file has no data rows")
        return parquet.read().to_pandas()
    except (pa.ArrowException, OSError) as err:
        _fail(file, f"unreadable Parquet file ({err})")


def _check_header(file: RawFile, names: list[str]) -> None:
    """A column named twice would silently lose one of them (pandas renames it, Arrow refuses it)."""
    counts = Counter(names)
    repeated = [Violation(file.path, f"column appears {n} times in the header: each column must be named once",
                          column=name) for name, n in counts.items() if n > 1]
    if repeated:
        raise ContractError(repeated)


def _read_csv(file: RawFile, data: bytes, gzipped: bool = False) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte-order mark is accepted and dropped
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        byte = data[err.start : err.start + 1].hex()
        if not gzipped and file.name.lower().endswith((".gz", ".gzip")):  # a real gzip's text is just not UTF-8
            _fail(file, f"not gzip data (no gzip header), and not UTF-8 text either (byte 0x{byte} at offset "
                        f"{err.start}): is it really a .csv.gz file?")
        _fail(file, f"text is not valid UTF-8 (byte 0x{byte} at offset {err.start})", line=line)
    if not text.strip():
        _fail(file, "file is empty")
    if "\x00" in text:  # pandas cuts a cell at a NUL byte: a channel name would silently become another
        _fail_lines(file, text, lambda record, _: any("\x00" in cell for cell in record),
                    "contains a NUL byte (binary data in a text file)")
        _fail(file, "the header contains a NUL byte (binary data in a text file)", line=1)
    try:
        # header=None: the header line fixes the number of fields, so a row with more fields than the header
        # is an error instead of pandas taking its extra leading fields as an index (shifting every column)
        cells = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, na_values=[""],
                            skipinitialspace=True)
    except pd.errors.ParserError as err:
        _fail_lines(file, text, lambda record, header: len(record) > len(header),
                    "ragged row: it has {fields} fields but the header has {columns}")
        _fail(file, f"malformed CSV: {err}")
    except pd.errors.EmptyDataError:
        _fail(file, "file is empty")
    # an empty header cell is named as pandas names it (e.g. the trailing comma of a spreadsheet export)
    names = [f"Unnamed: {i}" if pd.isna(c) else str(c).strip() for i, c in enumerate(cells.iloc[0])]
    _check_header(file, names)
    table = cells.iloc[1:].set_axis(names, axis=1).reset_index(drop=True)
    if table.empty:
        _fail(file, "file has a header but no data rows")
    return table


def _fail_lines(file: RawFile, text: str, broken, rule: str) -> None:
    """Fail with one violation per data row for which ``broken(record, header)`` holds (rows counted as pandas
    counts them: blank lines skipped). ``rule`` may use {fields} and {columns}."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = next(reader, [])
    found, row, start = [], 0, reader.line_num + 1
    for record in reader:
        if record:
            row += 1
            if broken(record, header):
                found.append(Violation(file.path, rule.format(fields=len(record), columns=len(header)),
                                       row=row, line=start))
        start = reader.line_num + 1
    if found:
        raise ContractError(found)
