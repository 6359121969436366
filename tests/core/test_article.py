"""Articles as text: the worked example, Markdown and plain-text shapes, front matter and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.article import ArticleError, parse_article
from bot.core.loader import LoadError, load_text
from bot.core.summary import HEADLINE_MAX, Summary

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "us-taiwan-dialogue.txt"
AREAS = [
    "Supply Chain Security",
    "Drone Technology",
    "Critical Minerals",
    "Economic Coercion Response",
    "Taxation Barriers",
]


def _everything(summary: Summary) -> str:
    """Return all the text a reader can get from a summary, whitespace collapsed."""
    pieces = [summary.headline, summary.lede or ""]
    pieces += [f"{t.title}: {t.text}" for t in summary.topics]
    pieces += [f"{s.title}\n{s.text}" for s in summary.sections]
    return " ".join(" ".join(pieces).split())


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


# -- the worked example ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> Summary:
    return parse_article(EXAMPLE.read_text(encoding="utf-8"))


def test_example_headline_and_lede(example: Summary) -> None:
    assert example.headline == "Taiwan and US Deepen Strategic Tech Partnership in High-Level Dialogue"
    assert example.lede is not None
    assert example.lede.startswith("Senior officials from Taiwan and the United States convened")
    assert example.lede.endswith("in critical technology sectors.")


def test_example_discussion_areas_become_the_five_topics(example: Summary) -> None:
    assert [t.title for t in example.topics] == AREAS
    drones = example.topics[1]
    assert drones.text == (
        "Discussions on certification protocols for drone components and potential areas for joint "
        "development and cooperation"
    )


def test_example_narrative_parts_stay_sections_with_the_discussion_intro(example: Summary) -> None:
    assert [s.title for s in example.sections] == [
        "Key Agreements and Collaborative Initiatives",
        "Comprehensive Discussion Areas",
        "Recent Developments and Context",
        "Regional Implications and Responses",
    ]
    intro = example.sections[1]
    assert (
        intro.text == "The dialogue covered multiple dimensions of technological and economic collaboration:"
    )
    # Paragraphs stay paragraphs inside a section.
    assert example.sections[0].text.count("\n\n") == 1
    assert example.sections[3].text.endswith("critical determinants of economic and security advantage.")


def test_no_sentence_of_the_example_is_lost(example: Summary) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    body = "\n".join(re.sub(r"^\s*(?:[-*+•]|\d+[.)])\s+", "", line) for line in text.splitlines())
    sentences = [s.strip() for s in re.split(r"(?<=[.!?:])\s+|\n+", body) if s.strip()]
    assert len(sentences) > 25
    everything = _everything(example)
    lost = [s for s in sentences if " ".join(s.split()) not in everything]
    assert lost == []


def test_the_example_reads_the_same_with_windows_line_ends_bom_tabs_and_trailing_spaces(
    example: Summary,
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    messy = "\ufeff" + "\r\n".join(line.replace(" ", "\t", 1) + "  " for line in text.splitlines()) + "\r\n"
    again = parse_article(messy)
    assert again.headline == example.headline
    assert [t.title for t in again.topics] == AREAS
    assert [s.title for s in again.sections] == [s.title for s in example.sections]


# -- Markdown and plain-text shapes ------------------------------------------------------------------


def test_markdown_article_with_atx_headings_and_wrapped_paragraphs() -> None:
    summary = parse_article(
        "# Ministers Meet in Taipei #\n"
        "\n"
        "Officials met on Tuesday to discuss chips\n"
        "and drones, among other things.\n"
        "\n"
        "A second opening paragraph.\n"
        "\n"
        "## Areas\n"
        "\n"
        "The talks covered:\n"
        "\n"
        "1. Semiconductors: Export rules for advanced chips\n"
        "2) Drones: Certification\n"
        "   of components\n"
        "* **Minerals**: Access to gallium\n"
        "\n"
        "## Outlook ##\n"
        "\n"
        "More talks are planned.\n"
    )
    assert summary.headline == "Ministers Meet in Taipei"
    assert summary.lede == "Officials met on Tuesday to discuss chips and drones, among other things."
    assert [(t.title, t.text) for t in summary.topics] == [
        ("Semiconductors", "Export rules for advanced chips"),
        ("Drones", "Certification of components"),
        ("**Minerals**", "Access to gallium"),  # text is plain: the author's characters are kept
    ]
    assert [(s.title, s.text) for s in summary.sections] == [
        ("Introduction", "A second opening paragraph."),
        ("Areas", "The talks covered:"),
        ("Outlook", "More talks are planned."),
    ]


def test_setext_headline_and_headings() -> None:
    summary = parse_article(
        "Trade Talks Resume\n==================\n\nBoth sides returned to the table.\n\n"
        "Background\n----------\n\nThe talks stalled in May.\n"
    )
    assert summary.headline == "Trade Talks Resume"
    assert summary.lede == "Both sides returned to the table."
    assert [(s.title, s.text) for s in summary.sections] == [("Background", "The talks stalled in May.")]


def test_list_items_without_a_label_stay_in_their_section() -> None:
    summary = parse_article(
        "Summit Ends\nLeaders met for two days.\nWhat Was Agreed\n"
        "- More flights between the capitals\n• A joint study on ports\n- Chips: A working group\n"
        "Next Steps\nA follow-up is due in spring.\n"
    )
    assert [t.title for t in summary.topics] == ["Chips"]
    assert [(s.title, s.text) for s in summary.sections] == [
        ("What Was Agreed", "More flights between the capitals\nA joint study on ports"),
        ("Next Steps", "A follow-up is due in spring."),
    ]


@pytest.mark.parametrize(
    "item",
    [
        "- The main point they raised at the press conference: more chips",  # too long for a label
        "- See https://example.com/report for details",  # a URL's colon is no label
        "- Deadline:",  # nothing after the colon
    ],
)
def test_items_that_only_contain_a_colon_are_not_topics(item: str) -> None:
    summary = parse_article(f"Headline\nLede text.\nHeading Here\n{item}\n")
    assert summary.topics == []
    assert summary.sections[0].text == item.removeprefix("- ")


def test_text_before_the_first_heading_is_an_introduction_section() -> None:
    summary = parse_article("Headline\nThe lede.\nA second paragraph.\nA Heading\nBody text.\n")
    assert summary.lede == "The lede."
    assert [s.title for s in summary.sections] == ["Introduction", "A Heading"]
    assert summary.sections[0].text == "A second paragraph."


def test_an_article_without_headings_keeps_its_body_as_details() -> None:
    summary = parse_article("Headline\n\nThe lede.\n\nMore text here.\n\nAnd the end.\n")
    assert summary.lede == "The lede."
    assert [(s.title, s.text) for s in summary.sections] == [("Details", "More text here.\n\nAnd the end.")]


def test_plain_lines_become_headings_only_before_a_paragraph_or_a_list() -> None:
    summary = parse_article(
        "Headline\n"
        "The lede.\n"
        "An unpunctuated closing remark\n"  # followed by a heading-like line, so it is text
        "Outlook\n"
        "Talks continue\n"  # last line: nothing follows, so it is text, not a heading
    )
    assert [(s.title, s.text) for s in summary.sections] == [
        ("Introduction", "An unpunctuated closing remark"),
        ("Outlook", "Talks continue"),
    ]


def test_hard_wrapped_lines_join_without_blank_lines() -> None:
    summary = parse_article("Headline\nThe minister said the talks\nwent well and would continue.\n")
    assert summary.lede == "The minister said the talks went well and would continue."


def test_a_heading_whose_list_all_became_topics_keeps_its_title() -> None:
    summary = parse_article("Headline\nLede.\n## Areas\n- Chips: Export rules\n## After\nText.\n")
    assert [(s.title, s.text) for s in summary.sections] == [("Areas", ""), ("After", "Text.")]


# -- front matter ------------------------------------------------------------------------------------


def test_front_matter_fills_the_fields_the_text_cannot() -> None:
    summary = parse_article(
        "---\n"
        "id: talks-2026\n"
        "published: 2026-11-24T09:00:00+08:00\n"
        "source: {name: Example News, url: 'https://example.com/talks'}\n"
        "tags: [drones, trade-tariffs]\n"
        "---\n"
        "Talks Resume\n"
        "Both sides met.\n"
    )
    assert summary.id == "talks-2026"
    assert summary.published is not None
    assert summary.published.isoformat() == "2026-11-24T09:00:00+08:00"
    assert summary.source is not None
    assert summary.source.url == "https://example.com/talks"
    assert summary.tags == ["drones", "trade-tariffs"]
    assert summary.headline == "Talks Resume"


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        ("published: 2026-11-24 09:00:00\n", "published: Input should have timezone info"),
        ("source: {url: 'ftp://example.com/x'}\n", "source.url: must be an http(s) URL"),
        ("headlne: typo\n", "headlne: unknown field"),
        ("tags: [Not A Slug]\n", "tags.0: String should match pattern"),
        ("version: 2\n", "format version 2 is not supported"),
        ("headline: Another\n", "front matter: headline comes from the article text"),
        ("- a\n- b\n", "front matter must be 'field: value' lines, found list"),
        ("source: [\n", "front matter: invalid YAML at line 3"),
        ("published: 2026-13-45\n", "front matter: invalid value: month must be in 1..12"),
        ("published: !!timestamp\n", "front matter: invalid value (a tagged value YAML cannot build)"),
    ],
)
def test_bad_front_matter_names_the_field(front: str, expected: str) -> None:
    with pytest.raises(ArticleError) as caught:
        parse_article(f"\n---\n{front}---\nHeadline\nLede.\n")
    assert expected in str(caught.value)


def test_front_matter_must_be_closed() -> None:
    with pytest.raises(ArticleError, match="opened with '---' on line 1 is never closed"):
        parse_article("---\nsource: {name: X}\nHeadline\nLede.\n")


def test_every_field_problem_is_reported_once_each() -> None:
    with pytest.raises(ArticleError) as caught:
        parse_article("---\npublished: 2026-11-24 09:00\nsource: {url: nope}\n---\nHeadline\n")
    assert len(caught.value.problems) == 2


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the article is empty"),
        (" \n\t\r\n\n", "the article is empty"),
        (
            "- Chips: Export rules\n- Drones: Certification\n",
            "no headline: the article starts with a list item",
        ),
        ("\n\n* only\n", "starts with a list item (line 3)"),
        ("***\n===\n", "no headline"),
        ("---\ntags: [ai]\n---\n\n", "front matter but no text"),
        ("x" * (HEADLINE_MAX + 41) + "\nLede.", f"headline is {HEADLINE_MAX + 41} characters; at most 300"),
    ],
)
def test_bad_articles_say_why(text: str, expected: str) -> None:
    with pytest.raises(ArticleError) as caught:
        parse_article(text, name="story.md")
    assert expected in str(caught.value)
    assert caught.value.name == "story.md"


def test_the_loader_reports_article_problems_as_path_and_reason() -> None:
    [error] = load_text("- just a list\n", suffix=".md", where="inbox/story.md")
    assert isinstance(error, LoadError)
    assert str(error).startswith("inbox/story.md: no headline")


# -- properties --------------------------------------------------------------------------------------

WORD = st.from_regex(r"[A-Za-z][A-Za-z0-9']{0,9}", fullmatch=True)
PHRASE = st.lists(WORD, min_size=1, max_size=12).map(" ".join)
SENTENCES = st.lists(
    st.tuples(PHRASE, st.sampled_from([".", "!", "?", "", ",", ":"])).map("".join), min_size=1, max_size=4
).map(" ".join)


@st.composite
def _articles(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Draw an article made of headings, paragraphs and list items; return it with each block's content."""
    headline = draw(PHRASE)
    style = draw(st.sampled_from(["plain", "atx", "setext"]))
    first = {"plain": headline, "atx": f"# {headline}", "setext": f"{headline}\n{'=' * len(headline)}"}[style]
    lines, contents = [first], [headline]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["atx", "plain-heading", "para", "item", "labelled", "blank", "rule"]))
        if kind == "blank":
            lines.append("")
            continue
        if kind == "rule":
            lines.append(draw(st.sampled_from(["---", "***", "* * *", "==="])))
            continue
        content = draw(PHRASE if kind in {"atx", "plain-heading"} else SENTENCES)
        bullet = draw(st.sampled_from(["-", "*", "+", "•", "1.", "12)"]))
        if kind == "atx":
            lines.append(f"{'#' * draw(st.integers(1, 6))} {content}")
        elif kind == "item":
            lines.append(f"{bullet} {content}")
        elif kind == "labelled":
            label = draw(PHRASE)
            lines.append(f"{bullet} {label}: {content}")
            content = f"{label} {content}"
        else:
            lines.append(content)
        contents.append(content)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    trailing = draw(st.sampled_from(["", "  ", "\t", " \t "]))
    return newline.join(line + trailing for line in lines), contents


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_articles())
def test_generated_articles_parse_and_keep_every_word(article: tuple[str, list[str]]) -> None:
    text, contents = article
    summary = parse_article(text)
    found = _words(_everything(summary))
    for content in contents:
        assert _words(content) <= found, content


MARKUP = st.sampled_from([*"-*+•#=_:.1) \t\n\r", "---", "\n---\n", "a: b", "\ufeff", "- x: y"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MARKUP | st.text(max_size=8), max_size=40).map("".join))
def test_any_text_gives_a_summary_or_an_article_error(text: str) -> None:
    try:
        summary = parse_article(text)
    except ArticleError as exc:
        problems = exc.problems
    else:
        problems = ()
        assert summary.headline.strip()
    assert all(p.strip() for p in problems), "every refusal says why"


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        (
            "tags: &t [" + "a" * 100_000 + "]\nsignificance: [" + ", ".join(["*t"] * 2_000) + "]",
            "aliases expand it",
        ),
        ("tags: " + "[" * 5_000, "too deeply nested"),
    ],
)
def test_front_matter_alias_bombs_and_deep_nesting_are_refused(front: str, expected: str) -> None:
    text = f"---\n{front}\n---\nA headline\n\nA lede.\n"
    [error] = [i for i in load_text(text, suffix=".md", where="a.md") if isinstance(i, LoadError)]
    assert str(error).startswith("a.md: front matter: ")
    assert expected in str(error)
