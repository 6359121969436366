"""Reading summary files: every bad document is named with its field path; good ones beside it survive."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _amplified(copies: int) -> str:
    big = "x" * 100_000
    return f"headline: h\nlede: &big {big}\ncontext: [{', '.join(['*big'] * copies)}]\n"


def test_yaml_aliases_that_repeat_one_long_string_are_refused_before_they_become_a_huge_row() -> None:
    text = _amplified(2_000)  # 108 KB of text that expands to 200 MB
    [error] = _errors(load_text(text, suffix=".yaml", where="body"))
    assert error.startswith("body: its aliases expand it to more than")


def test_billion_laughs_and_a_recursive_alias_are_refused() -> None:
    rows = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    [laughs] = _errors(load_text("\n".join(rows) + "\n", suffix=".yaml", where="l.yaml"))
    assert "its aliases expand it" in laughs
    [recursive] = _errors(load_text("headline: x\ncontext: &c [*c]\n", suffix=".yaml", where="r.yaml"))
    assert "recursive document" in recursive


def test_modest_aliases_still_load() -> None:
    items = load_text(_amplified(5), suffix=".yaml", where="ok.yaml")
    [loaded] = [i for i in items if isinstance(i, Loaded)]
    assert len(loaded.summary.context) == 5


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        ("[" * 100_000, ".json"),
        ("[" * 100_000 + "]" * 100_000, ".json"),
        ("[" * 5_000, ".yaml"),
        ("headline: x\ntags:\n" + "".join("  " * i + "-\n" for i in range(1, 60)), ".yaml"),
        ("[" * 100_000 + "\n", ".jsonl"),
    ],
)
def test_deeply_nested_documents_are_refused_clearly(text: str, suffix: str) -> None:
    [error] = _errors(load_text(text, suffix=suffix, where="deep"))
    assert error.startswith("deep")
    assert ": too deeply nested (more than 32 levels" in error


def test_a_nul_character_is_refused_naming_the_field_and_the_documents_beside_it_load() -> None:
    text = '[{"headline": "fine"}, {"headline": "x", "topics": [{"title": "t", "text": "a\\u0000b"}]}]'
    items = load_text(text, suffix=".json", where="batch.json")
    assert [i.summary.headline for i in items if isinstance(i, Loaded)] == ["fine"]
    [error] = _errors(items)
    assert error.startswith("batch.json[1]: topics.0.text: contains a NUL character (U+0000)")
    [yaml_error] = _errors(load_text('headline: "a\\0b"\n', suffix=".yaml", where="n.yaml"))
    assert yaml_error.startswith("n.yaml: headline: contains a NUL character")
    [surrogate] = _errors(load_text('{"headline": "x", "lede": "\\ud800"}', suffix=".json", where="s.json"))
    assert surrogate.startswith("s.json: lede: ")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("published: 2026-11-20T08:00:00\n", "write it like `published: 2026-11-26T09:00:00Z`"),
        ("published: next tuesday\n", "write it like `published: 2026-11-26T09:00:00Z`"),
        ("source: [a, b]\n", "`source: {name: Example News, url: https://example.com/story}`"),
        ("source: ftp://example.com\n", "source.url: must be an http(s) URL"),
    ],
)
def test_front_matter_errors_say_what_to_write_instead(document: str, expected: str) -> None:
    [error] = _errors(load_text("headline: x\n" + document, suffix=".yaml", where="f.yaml"))
    assert expected in error


def test_a_plain_url_is_accepted_as_the_source() -> None:
    [item] = load_text("headline: x\nsource: https://example.com/story\n", suffix=".yaml", where="u.yaml")
    assert isinstance(item, Loaded)
    assert item.summary.source is not None
    assert item.summary.source.url == "https://example.com/story"


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        ("headline: x\npublished: 2026-11-26\n", ".yaml"),
        ('{"headline": "x", "published": "2026-11-26"}', ".json"),
    ],
)
def test_a_date_only_published_means_midnight_utc(text: str, suffix: str) -> None:
    [item] = load_text(text, suffix=suffix, where="d")
    assert isinstance(item, Loaded)
    assert item.summary.published == datetime(2026, 11, 26, tzinfo=UTC)


def test_a_topic_without_text_is_refused_naming_the_field() -> None:
    text = "headline: x\ntopics:\n  - title: Drones\n    text: fine\n  - title: Minerals\n"
    [error] = _errors(load_text(text, suffix=".yaml", where="t.yaml"))
    assert error.startswith("t.yaml: topics: entry 1 has no `text`")


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(min_value=0, max_value=3_000),
    opener=st.sampled_from(["[", "{a: "]),
    suffix=st.sampled_from([".json", ".yaml"]),
)
def test_any_nesting_depth_is_refused_with_a_reason_and_never_raises(
    depth: int, opener: str, suffix: str
) -> None:
    if suffix == ".json":
        opener = opener.replace("{a: ", '{"a": ')
    closer = "]" if opener == "[" else "}"
    text = '{"headline": "x", "tags": ' + opener * depth + '"ok"' + closer * depth + "}"
    items = load_text(text, suffix=suffix, where="p")
    if depth == 1 and opener == "[":
        assert _errors(items) == []  # tags: ["ok"] is a valid document
        return
    [error] = _errors(items)
    assert error.startswith("p: ")
    if suffix == ".yaml" and depth > 32:
        assert "too deeply nested" in error
