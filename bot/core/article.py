"""Turning a plain-text or Markdown news article into a `Summary`.

The article's shape (see examples/us-taiwan-dialogue.txt):

- An optional front matter block first: a `---` line, YAML mapping lines, a closing `---` (or `...`)
  line. It may give any summary field the text cannot: `id`, `version`, `published`, `source`
  (`{name, url}`), `event`, `participants`, `agreements`, `quotes`, `context`, `reactions`,
  `significance`, `tags`. The headline, lede, topics and sections come from the text only.
  Bad values are reported per field (`published: Input should have timezone info`).
- The headline: the first line (`# Title`, `Title` underlined with `===`, or plain text).
- The lede: the first paragraph after the headline, unless a heading or list comes first.
- Headings start sections: Markdown `#`…`######` headings, `===`/`---` underlined lines, and short
  plain lines without closing punctuation that are followed by a paragraph or a list.
- List items (`-`, `*`, `+`, `•`, `1.`, `1)`) written `Label: text` become `topics` titled `Label`;
  other list items stay in the text of their section, one per line.
- Everything else is section text. Text between the lede and the first heading forms a section titled
  "Introduction" ("Details" when the article has no headings). Nothing the author wrote is dropped:
  only heading marks, bullets, underlines and rules go.

Paragraphs are separated by blank lines when the article uses blank lines between paragraphs
(Markdown style: the lines of a paragraph are joined); otherwise every line is a paragraph (the
example's style), except that a line starting with a lowercase letter after an unfinished line
continues it, so hard-wrapped text stays one paragraph. Text stays plain: `**bold**` and similar
marks are the author's characters and are kept. Bare `Key: value` lines without the `---` fences are
text, not front matter: "Update: talks resumed" is a plausible first line of an article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from bot.core.bounded import TooComplex, load_yaml_all
from bot.core.summary import HEADLINE_MAX, Section, Summary

HEADING_MAX_CHARS = 80  # a plain line longer than this is a paragraph, never a heading
HEADING_MAX_WORDS = 12
LABEL_MAX_CHARS = 60  # "Supply Chain Security: …" — a longer "label" is a sentence with a colon in it
LABEL_MAX_WORDS = 6
# The body builds these; front matter that sets them would fight the text.
_FROM_TEXT = ("headline", "lede", "topics", "sections")
# Titles for text that no heading covers, kept as a section so no sentence is lost. "Introduction"
# when headings follow, since it opens the story; "Details" when the article has no headings at
# all, since there the text is the body of the story, not an introduction to anything.
INTRODUCTION_TITLE = "Introduction"
UNHEADED_TITLE = "Details"

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+$")
_RULE = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_EQUALS = re.compile(r"^ {0,3}=+[ \t]*$")
_DASHES = re.compile(r"^ {0,3}-+[ \t]*$")
_ITEM = re.compile(r"^([ \t]*)(?:[-*+][ \t]+|•[ \t]*|\d{1,9}[.)][ \t]+)(.*)$")
_LABEL = re.compile(r"^(?P<label>[^:]+?)[ \t]*:[ \t]+(?P<text>\S.*)$")
_FENCE = re.compile(r"^(?:---|\.\.\.)[ \t]*$")
_SPACES = re.compile(r"[ \t]+")
_TERMINAL = re.compile(r"[.!?…][\"'”’)\]»]*$")  # a finished sentence, perhaps inside quotes or brackets
_NOT_A_TITLE_END = ".!?,;:…\"'“”’»"
_WORD = re.compile(r"\w", flags=re.UNICODE)


class ArticleError(ValueError):
    """An article that cannot become a summary; the message says why, `problems` lists each reason."""

    def __init__(self, *problems: str, name: str = "article") -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.name = name


@dataclass(slots=True)
class _Block:
    kind: Literal["heading", "para", "item"]
    text: str
    line: int  # 1-based line in the file, for messages
    plain: bool = False  # a paragraph's lone line could be a heading written without marks


@dataclass(slots=True)
class _Part:
    title: str
    chunks: list[list[str]] = field(default_factory=list)  # paragraphs, or runs of list items

    def add(self, text: str, *, item: bool, continues_list: bool) -> None:
        if item and continues_list and self.chunks:
            self.chunks[-1].append(text)
        else:
            self.chunks.append([text])

    def text(self) -> str:
        return "\n\n".join("\n".join(chunk) for chunk in self.chunks)


def parse_article(text: str, name: str = "article") -> Summary:
    """Parse a plain-text or Markdown article into a summary; raise ArticleError when it cannot be one.

    `name` identifies the article on the error (`ArticleError.name`); the message itself does not
    repeat it, because callers such as the loader put their own location in front.
    """
    lines = _normalise(text)
    if not any(line.strip() for line in lines):
        raise ArticleError("the article is empty", name=name)
    front, body_start = _front_matter(lines, name)
    body = lines[body_start:]
    blocks = _blocks(body, offset=body_start)
    if not blocks:
        if body_start:
            raise ArticleError(
                "the article has front matter but no text: the first line after it must be the headline",
                name=name,
            )
        raise ArticleError("no headline: the article holds only rules and markup, no words", name=name)
    first = blocks[0]
    if first.kind == "item":
        raise ArticleError(
            f"no headline: the article starts with a list item (line {first.line}); "
            "put the headline on a line of its own first",
            name=name,
        )
    headline = first.text
    if len(headline) > HEADLINE_MAX:
        raise ArticleError(
            f"headline is {len(headline)} characters; at most {HEADLINE_MAX} are allowed "
            "(is the first line a paragraph? put the headline on a line of its own)",
            name=name,
        )
    try:
        doc = _assemble(headline, blocks[1:])
        doc.update(front)
        return Summary.model_validate(doc)
    except ValidationError as exc:
        raise ArticleError(*_field_problems(exc), name=name) from None


def _normalise(text: str) -> list[str]:
    text = text.removeprefix("\ufeff")
    # splitlines() also ends lines at \r\n, \r, \u2028 and friends; tabs become spaces so indentation
    # can be measured, and trailing spaces carry nothing in plain text.
    return [line.expandtabs(4).rstrip() for line in text.splitlines()]


def _front_matter(lines: list[str], name: str) -> tuple[dict[str, Any], int]:
    start = next(i for i, line in enumerate(lines) if line.strip())
    if lines[start].strip() != "---":
        return {}, 0
    end = next((i for i in range(start + 1, len(lines)) if _FENCE.match(lines[i])), None)
    if end is None:
        raise ArticleError(
            f"front matter opened with '---' on line {start + 1} is never closed: end it with a '---' line",
            name=name,
        )
    source = "\n".join(lines[start + 1 : end])
    try:
        data = next((d for d in load_yaml_all(source) if d is not None), None)
    except TooComplex as exc:
        raise ArticleError(f"front matter: {exc}", name=name) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" at line {mark.line + start + 2}, column {mark.column + 1}" if mark is not None else ""
        raise ArticleError(f"front matter: invalid YAML{where}: {problem}", name=name) from None
    except Exception as exc:
        # PyYAML's constructors fail outside YAMLError on some input: "2026-13-45" is a ValueError,
        # an empty "!!timestamp" an AttributeError. Either way the front matter is at fault.
        reason = f": {exc}" if isinstance(exc, ValueError) else " (a tagged value YAML cannot build)"
        raise ArticleError(f"front matter: invalid value{reason}", name=name) from None
    if data is None:
        return {}, end + 1
    if not isinstance(data, dict):
        raise ArticleError(
            f"front matter must be 'field: value' lines, found {type(data).__name__}", name=name
        )
    bad_keys = [str(k) for k in data if not isinstance(k, str)]
    if bad_keys:
        raise ArticleError(f"front matter: field names must be text, found {', '.join(bad_keys)}", name=name)
    taken = [k for k in _FROM_TEXT if k in data]
    if taken:
        raise ArticleError(
            *(
                f"front matter: {k} comes from the article text; remove it from the front matter"
                for k in taken
            ),
            name=name,
        )
    return data, end + 1


def _blocks(body: list[str], *, offset: int) -> list[_Block]:
    """Classify the lines into headings, paragraphs and list items, joining continued lines."""
    blank_style = _uses_blank_lines(body)
    blocks: list[_Block] = []
    previous = "blank"  # what the line before was: blank, heading, item, para
    for index, raw in enumerate(body):
        number = offset + index + 1  # the line number in the whole file, front matter included
        stripped = raw.strip()
        if not stripped:
            previous = "blank"
            continue
        last = blocks[-1] if blocks else None
        if (_EQUALS.match(raw) or _DASHES.match(raw)) and previous == "para" and last and last.kind == "para":
            last.kind = "heading"  # "Title" underlined with === or ---
            previous = "heading"
            continue
        if _RULE.match(raw) or _EQUALS.match(raw):
            previous = "blank"  # a thematic break carries no words and ends what came before
            continue
        if atx := _ATX.match(raw):
            title = _clean(_ATX_CLOSE.sub("", atx.group(2) or ""))
            if title:
                blocks.append(_Block("heading", title, number))
            previous = "heading"
            continue
        if item := _ITEM.match(raw):
            content = _clean(item.group(2))
            if content:
                blocks.append(_Block("item", content, number))
                previous = "item"
            continue
        content = _clean(stripped)
        indent = len(raw) - len(raw.lstrip())
        if previous == "item" and last and last.kind == "item" and indent >= 2:
            last.text = f"{last.text} {content}"  # an indented line continues its list item
            continue
        if previous == "para" and last and len(blocks) > 1 and _continues(last, content, blank_style):
            last.text = f"{last.text} {content}"
            last.plain = False
            continue
        # The first line is the headline on its own, even when the lede follows without a blank line;
        # it stays a paragraph block only so that an === underline below it still applies.
        blocks.append(_Block("para", content, number, plain=bool(blocks)))
        previous = "para"
    _promote_plain_headings(blocks)
    return blocks


def _uses_blank_lines(body: list[str]) -> bool:
    """Tell whether blank lines separate paragraphs (Markdown style) rather than line breaks."""
    seen = 0
    gap = False
    for line in body:
        if not line.strip():
            gap = seen > 0
            continue
        # A blank line right after the headline is common in line-per-paragraph text too,
        # so only a later gap decides.
        if gap and seen > 1:
            return True
        gap = False
        seen += 1
    return False


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _continues(last: _Block, content: str, blank_style: bool) -> bool:
    if blank_style:
        return True
    # Line-per-paragraph text: only a lowercase start after an unfinished line is a wrapped line.
    return content[:1].islower() and not _TERMINAL.search(last.text)


def _promote_plain_headings(blocks: list[_Block]) -> None:
    """Turn lone short unpunctuated lines followed by a paragraph or a list into headings."""
    # Backwards, so the block after each candidate is already settled: of "Part One / Background /
    # Text." only "Background" is followed by a paragraph.
    for index in range(len(blocks) - 2, 0, -1):
        block, following = blocks[index], blocks[index + 1]
        if block.kind != "para" or not _looks_like_title(block):
            continue
        if following.kind == "item" or (following.kind == "para" and not following.text[:1].islower()):
            block.kind = "heading"


def _looks_like_title(block: _Block) -> bool:
    text = block.text
    return (
        block.plain
        and len(text) <= HEADING_MAX_CHARS
        and len(text.split()) <= HEADING_MAX_WORDS
        and not text[:1].islower()
        and text[-1] not in _NOT_A_TITLE_END
        and bool(_WORD.search(text))
    )


def _label(text: str) -> tuple[str, str] | None:
    """Split "Label: text" into its parts when the part before the colon reads like a label."""
    match = _LABEL.match(text)
    if match is None:
        return None
    label = match.group("label").strip()
    if (
        len(label) > LABEL_MAX_CHARS
        or len(label.split()) > LABEL_MAX_WORDS
        or not any(ch.isalpha() for ch in label)
        or label[-1] in ".!?,;"
    ):
        return None
    return label, match.group("text").strip()


def _assemble(headline: str, blocks: list[_Block]) -> dict[str, Any]:
    lede: str | None = None
    rest = blocks
    if rest and rest[0].kind == "para":
        lede = rest[0].text
        rest = rest[1:]
    has_headings = any(b.kind == "heading" for b in rest)
    unheaded = _Part(INTRODUCTION_TITLE if has_headings else UNHEADED_TITLE)
    parts: list[_Part] = []
    topics: list[Section] = []
    current = unheaded
    previous_kind = ""
    for block in rest:
        if block.kind == "heading":
            current = _Part(block.text)
            parts.append(current)
        elif block.kind == "item" and (labelled := _label(block.text)) is not None:
            topics.append(Section(title=labelled[0], text=labelled[1]))
        else:
            current.add(block.text, item=block.kind == "item", continues_list=previous_kind == "item")
        previous_kind = block.kind
    if unheaded.chunks:
        parts.insert(0, unheaded)
    return {
        "headline": headline,
        "lede": lede,
        "topics": topics,
        # A heading with no text of its own (its list all became topics, or a subheading follows) is kept
        # with empty text: dropping it would lose the author's words.
        "sections": [Section(title=p.title, text=p.text()) for p in parts],
    }


def _field_problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "front matter"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not in summary format v1)"
        out.append(f"{path}: {msg}")
    return out
