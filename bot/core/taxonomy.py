"""The topic taxonomy (config/topics.yaml): ids, labels and the words that name each topic."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.core.summary import TOPIC_ID_PATTERN

_SEPARATORS = re.compile(r"[\s\-‐‑–]+")


class TaxonomyError(ValueError):
    """The taxonomy file cannot be used; the message names the file and what is wrong."""


def normalize_term(text: str) -> str:
    """Return a term as it is compared: lowercase, hyphens and runs of space as one space."""
    return _SEPARATORS.sub(" ", text.strip().lower()).strip()


def is_acronym(term: str) -> bool:
    """Return whether a term is an acronym (AI, UAV), matched only in its own casing."""
    letters = [c for c in term if c.isalpha()]
    return len(letters) >= 2 and " " not in term.strip() and all(c.isupper() for c in letters)


def word_forms(term: str) -> set[str]:
    """Return a normalised term with the singular and plural forms of its last word.

    Written by hand: English inflection libraries are large and this needs only the
    regular plurals that topic names use (drone/drones, foundry/foundries, tax/taxes).
    """
    norm = normalize_term(term)
    if not norm:
        return set()
    head, _, last = norm.rpartition(" ")
    prefix = f"{head} " if head else ""
    forms = {last}
    if last.endswith("ies") and len(last) > 4:
        forms.add(last[:-3] + "y")
    elif last.endswith(("ses", "xes", "zes", "ches", "shes")):
        forms.add(last[:-2])
    elif last.endswith("s") and not last.endswith("ss") and len(last) > 3:
        forms.add(last[:-1])
    else:
        if last.endswith("y") and len(last) > 2 and last[-2] not in "aeiou":
            forms.add(last[:-1] + "ies")
        elif last.endswith(("s", "x", "z", "ch", "sh")):
            forms.add(last + "es")
        else:
            forms.add(last + "s")
    return {prefix + f for f in forms}


class _TopicEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Annotated[str, StringConstraints(pattern=TOPIC_ID_PATTERN, max_length=60)]
    label: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    synonyms: list[Annotated[str, StringConstraints(min_length=1, max_length=80)]] = Field(
        default_factory=list
    )
    phrases: list[Annotated[str, StringConstraints(min_length=1, max_length=120)]] = Field(
        default_factory=list
    )
    description: str | None = None


class _TaxonomyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: list[_TopicEntry] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class TopicDef:
    """One topic: its id, the label readers see, and the words and phrases that name it."""

    id: str
    label: str
    synonyms: tuple[str, ...] = ()
    description: str | None = None

    def names(self) -> Iterator[str]:
        """Yield the id (with spaces for hyphens), the label and every synonym."""
        yield self.id.replace("-", " ")
        yield self.label
        yield from self.synonyms


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """The topics newsbot knows, in the order the file lists them."""

    topics: tuple[TopicDef, ...]
    source: str = "taxonomy"
    _by_id: dict[str, TopicDef] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({t.id: t for t in self.topics})

    def __contains__(self, topic_id: object) -> bool:
        return topic_id in self._by_id

    def get(self, topic_id: str) -> TopicDef | None:
        """Return the topic with this id, if the taxonomy has it."""
        return self._by_id.get(topic_id)

    def label(self, topic_id: str) -> str:
        """Return the topic's label; an unknown id is shown as itself."""
        topic = self._by_id.get(topic_id)
        return topic.label if topic else topic_id

    def labels(self) -> dict[str, str]:
        """Return every topic id with its label."""
        return {t.id: t.label for t in self.topics}

    def ids(self) -> list[str]:
        """Return the topic ids in file order."""
        return [t.id for t in self.topics]

    @classmethod
    def from_data(cls, data: Any, source: str = "taxonomy") -> Taxonomy:
        """Build a taxonomy from parsed YAML, refusing duplicate ids and terms claimed twice."""
        try:
            parsed = _TaxonomyFile.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise TaxonomyError(f"{source}: {problems}") from None
        topics = tuple(
            TopicDef(
                id=e.id,
                label=e.label,
                synonyms=tuple(dict.fromkeys([*e.synonyms, *e.phrases])),
                description=e.description,
            )
            for e in parsed.topics
        )
        _check_unique(topics, source)
        return cls(topics, source)


def _check_unique(topics: Iterable[TopicDef], source: str) -> None:
    ids: dict[str, str] = {}
    owners: dict[str, tuple[str, str]] = {}  # a form of a term → (topic id, term as written)
    for topic in topics:
        if topic.id in ids:
            raise TaxonomyError(f"{source}: topic id “{topic.id}” is defined twice")
        ids[topic.id] = topic.id
        for term in topic.names():
            forms = {term} if is_acronym(term) else word_forms(term)
            for form in forms:
                key = form if is_acronym(term) else normalize_term(form)
                owner = owners.get(key.lower())
                if owner is not None and owner[0] != topic.id:
                    raise TaxonomyError(
                        f"{source}: “{term}” of topic “{topic.id}” is also claimed by topic "
                        f"“{owner[0]}” (as “{owner[1]}”); a term may name only one topic"
                    )
                owners[key.lower()] = (topic.id, term)


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and check a taxonomy file; every problem is a TaxonomyError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaxonomyError(
            f"{path}: taxonomy file not found (set NEWSBOT_TAXONOMY_PATH or taxonomy_path in newsbot.toml)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TaxonomyError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    return Taxonomy.from_data(data, source=str(path))
