"""The worked example: the structured YAML fills the whole contract and agrees with the article text."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bot.core.article import parse_article
from bot.core.loader import Loaded, load_file
from bot.core.summary import Summary

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_YAML = ROOT / "examples" / "us-taiwan-dialogue.yaml"
EXAMPLE_TXT = ROOT / "examples" / "us-taiwan-dialogue.txt"
SHARED_TXT = ROOT.parent / "shared" / "examples" / "us-taiwan-dialogue.txt"
AREAS = [
    "Supply Chain Security",
    "Drone Technology",
    "Critical Minerals",
    "Economic Coercion Response",
    "Taxation Barriers",
]


@pytest.fixture(scope="module")
def structured() -> Summary:
    return Summary.model_validate(yaml.safe_load(EXAMPLE_YAML.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def parsed() -> Summary:
    return parse_article(EXAMPLE_TXT.read_text(encoding="utf-8"), name=str(EXAMPLE_TXT))


def _empty_fields(model: BaseModel, path: str = "") -> list[str]:
    """Return the path of every field left None or empty, nested models and list entries included."""
    empty: list[str] = []
    for name in type(model).model_fields:
        value: Any = getattr(model, name)
        here = f"{path}{name}"
        if value is None or value == "" or value == []:
            empty.append(here)
        elif isinstance(value, BaseModel):
            empty.extend(_empty_fields(value, here + "."))
        elif isinstance(value, list):
            for i, entry in enumerate(value):
                if isinstance(entry, BaseModel):
                    empty.extend(_empty_fields(entry, f"{here}.{i}."))
    return empty


def test_the_structured_example_loads_like_any_summary_file() -> None:
    [item] = load_file(EXAMPLE_YAML)
    assert isinstance(item, Loaded), str(item)
    assert item.summary.id == "us-taiwan-epp-dialogue-6"


def test_every_contract_field_of_the_structured_example_is_filled(structured: Summary) -> None:
    assert _empty_fields(structured) == []
    assert "version" in yaml.safe_load(EXAMPLE_YAML.read_text(encoding="utf-8")), "version is written out too"
    assert structured.published is not None
    assert structured.published.utcoffset() is not None
    assert structured.source is not None
    assert structured.source.url is not None
    assert structured.source.url.startswith("https://")
    assert structured.event is not None
    assert (structured.event.round, structured.event.first_held) == (6, "2020-11")


def test_the_structured_example_names_the_people_and_quotes_of_the_article(structured: Summary) -> None:
    article = EXAMPLE_TXT.read_text(encoding="utf-8")
    assert [(p.name, p.side) for p in structured.participants] == [
        ("Jacob Helberg", "United States"),
        ("Kung Ming-hsin", "Taiwan"),
    ]
    assert len(structured.quotes) == 2
    for quote in structured.quotes:
        assert f'"{quote.text}' in article, "quotes are the article's words, verbatim"
    assert {r.party for r in structured.reactions} == {"China", "Taiwan"}
    assert structured.significance is not None
    assert structured.significance in article


def test_parsing_the_article_gives_the_same_discussion_areas_as_the_yaml(
    structured: Summary, parsed: Summary
) -> None:
    assert [t.title for t in parsed.topics] == [t.title for t in structured.topics] == AREAS
    assert [t.text for t in parsed.topics] == [t.text for t in structured.topics]
    assert parsed.headline == structured.headline
    assert parsed.lede == structured.lede


def test_the_structured_sections_quote_the_article_text(structured: Summary, parsed: Summary) -> None:
    by_title = {s.title: s.text for s in parsed.sections}
    for section in structured.sections:
        assert section.title in by_title
        assert section.text in by_title[section.title]


def test_the_example_article_is_the_shared_original() -> None:
    if not SHARED_TXT.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_TXT} is missing on CI")
        pytest.skip("../shared/examples is not part of a user's clone")
    assert EXAMPLE_TXT.read_bytes() == SHARED_TXT.read_bytes()
