"""read_table: every supported format, every way a file can be broken, and round trips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headstart.data.readers import read_table
from headstart.errors import DataError, HeadstartError


def write_bytes(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_rows(path: Path, rows: list[tuple[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


# ---------------------------------------------------------------------------------------------
# Formats


def test_csv(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", 'text,label\nhello,pos\n"a, b ""c""",neg\n')
    table = read_table(path)
    assert table.columns == ["text", "label"]
    assert table.rows == [{"text": "hello", "label": "pos"}, {"text": 'a, b "c"', "label": "neg"}]
    assert table.where == ["line 2", "line 3"]
    assert len(table) == 2
    assert table.path == str(path)


def test_csv_multiline_field_and_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", 'text,label\n"one\ntwo",a\n\nthree,b\r\nfour,c\n')
    table = read_table(path)
    assert [r["text"] for r in table.rows] == ["one\ntwo", "three", "four"]
    assert table.where == ["line 2", "line 5", "line 6"]


def test_csv_header_names_are_stripped(tmp_path: Path) -> None:
    table = read_table(write_bytes(tmp_path / "d.csv", " text , label\nx,1\n"))
    assert table.columns == ["text", "label"]
    assert table.rows == [{"text": "x", "label": "1"}]


def test_csv_long_field(tmp_path: Path) -> None:
    # longer than the csv module's default field size limit (131072 characters)
    long_text = "word " * 60_000
    path = write_rows(tmp_path / "d.csv", [(long_text, "a"), ("short", "b")])
    table = read_table(path)
    assert table.rows[0]["text"] == long_text
    assert table.rows[1] == {"text": "short", "label": "b"}


@pytest.mark.parametrize("suffix", [".tsv", ".tab", ".TSV"])
def test_tsv(tmp_path: Path, suffix: str) -> None:
    path = write_bytes(tmp_path / f"d{suffix}", "sentence\tlabel\na, b, c\t1\nd\t0\n")
    table = read_table(path)
    assert table.columns == ["sentence", "label"]
    assert table.rows == [{"sentence": "a, b, c", "label": "1"}, {"sentence": "d", "label": "0"}]
    assert table.where == ["line 2", "line 3"]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_jsonl(tmp_path: Path, suffix: str) -> None:
    lines = [{"text": "a", "label": 1}, {"text": "b", "label": "x", "extra": None}]
    content = json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n"
    table = read_table(write_bytes(tmp_path / f"d{suffix}", content))
    assert table.columns == ["text", "label", "extra"]
    assert table.rows == lines
    assert table.where == ["line 1", "line 3"]


def test_jsonl_keeps_unescaped_unicode_line_separators(tmp_path: Path) -> None:
    # json.dumps(ensure_ascii=False) leaves U+2028, U+0085 and form feeds raw inside strings
    records = [{"text": "a\u2028b\x85c\x0cd\x1ce", "label": "x"}, {"text": "f", "label": "y"}]
    content = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    table = read_table(write_bytes(tmp_path / "d.jsonl", content))
    assert table.rows == records
    assert table.where == ["line 1", "line 2"]


def test_json_list_of_objects(tmp_path: Path) -> None:
    records = [{"text": "a", "label": 0}, {"text": "b", "label": 1}]
    table = read_table(write_bytes(tmp_path / "d.json", json.dumps(records, indent=2)))
    assert table.columns == ["text", "label"]
    assert table.rows == records
    assert table.where == ["record 1", "record 2"]


def test_json_column_dict(tmp_path: Path) -> None:
    data = {"text": ["a", "b", "c"], "label": ["x", "y", "x"]}
    table = read_table(write_bytes(tmp_path / "d.json", json.dumps(data)))
    assert table.columns == ["text", "label"]
    assert table.rows == [
        {"text": "a", "label": "x"},
        {"text": "b", "label": "y"},
        {"text": "c", "label": "x"},
    ]
    assert table.where == ["record 1", "record 2", "record 3"]


def test_json_lines_saved_as_json(tmp_path: Path) -> None:
    content = '{"text": "a", "label": 1}\n{"text": "b", "label": 2}\n'
    table = read_table(write_bytes(tmp_path / "d.json", content))
    assert table.rows == [{"text": "a", "label": 1}, {"text": "b", "label": 2}]


@pytest.mark.parametrize(
    "content",
    ['{"text": ["a", "b"], "label": ["x"]}', '"just a string"', "[1, 2]", "{}"],
    ids=["ragged-columns", "string", "list-of-numbers", "empty-object"],
)
def test_json_wrong_shape(tmp_path: Path, content: str) -> None:
    with pytest.raises(DataError, match="expected a JSON list of objects"):
        read_table(write_bytes(tmp_path / "d.json", content))


