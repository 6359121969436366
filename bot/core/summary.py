"""The structured dialogue summary: interchange format version 1 (shared/summary-format.md)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"
TOPIC_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
HEADLINE_MAX = 300
_ID_SLUG_MAX = 71  # leaves room for "-" and an 8-hex digest inside the 80-character id


# PostgreSQL refuses NUL in text and jsonb. Refused at the field, so one such story is an error
# naming its file and field instead of failing the whole batch at the database. A pattern, not a
# Python validator, because pydantic checks it in Rust: a Python call per string halved ingest speed.
# (Unpaired surrogates, which JSON's "\ud800" escape yields, pydantic already refuses as not text.)
NO_NUL_PATTERN = "^[^\x00]*$"


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/?#]+\S*$", value, flags=re.IGNORECASE):
        raise ValueError("must be an http(s) URL such as https://example.com/story")
    return value


def _midnight_utc(value: Any) -> Any:
    # A date alone (`published: 2026-11-26`, which YAML reads as a date) means that day, taken as UTC.
    if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        value = date.fromisoformat(value.strip())
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(), tzinfo=UTC)
    return value


HttpUrlStr = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=NO_NUL_PATTERN), AfterValidator(_http_url)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, pattern=NO_NUL_PATTERN)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, pattern=NO_NUL_PATTERN)]
TopicId = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=TOPIC_ID_PATTERN)]
Published = Annotated[AwareDatetime, BeforeValidator(_midnight_utc)]


class _Model(BaseModel):
    # Unknown keys are refused: a typo such as "headlne" must fail loudly, not vanish.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Source(_Model):
    """The outlet a story came from."""

    name: Text | None = None
    url: HttpUrlStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_url(cls, data: Any) -> Any:
        # `source: https://example.com/story` is the common case; it means the URL, with no name.
        return {"url": data} if isinstance(data, str) else data


class Event(_Model):
    """The recurring event a story reports on."""

    name: NonEmptyText
    round: int | None = Field(default=None, ge=1)
    first_held: Text | None = None


class Participant(_Model):
    """A person or body taking part."""

    name: NonEmptyText
    role: Text | None = None
    side: Text | None = None


class Section(_Model):
    """A titled piece of the story: a discussion area (`topics`) or a narrative part (`sections`)."""

    title: NonEmptyText
    text: Text = ""
    tags: list[TopicId] = Field(default_factory=list)


class Quote(_Model):
    """A quoted statement."""

    text: NonEmptyText
    speaker: Text | None = None


class Reaction(_Model):
    """A party's position on the story."""

    party: NonEmptyText
    position: NonEmptyText


class Summary(_Model):
    """One story in format version 1, plus newsbot's `sections` for narrative parts."""

    version: int = 1
    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] = ""
    headline: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=HEADLINE_MAX, pattern=NO_NUL_PATTERN
        ),
    ]
    lede: Text | None = None
    published: Published | None = None
    source: Source | None = None
    event: Event | None = None
    participants: list[Participant] = Field(default_factory=list)
    agreements: list[NonEmptyText] = Field(default_factory=list)
    topics: list[Section] = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)
    context: list[NonEmptyText] = Field(default_factory=list)
    reactions: list[Reaction] = Field(default_factory=list)
    significance: Text | None = None
    tags: list[TopicId] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _version_first(cls, data: Any) -> Any:
        # A document of another version is refused as a whole, before its fields are judged.
        if isinstance(data, dict) and "version" in data and data["version"] != 1:
            raise ValueError(
                f"format version {data['version']!r} is not supported; this newsbot reads version 1"
            )
        return data

    @field_validator("topics", mode="before")
    @classmethod
    def _topics_have_text(cls, value: Any) -> Any:
        # The contract makes `text` required in a topic ({title, text, tags?}); newsbot's own
        # `sections` may be headings alone, so the shared Section model keeps its default.
        if isinstance(value, list):
            for i, entry in enumerate(value):
                if isinstance(entry, dict) and "text" not in entry:
                    raise ValueError(
                        f"entry {i} has no `text`; each topic is {{title: …, text: …, tags: […]}}"
                    )
        return value

    @model_validator(mode="after")
    def _derive_id(self) -> Summary:
        if not self.id:
            object.__setattr__(self, "id", derive_id(self.headline, self.source, self.published))
        return self

    def all_sections(self) -> list[Section]:
        """Return discussion areas first, then narrative sections, in document order."""
        return [*self.topics, *self.sections]

    def content_hash(self) -> str:
        """Return a digest of the content, so re-ingesting an unchanged story is a no-op."""
        doc = self.model_dump(mode="json", exclude_none=True)
        return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def slugify(text: str, max_len: int = _ID_SLUG_MAX) -> str:
    """Return a lowercase ASCII slug of `text` cut at a word boundary."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rsplit("-", 1)[0] or slug[:max_len]
    return slug.strip("-")


def derive_id(headline: str, source: Source | None, published: datetime | None) -> str:
    """Derive a stable id from the source URL, else from the headline and published date.

    A story without a URL and without a published date keys on its headline alone, so the
    same story ingested on two days is still one summary.
    """
    if source is not None and source.url:
        basis = "url:" + source.url.strip().rstrip("/").lower()
    else:
        day = published.date().isoformat() if published else ""
        basis = f"headline:{' '.join(headline.lower().split())}|{day}"
    digest = hashlib.sha256(basis.encode()).hexdigest()[:8]
    slug = slugify(headline) or "story"
    return f"{slug}-{digest}"


def summary_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of format version 1 as newsbot accepts it."""
    schema = Summary.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "newsbot structured dialogue summary, format version 1"
    return schema
