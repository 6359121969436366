"""The shipped taxonomy loads, and a broken one is refused with a message naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy, word_forms

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "topics.yaml"
REQUIRED = {
    "ai",
    "semiconductors",
    "drones",
    "critical-minerals",
    "supply-chains",
    "trade-tariffs",
    "export-controls",
    "taxation",
    "economic-coercion",
    "cross-strait",
    "defense",
    "energy",
    "climate",
    "cybersecurity",
}


def test_shipped_taxonomy_has_the_newsroom_starter_topics() -> None:
    taxonomy = load_taxonomy(SHIPPED)
    assert set(taxonomy.ids()) >= REQUIRED
    assert taxonomy.label("drones") == "Drones"
    assert taxonomy.label("no-such-topic") == "no-such-topic"


def test_a_term_claimed_by_two_topics_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(
        "topics:\n"
        "  - {id: drones, label: Drones, synonyms: [drone]}\n"
        "  - {id: aviation, label: Aviation, synonyms: [drones]}\n",
        encoding="utf-8",
    )
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert str(path) in message
    assert "drones" in message
    assert "aviation" in message


def test_a_duplicate_id_is_refused() -> None:
    data = {"topics": [{"id": "ai", "label": "AI"}, {"id": "ai", "label": "Artificial"}]}
    with pytest.raises(TaxonomyError, match="“ai” is defined twice"):
        Taxonomy.from_data(data, source="t.yaml")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("topics: [\n", "invalid YAML at line"),
        ("topics:\n  - {id: Bad Id, label: X}\n", "topics.0.id"),
        ("topics:\n  - {id: ok}\n", "topics.0.label: Field required"),
        ("[]\n", "(top level)"),
        ("topics:\n  - {id: ok, label: Ok, colour: red}\n", "topics.0.colour"),
    ],
)
def test_malformed_taxonomy_files_name_the_problem(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_missing_taxonomy_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="NEWSBOT_TAXONOMY_PATH"):
        load_taxonomy(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("term", "forms"),
    [
        ("drone", {"drone", "drones"}),
        ("drones", {"drones", "drone"}),
        ("foundry", {"foundry", "foundries"}),
        ("tax", {"tax", "taxes"}),
        ("rare earths", {"rare earths", "rare earth"}),
        ("Counter-Drone", {"counter drone", "counter drones"}),
    ],
)
def test_word_forms_cover_regular_plurals(term: str, forms: set[str]) -> None:
    assert word_forms(term) == forms
