"""Read CSV, TSV, JSONL/JSON, Parquet and plain-text files into rows.

Every reader returns a :class:`Table` whose rows remember the line (or record) they came from,
so later checks can name the exact place of a problem.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.errors import DataError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
}


@dataclass
class Table:
    """Rows of one file. ``where[i]`` names the place of ``rows[i]`` (e.g. "line 12")."""

    path: str
    columns: list[str]
    rows: list[dict[str, Any]]
    where: list[str]

    def __len__(self) -> int:
        return len(self.rows)


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: unknown file type '{path.suffix}'; expected one of "
            f"{', '.join(sorted(FORMATS))}"
        )
    return fmt


def read_table(path: str | Path, encoding: str = "utf-8") -> Table:
    """Read a data file, choosing the format from its extension."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; pass a data file (CSV, TSV, JSONL, JSON, Parquet)")
    fmt = detect_format(path)
    if fmt == "parquet":
        return _read_parquet(path)
    text = decode_file(path, encoding)
    if fmt == "csv":
        return read_delimited(text, str(path), ",")
    if fmt == "tsv":
        return read_tsv(text, str(path))
    if fmt == "jsonl":
        return read_jsonl(text, str(path))
    if fmt == "json":
        return _read_json(text, str(path))
    return read_lines(text, str(path))


def decode_file(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    try:
        codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        return data.decode(codec)
    except LookupError:
        raise DataError(f"unknown encoding '{encoding}'; use e.g. utf-8 or latin-1") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path} line {line}: bytes that are not valid {encoding} "
            f"({data[exc.start : exc.start + 1]!r} at byte {exc.start}); "
            f"pass --encoding with the file's encoding, e.g. --encoding latin-1"
        ) from None


def read_tsv(text: str, name: str) -> Table:
    """TSV comes both ways: CSV-style quoting (STS-B, pandas ``to_csv(sep="\\t")``) and none at
    all, where a quote is just a character (GLUE's MRPC, the IANA TSV definition). Read it quoted;
    if that breaks, a file that reads cleanly unquoted is unquoted. Otherwise report the quoted
    reading's error, which names the line."""
    try:
        return read_delimited(text, name, "\t")
    except DataError as quoted_error:
        try:
            return read_delimited(text, name, "\t", quoting=False)
        except DataError:
            raise quoted_error from None


def read_delimited(text: str, name: str, delimiter: str, quoting: bool = True) -> Table:
    """CSV/TSV with a header row. A row with the wrong number of fields is an error, not a guess."""
    # The csv module refuses fields over 131072 characters by default: long documents are valid.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        strict=True,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    kind = "CSV" if delimiter == "," else "TSV"
    start = 0  # physical lines consumed before the current record
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(f"{name}: the file is empty; expected a header row and data rows")
        columns = [h.strip() for h in header]
        _check_header(columns, name)
        rows: list[dict[str, Any]] = []
        where: list[str] = []
        start = reader.line_num
        for record in reader:
            line = start + 1
            start = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line
            if len(record) != len(columns):
                raise DataError(
                    f"{name} line {line}: malformed {kind} row with {len(record)} fields, "
                    f"expected {len(columns)} ({', '.join(columns)}); quote fields that contain "
                    f"'{_show(delimiter)}' or line breaks"
                )
            rows.append(dict(zip(columns, record, strict=True)))
            where.append(f"line {line}")
    except csv.Error as exc:
        # Name the line where the broken record starts: for an unclosed quote the reader has
        # already consumed the rest of the file, so its own line number is the last line.
        raise DataError(
            f"{name} line {start + 1}: malformed {kind} ({exc}); check the quoting on that line"
        ) from None
    return Table(name, columns, rows, where)


def read_jsonl(text: str, name: str) -> Table:
    rows: list[dict[str, Any]] = []
    where: list[str] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{name} line {number}: not valid JSON ({exc.msg}); "
                f"expected one JSON object per line"
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f'{name} line {number}: expected a JSON object like {{"text": ..., "label": ...}}, '
                f"found {type(record).__name__}"
            )
        columns.update(dict.fromkeys(record))
        rows.append(record)
        where.append(f"line {number}")
    return Table(name, list(columns), rows, where)


def _read_json(text: str, name: str) -> Table:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if "Extra data" in exc.msg:  # JSON Lines saved as .json
            return read_jsonl(text, name)
        raise DataError(f"{name} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict):  # {"text": [...], "label": [...]} column layout
        lengths = {len(v) for v in data.values() if isinstance(v, list)}
        if len(lengths) == 1 and all(isinstance(v, list) for v in data.values()):
            n = lengths.pop()
            data = [{k: v[i] for k, v in data.items()} for i in range(n)]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(
            f"{name}: expected a JSON list of objects (or JSON Lines), e.g. "
            f'[{{"text": ..., "label": ...}}]'
        )
    columns: dict[str, None] = {}
    for record in data:
        columns.update(dict.fromkeys(record))
    return Table(name, list(columns), data, [f"record {i + 1}" for i in range(len(data))])


def _read_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{path}: cannot read as Parquet ({exc})") from None
    rows = table.to_pylist()
    return Table(
        str(path), list(table.column_names), rows, [f"row {i + 1}" for i in range(len(rows))]
    )


def read_lines(text: str, name: str) -> Table:
    """One text per line (blank lines are skipped): for prediction input and corpora."""
    rows, where = [], []
    for number, line in enumerate(split_lines(text), start=1):
        if line.strip():
            rows.append({"text": line})
            where.append(f"line {number}")
    return Table(name, ["text"], rows, where)


def split_lines(text: str) -> list[str]:
    """Lines split at \\n, \\r\\n or \\r only. ``str.splitlines`` also breaks at U+2028, U+0085,
    form feeds and more, which JSON writers leave unescaped inside strings (``ensure_ascii=False``)
    and which latin-1 decoding produces from byte 0x85."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _check_header(columns: list[str], name: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise DataError(f"{name} line 1: the column '{column}' appears twice in the header")
        seen.add(column)


def _show(delimiter: str) -> str:
    return "\\t" if delimiter == "\t" else delimiter
