"""Turning what a user typed into a topic: id, label, synonym, light stemming, then typo tolerance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

from bot.core.invocation import QUERY_MAX, clean_args
from bot.core.taxonomy import Taxonomy, normalize_term, word_forms

MatchedBy = Literal["id", "label", "synonym", "stem", "typo", "none"]
TYPO_CUTOFF = 80  # rapidfuzz ratio: "drnoes" → "drones" scores 83; unrelated words stay far below
SUGGEST_CUTOFF = 75
MIN_TYPO_LENGTH = 4  # "ia" or "uk" are too short to guess at


class QueryError(ValueError):
    """A query newsbot cannot run; the message tells the user what to change."""


def validate_query(text: str) -> str:
    """Return the query cleaned of control characters and extra space, or raise QueryError."""
    if len(text) > QUERY_MAX:
        raise QueryError(
            f"That query is too long: {len(text)} characters (at most {QUERY_MAX}). "
            "Ask with a topic or a few words, e.g. drones."
        )
    cleaned = clean_args(text)
    if not cleaned:
        raise QueryError("The query is blank: say what to look for, e.g. drones or “rare earths”.")
    return cleaned


def stem(word: str) -> str:
    """Return a light stem: plurals, -ing and -ed endings removed (drones, droning → drone-ish)."""
    w = word.lower().removesuffix("'s").removesuffix("’s")
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not (suffix == "s" and w.endswith("ss")):
            return w[: len(w) - len(suffix)] + keep
    return w.rstrip("e") if len(w) > 4 else w


def _stem_phrase(text: str) -> str:
    return " ".join(stem(w) for w in normalize_term(text).split())


@dataclass(frozen=True, slots=True)
class Resolution:
    """Which topic a query means, how it was found, and what to tell the user."""

    query: str
    topic_id: str | None
    matched_by: MatchedBy
    note: str | None = None
    suggestions: tuple[str, ...] = field(default=())


class TopicResolver:
    """Resolve queries against a taxonomy, cheapest exact match first."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._exact: dict[str, tuple[str, MatchedBy]] = {}
        self._stems: dict[str, str] = {}
        self._names: list[str] = []
        self._name_topic: list[str] = []
        for topic in taxonomy.topics:
            entries: list[tuple[str, MatchedBy]] = [(topic.id, "id"), (topic.id.replace("-", " "), "id")]
            entries.append((topic.label, "label"))
            entries.extend((s, "synonym") for s in topic.synonyms)
            for name, how in entries:
                for form in word_forms(name):
                    self._exact.setdefault(form, (topic.id, how))
                self._stems.setdefault(_stem_phrase(name), topic.id)
                self._names.append(normalize_term(name))
                self._name_topic.append(topic.id)

    def resolve(self, query: str) -> Resolution:
        """Resolve `query` to a topic, or to none with suggestions."""
        norm = normalize_term(query.lstrip("#"))
        if not norm:
            return Resolution(query, None, "none")
        exact = self._exact.get(norm)
        if exact is not None:
            return Resolution(query, exact[0], exact[1])
        stemmed = self._stems.get(_stem_phrase(norm))
        if stemmed is not None:
            return Resolution(query, stemmed, "stem")
        if len(norm) >= MIN_TYPO_LENGTH:
            best = process.extractOne(norm, self._names, scorer=fuzz.ratio, score_cutoff=TYPO_CUTOFF)
            if best is not None:
                topic_id = self._name_topic[best[2]]
                label = self.taxonomy.label(topic_id)
                return Resolution(
                    query,
                    topic_id,
                    "typo",
                    note=f"Showing results for {label} (you typed “{query.strip()[:60]}”)",
                )
        return Resolution(query, None, "none", suggestions=self.suggest(norm))

    def suggest(self, norm: str, limit: int = 3) -> tuple[str, ...]:
        """Return up to `limit` topic ids whose names look like `norm`."""
        found: list[str] = []
        for _, _, index in process.extract(
            norm, self._names, scorer=fuzz.WRatio, score_cutoff=SUGGEST_CUTOFF, limit=limit * 4
        ):
            topic_id = self._name_topic[index]
            if topic_id not in found:
                found.append(topic_id)
            if len(found) == limit:
                break
        return tuple(found)


def complete_topics(prefix: str, taxonomy: Taxonomy, *, limit: int = 25) -> list[tuple[str, str]]:
    """Return (label, id) choices for autocomplete, best first: prefix matches, then look-alikes."""
    norm = normalize_term(prefix)
    if not norm:
        return [(t.label, t.id) for t in taxonomy.topics[:limit]]
    scored: dict[str, float] = {}
    for position, topic in enumerate(taxonomy.topics):
        best = 0.0
        for rank, name in enumerate(topic.names()):
            candidate = normalize_term(name)
            if candidate.startswith(norm):
                score: float = 300.0 - min(rank, 2) * 10  # id and label before synonyms
            elif any(word.startswith(norm) for word in candidate.split()):
                score = 200.0
            elif norm in candidate:
                score = 150.0
            else:
                score = fuzz.partial_ratio(norm, candidate) if len(norm) >= 4 else 0.0
                if score < 85:
                    score = 0.0
            best = max(best, score)
        if best:
            scored[topic.id] = best - position / 1000  # stable: taxonomy order breaks ties
    ranked = sorted(scored, key=lambda t: -scored[t])[:limit]
    return [(taxonomy.label(t), t) for t in ranked]
