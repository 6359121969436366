"""Reading summary files: JSON, JSON Lines, YAML and articles, with errors that name file, field and reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.core.article import ArticleError, parse_article
from bot.core.bounded import TooComplex, load_json, load_yaml_all
from bot.core.summary import NO_NUL_PATTERN, Summary

STRUCTURED = {".json", ".yaml", ".yml", ".jsonl"}
ARTICLES = {".txt", ".md", ".markdown"}
SUPPORTED = STRUCTURED | ARTICLES
MAX_FILE_BYTES = 20_000_000  # a summary file this large is a mistake, not a story


@dataclass(frozen=True, slots=True)
class Loaded:
    """A summary read from `where` (a path, plus "[2]" or "line 7" inside a file holding several)."""

    where: str
    summary: Summary


@dataclass(frozen=True, slots=True)
class LoadError:
    """A document that could not be read: `where` and one line per problem."""

    where: str
    problems: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(f"{self.where}: {p}" for p in self.problems)


# Readers for file types whose parsers must stay outside bot.core (a web page needs an HTML extractor),
# registered by the composition root. Adding the suffix to SUPPORTED is what lets folder expansion,
# the CLI and the watch folder accept the type without knowing about it.
FileReader = Callable[[bytes, str], list[Loaded | LoadError]]
_READERS: dict[str, FileReader] = {}


def register_reader(suffixes: Iterable[str], reader: FileReader) -> None:
    """Read files ending in `suffixes` (".html", …) with `reader(raw bytes, where)`."""
    for suffix in suffixes:
        _READERS[suffix.lower()] = reader
        SUPPORTED.add(suffix.lower())


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[LoadError]]:
    """Return the files named or found below the folders named, and errors for paths that are unusable."""
    files: list[Path] = []
    errors: list[LoadError] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED and p.is_file())
            files.extend(
                p for p in found if not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                files.append(path)
            else:
                kinds = ", ".join(sorted(SUPPORTED))
                errors.append(LoadError(str(path), (f"unsupported file type; newsbot reads {kinds}",)))
        elif path.exists():
            errors.append(LoadError(str(path), ("not a regular file or folder",)))
        else:
            errors.append(LoadError(str(path), ("no such file or folder",)))
    return files, errors


def load_file(path: Path) -> list[Loaded | LoadError]:
    """Read every summary in one file; a bad document is an error beside the good ones."""
    return list(iter_file(path))


def iter_file(path: Path) -> Iterator[Loaded | LoadError]:
    """Read the summaries of one file as load_file does, validating a JSON Lines file's one at a time.

    A bulk ingest stores one batch while it reads the next (bot/core/service.py, IngestPipeline):
    a 5,000-line file validated whole would keep the store waiting for 300 ms.
    """
    where = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            yield LoadError(where, (f"file is larger than {MAX_FILE_BYTES // 1_000_000} MB",))
            return
        raw = path.read_bytes()
    except OSError as exc:
        yield LoadError(where, (f"cannot read: {exc.strerror or exc}",))
        return
    suffix = path.suffix.lower()
    if (reader := _READERS.get(suffix)) is not None:
        yield from reader(raw, where)  # such files carry their own encoding (an HTML page's charset)
        return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield LoadError(where, (f"not UTF-8 text (byte {exc.start})",))
        return
    if suffix == ".jsonl":
        yield from _load_json_lines(text, where)
    else:
        yield from load_text(text, suffix=suffix, where=where)


def load_text(text: str, *, suffix: str, where: str) -> list[Loaded | LoadError]:
    """Read summaries from text in the format its `suffix` names (".json", ".yaml", ".md", …)."""
    if suffix in ARTICLES:
        try:
            return [Loaded(where, parse_article(text, name=where))]
        except ArticleError as exc:
            return [LoadError(where, tuple(exc.problems) or (str(exc),))]
        except ValidationError as exc:
            return [LoadError(where, format_validation_error(exc))]
    if suffix == ".jsonl":
        return list(_load_json_lines(text, where))
    try:
        docs = _parse_structured(text, suffix)
    except ValueError as exc:
        return [LoadError(where, (str(exc),))]
    if isinstance(docs, list):
        if not docs:
            return [LoadError(where, ("the file holds an empty list: no summaries",))]
        return [validate_document(doc, f"{where}[{i}]") for i, doc in enumerate(docs)]
    return [validate_document(docs, where)]


def validate_document(doc: Any, where: str) -> Loaded | LoadError:
    """Validate one parsed document as a Summary."""
    if not isinstance(doc, dict):
        kind = "nothing" if doc is None else type(doc).__name__
        return LoadError(where, (f"expected a mapping of summary fields, found {kind}",))
    try:
        return Loaded(where, Summary.model_validate(doc))
    except ValidationError as exc:
        return LoadError(where, format_validation_error(exc))


def format_validation_error(exc: ValidationError) -> tuple[str, ...]:
    """Return "field.path: reason" for each problem pydantic found."""
    out = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        # The version check runs on the whole document (so a v2 file is refused before its fields are
        # judged); its error still belongs to the `version` field.
        fallback = "version" if msg.startswith("format version") else "<document>"
        path = ".".join(str(p) for p in err["loc"]) or fallback
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not in summary format v1)"
        elif err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == NO_NUL_PATTERN:
            msg = "contains a NUL character (U+0000), which cannot be stored; remove it"
        hint = _HINTS.get(str(err["loc"][0])) if err["loc"] and err["type"] in _HINTED else None
        out.append(f"{path}: {msg}; write it like `{hint}`" if hint else f"{path}: {msg}")
    return tuple(out)


# What to write instead, for the fields whose pydantic messages ("Input should have timezone info",
# "valid dictionary or instance of Source") do not say it. Only for shape errors, not for messages
# that already explain themselves (such as a URL that is not http(s)).
_HINTS = {
    "published": "published: 2026-11-26T09:00:00Z",
    "source": "source: https://example.com/story` or `source: {name: Example News, url: https://example.com/story}",
    "event": "event: {name: Economic Prosperity Partnership Dialogue, round: 6}",
    "participants": "participants: [{name: Jacob Helberg, role: Under Secretary, side: United States}]",
    "quotes": "quotes: [{text: a vital partner, speaker: State Department}]",
    "reactions": "reactions: [{party: China, position: objects to official contacts}]",
}
_HINTED = {
    "timezone_aware",
    "datetime_type",
    "datetime_parsing",
    "datetime_from_date_parsing",
    "model_type",
    "model_attributes_type",
    "dict_type",
    "list_type",
}


def _parse_structured(text: str, suffix: str) -> Any:
    if suffix == ".json":
        try:
            return load_json(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    try:
        docs = [d for d in load_yaml_all(text) if d is not None]
    except TooComplex:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            raise ValueError(
                f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
            ) from None
        raise ValueError(f"invalid YAML: {problem}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        # PyYAML's constructors raise these for values it cannot build (`!!timestamp` on a bad date,
        # `2026-13-45`); they are the file's fault, so they become a message, not a traceback.
        raise ValueError(f"invalid YAML value: {type(exc).__name__}: {exc}") from None
    if not docs:
        raise ValueError("the file is empty")
    return docs[0] if len(docs) == 1 else docs


def _load_json_lines(text: str, where: str) -> Iterator[Loaded | LoadError]:
    seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        seen = True
        here = f"{where}:{number}"
        try:
            doc = load_json(line)
        except json.JSONDecodeError as exc:
            yield LoadError(here, (f"invalid JSON at column {exc.colno}: {exc.msg}",))
            continue
        except TooComplex as exc:
            yield LoadError(here, (str(exc),))
            continue
        yield validate_document(doc, here)
    if not seen:
        yield LoadError(where, ("the file is empty",))
