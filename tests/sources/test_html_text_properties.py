"""Property: whatever HTML an entry carries, its text has no tags and no script or style content."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.feed import html_to_text, parse_feed_sync

SECRET = "zzsecretzz"  # only ever inside <script>/<style>/attributes, so it must never reach the text
TAG = re.compile(r"<[A-Za-z/!][^<>]*>")

words = st.text(
    alphabet=st.characters(blacklist_characters="<>&", blacklist_categories=("Cs", "Cc")), max_size=20
)
inline = st.sampled_from(["b", "i", "em", "strong", "a", "span", "code"])
block = st.sampled_from(["p", "div", "li", "h2", "blockquote", "td"])


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def fragments(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["text", "inline", "block", "script", "style", "img", "comment", "entity"]))
    if kind == "text" or depth > 3:
        return draw(words)
    if kind in {"inline", "block"}:
        tag = draw(inline if kind == "inline" else block)
        children = draw(st.lists(fragments(depth + 1), max_size=3))
        attrs = f' title="{SECRET}" onclick="{SECRET}()"' if draw(st.booleans()) else ""
        return f"<{tag}{attrs}>{''.join(children)}</{tag}>"
    if kind == "script":
        return f"<script>var a = '{SECRET}'; if (1 < 2) {{ document.write('<b>x</b>') }}</script>"
    if kind == "style":
        return f"<style>.{SECRET} {{ color: red }}</style>"
    if kind == "img":
        return f'<img src="https://t.example/{SECRET}.gif" width="1" height="1" alt="">'
    if kind == "comment":
        return f"<!-- {SECRET} -->"
    return draw(st.sampled_from(["&amp;", "&nbsp;", "&mdash;", "&#233;", "&quot;", "&lt;", "&gt;"]))


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(fragments(), max_size=6))
def test_entry_html_never_leaves_tags_scripts_or_hidden_text(parts: list[str]) -> None:
    text = html_to_text("".join(parts))
    assert SECRET not in text
    assert not TAG.search(text)
    assert "\n\n\n" not in text
    assert text == text.strip()


@settings(max_examples=100, deadline=None)
@given(paragraphs=st.lists(words.filter(lambda w: w.strip()), min_size=1, max_size=5))
def test_every_word_of_escaped_paragraphs_survives(paragraphs: list[str]) -> None:
    text = html_to_text("".join(f"<p>{_escape(p)}</p>" for p in paragraphs))
    assert text.split() == " ".join(paragraphs).split()


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(fragments(), max_size=6))
def test_entry_html_inside_a_real_feed_never_reaches_the_text_as_markup(parts: list[str]) -> None:
    markup = "".join(parts)
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>P</title>'
        f"<item><guid>g</guid><title>t</title><description><![CDATA[{markup}]]></description></item>"
        f"<item><guid>h</guid><title>u</title><description>{_escape(markup)}</description></item>"
        "</channel></rss>"
    ).encode()
    for entry in parse_feed_sync(body, url="https://p.example/feed").entries:
        assert SECRET not in entry.text
        assert not TAG.search(entry.text)