def test_json_invalid_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"d\.json line 3: not valid JSON"):
        read_table(write_bytes(tmp_path / "d.json", '[\n  {"text": "a"},\n  {"text": }\n]'))


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"d{suffix}"
    pq.write_table(pa.table({"text": ["a", "b"], "label": [3, 4]}), path)
    table = read_table(path)
    assert table.columns == ["text", "label"]
    assert table.rows == [{"text": "a", "label": 3}, {"text": "b", "label": 4}]
    assert table.where == ["row 1", "row 2"]


def test_parquet_broken_file(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.parquet", b"this is not parquet")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        read_table(path)


def test_txt(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.txt", "first line\n\n  \nsecond, with comma\r\nthird\tx\n")
    table = read_table(path)
    assert table.columns == ["text"]
    assert [r["text"] for r in table.rows] == ["first line", "second, with comma", "third\tx"]
    assert table.where == ["line 1", "line 4", "line 5"]


def test_txt_latin1_byte_0x85_is_not_a_line_break(tmp_path: Path) -> None:
    # cp1252 "…" is byte 0x85; decoded as latin-1 it becomes U+0085 (NEL)
    path = write_bytes(tmp_path / "d.txt", b"wait\x85 what\nnext\n")
    table = read_table(path, encoding="latin-1")
    assert [r["text"] for r in table.rows] == ["wait\x85 what", "next"]
    assert table.where == ["line 1", "line 2"]


# ---------------------------------------------------------------------------------------------
# Files that are not there or not data


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found") as info:
        read_table(tmp_path / "nope.csv")
    assert "nope.csv" in str(info.value)
    assert isinstance(info.value, HeadstartError)


def test_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="is a folder"):
        read_table(folder)


@pytest.mark.parametrize("name", ["data.xlsx", "data", "data.csv.gz"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    path = write_bytes(tmp_path / name, "text,label\na,b\n")
    with pytest.raises(DataError, match="unknown file type") as info:
        read_table(path)
    message = str(info.value)
    for suffix in (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt"):
        assert suffix in message


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", "text,label\na,b\n")
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        read_table(path, encoding="klingon")


@pytest.mark.parametrize("content", ["", "\n\n", ",\n"], ids=["empty", "blank-lines", "no-names"])
def test_empty_csv(tmp_path: Path, content: str) -> None:
    with pytest.raises(DataError, match="the file is empty"):
        read_table(write_bytes(tmp_path / "d.csv", content))


def test_duplicate_header(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="line 1: the column 'text' appears twice"):
        read_table(write_bytes(tmp_path / "d.csv", "text,label,text\na,b,c\n"))


# ---------------------------------------------------------------------------------------------
# Encodings


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", b"text,label\nplain,a\ncaf\xe9 au lait,b\nmore,a\n")
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert f"{path} line 3:" in message
    assert "--encoding" in message
    assert "utf-8" in message

    table = read_table(path, encoding="latin-1")
    assert table.rows[1] == {"text": "café au lait", "label": "b"}
    assert table.where == ["line 2", "line 3", "line 4"]


def test_undecodable_bytes_in_jsonl_and_txt(tmp_path: Path) -> None:
    jsonl = write_bytes(tmp_path / "d.jsonl", b'{"text": "a"}\n{"text": "\xff"}\n')
    with pytest.raises(DataError, match=r"d\.jsonl line 2: .*--encoding"):
        read_table(jsonl)
    txt = write_bytes(tmp_path / "d.txt", b"a\nb\nc\xfe\n")
    with pytest.raises(DataError, match=r"d\.txt line 3: .*--encoding"):
        read_table(txt)


@pytest.mark.parametrize("encoding", ["utf-8", "UTF-8", "utf8", "utf_8"])
def test_utf8_bom(tmp_path: Path, encoding: str) -> None:
    path = write_bytes(tmp_path / "d.csv", b"\xef\xbb\xbftext,label\nhello,1\n")
    table = read_table(path, encoding=encoding)
    assert table.columns == ["text", "label"]
    assert table.rows == [{"text": "hello", "label": "1"}]


def test_utf8_bom_in_jsonl(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.jsonl", b'\xef\xbb\xbf{"text": "a", "label": 1}\n')
    assert read_table(path).rows == [{"text": "a", "label": 1}]


# ---------------------------------------------------------------------------------------------
# Malformed rows


def test_malformed_csv_row_names_the_line(tmp_path: Path) -> None:
    content = 'text,label\nfine,a\n"two\nlines",b\n\nalso fine,a\ntoo, many, fields,b\nlast,a\n'
    path = write_bytes(tmp_path / "d.csv", content)
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(f"{path} line 7: malformed CSV row with 4 fields, expected 2")
    assert "(text, label)" in message


def test_malformed_csv_row_with_too_few_fields(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", "text,label\nfine,a\nno label here\n")
    with pytest.raises(DataError, match=r"line 3: malformed CSV row with 1 fields, expected 2"):
        read_table(path)


def test_malformed_tsv_row_names_the_line(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.tsv", "text\tlabel\na\tb\nc\td\te\n")
    with pytest.raises(DataError, match=r"line 3: malformed TSV row with 3 fields") as info:
        read_table(path)
    assert "\\t" in str(info.value)


def test_unclosed_quote_names_the_line_where_it_opens(tmp_path: Path) -> None:
    content = 'text,label\nfine,a\n"never closed,b\nmore,a\nand more,b\n'
    path = write_bytes(tmp_path / "d.csv", content)
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(f"{path} line 3: malformed CSV")
    assert "quoting" in message


def test_text_after_closing_quote_names_the_line(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", 'text,label\nfine,a\nok,b\n"quoted" tail,b\n')
    with pytest.raises(DataError, match=r"d\.csv line 4: malformed CSV .*quoting"):
        read_table(path)


def test_invalid_jsonl_line_names_the_line(tmp_path: Path) -> None:
    content = '{"text": "a", "label": 1}\n\n{"text": "b", "label": 2\n{"text": "c"}\n'
    path = write_bytes(tmp_path / "d.jsonl", content)
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(f"{path} line 3: not valid JSON")
    assert "one JSON object per line" in message


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.jsonl", '{"text": "a"}\n["text", "b"]\n')
    with pytest.raises(DataError, match=r"line 2: expected a JSON object .*found list"):
        read_table(path)


# ---------------------------------------------------------------------------------------------
# Round trips (property-based)

field_text = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
# Bias towards the characters that break naive readers.
tricky_text = st.lists(
    st.one_of(
        field_text,
        st.sampled_from([",", '"', "'", "\n", "\r\n", "\r", "\t", "\\", ";", "é", "日本", "🙂"]),
        st.sampled_from(["\u2028", "\x85", "\x0c", "\x1c", "\ufeff", " "]),
    ),
    min_size=1,
    max_size=6,
).map("".join)
cell = st.one_of(field_text, tricky_text).filter(lambda s: s.strip() != "")
rows_strategy = st.lists(st.tuples(cell, cell), min_size=1, max_size=12)

ROUND_TRIP = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def expected(rows: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"text": text, "label": label} for text, label in rows]


@ROUND_TRIP
@given(rows=rows_strategy)
def test_round_trip_csv(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    table = read_table(write_rows(tmp_path / "round.csv", rows))
    assert table.columns == ["text", "label"]
    assert table.rows == expected(rows)
    assert len(table.where) == len(rows)


@ROUND_TRIP
@given(rows=rows_strategy)
def test_round_trip_tsv(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    table = read_table(write_rows(tmp_path / "round.tsv", rows, delimiter="\t"))
    assert table.columns == ["text", "label"]
    assert table.rows == expected(rows)


@ROUND_TRIP
@given(rows=rows_strategy, ensure_ascii=st.booleans())
def test_round_trip_jsonl(tmp_path: Path, rows: list[tuple[str, str]], ensure_ascii: bool) -> None:
    lines = [json.dumps(r, ensure_ascii=ensure_ascii) + "\n" for r in expected(rows)]
    path = tmp_path / "round.jsonl"
    path.write_text("".join(lines), encoding="utf-8", newline="")
    table = read_table(path)
    assert table.rows == expected(rows)
    assert table.where == [f"line {i + 1}" for i in range(len(rows))]


@ROUND_TRIP
@given(rows=rows_strategy, ensure_ascii=st.booleans())
def test_round_trip_json(tmp_path: Path, rows: list[tuple[str, str]], ensure_ascii: bool) -> None:
    path = tmp_path / "round.json"
    path.write_text(json.dumps(expected(rows), ensure_ascii=ensure_ascii), encoding="utf-8")
    assert read_table(path).rows == expected(rows)


@ROUND_TRIP
@given(rows=rows_strategy)
def test_round_trip_parquet(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    path = tmp_path / "round.parquet"
    pq.write_table(pa.Table.from_pylist(expected(rows)), path)
    table = read_table(path)
    assert table.columns == ["text", "label"]
    assert table.rows == expected(rows)
