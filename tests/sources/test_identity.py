"""Entry identity: the same story keeps its key and fingerprint through cosmetic changes."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from bot.sources.identity import (
    drop_duplicate_keys,
    fingerprint,
    identify,
    normalize_url,
    normalize_words,
    sha256_hex,
)


def test_a_url_loses_its_fragment_and_click_tracking_but_keeps_the_rest() -> None:
    url = (
        "HTTPS://News.Example.COM/Story/7?id=3&utm_source=rss&UTM_Medium=x&fbclid=abc&gclid=1&page=2#comments"
    )
    assert normalize_url(url) == "https://news.example.com/Story/7?id=3&page=2"


def test_a_url_keeps_its_other_parameters_exactly_as_written() -> None:
    assert normalize_url("https://a.example/s?q=a+b%2Fc&flag&utm_term=x&empty=") == (
        "https://a.example/s?q=a+b%2Fc&flag&empty="
    )


def test_a_url_keeps_its_path_case_and_parameter_order() -> None:
    assert normalize_url("https://a.example/A/b?z=1&a=2") == "https://a.example/A/b?z=1&a=2"


def test_a_url_with_credentials_lowercases_only_the_host() -> None:
    assert normalize_url("https://User:Pw@HOST.example/x") == "https://User:Pw@host.example/x"


def test_a_relative_link_is_only_stripped_of_its_fragment() -> None:
    assert normalize_url(" /posts/1#top ") == "/posts/1"


def test_an_entry_with_an_id_is_keyed_on_the_stripped_id() -> None:
    ident = identify("  tag:x,2026:1\n", link="https://x.example/1", title="T", text="")
    assert ident.key_kind == "id"
    assert ident.key == sha256_hex("tag:x,2026:1")


def test_a_numeric_id_is_keyed_like_its_string() -> None:
    assert identify(42, link=None, title="", text="").key == identify("42", link=None, title="", text="").key


def test_an_entry_without_id_is_keyed_on_its_normalised_link() -> None:
    ident = identify(None, link="https://X.example/a?utm_campaign=z", title="T", text="")
    assert ident.key_kind == "link"
    assert ident.raw == "https://x.example/a"


def test_an_entry_without_id_or_link_is_keyed_on_its_words() -> None:
    one = identify("", link="", title="Hall closed", text="Closed Friday.")
    two = identify(None, link=None, title="Hall closed", text="Closed Saturday.")
    assert one.key_kind == two.key_kind == "hash"
    assert one.key != two.key


def test_only_the_first_500_characters_of_text_decide_a_hash_key() -> None:
    head = "word " * 120
    assert (
        identify(None, link=None, title="T", text=head + "tail one").key
        == identify(None, link=None, title="T", text=head + "tail two").key
    )


def test_the_id_and_link_scheme_tells_apart_entries_sharing_an_id() -> None:
    one = identify("post", link="https://x.example/1", title="A", text="", scheme="id+link")
    two = identify("post", link="https://x.example/2", title="B", text="", scheme="id+link")
    assert one.key_kind == "id"
    assert one.key != two.key
    assert one.key != identify("post", link="https://x.example/1", title="A", text="").key


def test_a_guid_rewrite_keeps_the_fingerprint() -> None:
    before = identify("guid-1", link="https://x.example/a", title="Budget passes", text="")
    after = identify("guid-1-rewritten", link="https://x.example/a", title="Budget passes", text="")
    assert before.key != after.key
    assert before.fingerprint == after.fingerprint


def test_a_different_story_at_the_same_link_has_a_different_fingerprint() -> None:
    assert fingerprint("Budget passes", "https://x.example/a") != fingerprint(
        "Budget fails", "https://x.example/a"
    )


def test_duplicates_keep_the_first_in_order_and_are_counted() -> None:
    kept, dropped = drop_duplicate_keys(["a1", "b1", "a2", "c1", "b2"], key=lambda s: s[0])
    assert kept == ["a1", "b1", "c1"]
    assert dropped == 2


words = st.text(alphabet=string.ascii_letters + string.digits + "éß ", min_size=1, max_size=40)
punctuated = st.text(alphabet=string.ascii_letters + " .,!?:;'\"-", min_size=1, max_size=40)
spacing = st.sampled_from([" ", "  ", "\t", "\n", " \n "])


def _respace(text: str, gap: str) -> str:
    return gap + gap.join(text.split()) + gap


@given(title=words, text=words, gap=spacing)
def test_a_hash_key_ignores_whitespace_and_case(title: str, text: str, gap: str) -> None:
    plain = identify(None, link=None, title=title, text=text)
    noisy = identify(None, link=None, title=_respace(title.upper(), gap), text=_respace(text.swapcase(), gap))
    assert plain.key == noisy.key
    assert plain.fingerprint == noisy.fingerprint


@given(title=punctuated)
def test_punctuation_does_not_change_the_normalised_title(title: str) -> None:
    stripped = "".join(ch for ch in title if ch.isalnum() or ch.isspace())
    assert normalize_words(title) == normalize_words(stripped)


@given(
    host=st.from_regex(r"[a-z]{1,10}\.(com|org|example)", fullmatch=True),
    path=st.from_regex(r"(/[A-Za-z0-9_-]{1,8}){0,3}", fullmatch=True),
    params=st.lists(
        st.tuples(
            st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.from_regex(r"[A-Za-z0-9]{0,5}", fullmatch=True)
        ),
        max_size=3,
        unique_by=lambda kv: kv[0],
    ),
    tracking=st.lists(
        st.tuples(
            st.sampled_from(["utm_source", "utm_medium", "UTM_Campaign", "fbclid", "gclid"]), st.just("x1")
        ),
        max_size=3,
    ),
    fragment=st.from_regex(r"(#[a-z0-9]{0,6})?", fullmatch=True),
)
def test_a_link_key_is_stable_under_host_case_tracking_parameters_and_fragments(
    host: str, path: str, params: list[tuple[str, str]], tracking: list[tuple[str, str]], fragment: str
) -> None:
    params = [(k, v) for k, v in params if not k.startswith("utm")]
    clean = f"https://{host}{path}" + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")
    query = "&".join(f"{k}={v}" for k, v in [*tracking, *params])
    noisy = f"HTTPS://{host.upper()}{path}" + (f"?{query}" if query else "") + fragment
    assert (
        identify(None, link=noisy, title="t", text="").key
        == identify(None, link=clean, title="t", text="").key
    )
    assert fingerprint("Title", noisy) == fingerprint("title", clean)


@given(raw=st.text(min_size=1, max_size=30).filter(str.strip), gap=spacing)
def test_an_id_key_ignores_surrounding_whitespace(raw: str, gap: str) -> None:
    assert (
        identify(gap + raw + gap, link=None, title="", text="").key
        == identify(raw, link=None, title="", text="").key
    )
