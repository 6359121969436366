"""Reading summary files: every bad document is named with its field path; good ones beside it survive."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.loader import SUPPORTED, Loaded, LoadError, expand_paths, load_file, load_text

GOOD = "headline: A good story\npublished: 2026-11-20T08:00:00+00:00\n"


def _errors(items: list[Loaded | LoadError]) -> list[str]:
    return [str(i) for i in items if isinstance(i, LoadError)]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("headline: ok\ntopics:\n  - title: a\n   text: misindented\n")
    [error] = _errors(load_file(bad))
    assert error.startswith(f"{bad}: invalid YAML at line 4")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("lede: no headline\n", "headline: Field required"),
        ("headline: x\npublished: 2026-11-20T08:00:00\n", "published: Input should have timezone info"),
        ("headline: x\nsource: {url: 'ftp://x.org'}\n", "source.url: must be an http(s) URL"),
        ("headline: x\ntopics: [{text: no title}]\n", "topics.0.title: Field required"),
        ("headline: x\nversion: 2\n", "version: format version 2 is not supported"),
        ("headline: x\nheadlne: typo\n", "headlne: unknown field"),
        ("- 1\n- 2\n", "[0]: expected a mapping of summary fields, found int"),
    ],
)
def test_bad_fields_are_named_with_their_path(document: str, expected: str) -> None:
    error = _errors(load_text(document, suffix=".yaml", where="f.yaml"))[0]
    assert expected in error
    assert error.startswith("f.yaml")


def test_a_list_keeps_the_good_documents_beside_a_bad_one() -> None:
    text = '[{"headline": "one"}, {"lede": "no headline"}, {"headline": "three"}]'
    items = load_text(text, suffix=".json", where="batch.json")
    assert [i.summary.headline for i in items if isinstance(i, Loaded)] == ["one", "three"]
    assert _errors(items) == ["batch.json[1]: headline: Field required"]


def test_json_lines_name_the_line() -> None:
    text = '{"headline": "one"}\nnot json\n\n{"headline": ""}\n'
    items = load_text(text, suffix=".jsonl", where="a.jsonl")
    assert len([i for i in items if isinstance(i, Loaded)]) == 1
    errors = _errors(items)
    assert errors[0].startswith("a.jsonl:2: invalid JSON")
    assert errors[1].startswith("a.jsonl:4: headline:")


def test_invalid_json_names_line_and_column() -> None:
    [error] = _errors(load_text('{"headline": "x",\n}', suffix=".json", where="x.json"))
    assert "invalid JSON at line 2, column 1" in error


def test_yaml_stream_of_several_documents() -> None:
    items = load_text(GOOD + "---\nheadline: Second\n", suffix=".yaml", where="s.yaml")
    assert [i.summary.headline for i in items if isinstance(i, Loaded)] == ["A good story", "Second"]


def test_paths_that_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text(GOOD)
    (tmp_path / "sub" / "ignored.csv").write_text("x")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00bad")
    files, errors = expand_paths([tmp_path / "sub", tmp_path / "notes.pdf", tmp_path / "missing.yaml"])
    assert files == [tmp_path / "sub" / "a.yaml"]
    assert [str(e) for e in errors] == [
        # SUPPORTED grows when the composition root registers readers (web pages), as other tests do
        f"{tmp_path / 'notes.pdf'}: unsupported file type; newsbot reads {', '.join(sorted(SUPPORTED))}",
        f"{tmp_path / 'missing.yaml'}: no such file or folder",
    ]
    [error] = _errors(load_file(tmp_path / "binary.json"))
    assert "not UTF-8 text" in error


def test_empty_files_are_errors_not_silence() -> None:
    assert _errors(load_text("", suffix=".yaml", where="e.yaml")) == ["e.yaml: the file is empty"]
    assert _errors(load_text("[]", suffix=".json", where="e.json")) == [
        "e.json: the file holds an empty list: no summaries"
    ]


@pytest.mark.parametrize(
    "value", ["!!timestamp not-a-date", "2026-13-45T00:00:00+00:00", "!!python/object:os.system x"]
)
def test_yaml_values_that_cannot_be_built_are_reported_not_raised(value: str) -> None:
    error = _errors(load_text(f"headline: x\npublished: {value}\n", suffix=".yaml", where="f.yaml"))[0]
    assert error.startswith("f.yaml: ")
    assert "YAML" in error or "published" in error
