"""Entry identity: which feed entries are the same story, poll after poll.

Feeds rewrite dates, reorder items and sometimes change every GUID at once; readers that key on
dates miss items and readers that key on nothing post twice. Following the notes
(shared/notes/sources-threads-scale.md §1.6–1.7, after reader and MonitoRSS), an entry's key is its
own id when it has one, else its normalised link, else a hash of its words; a second fingerprint
(title + link) lets the store recognise a GUID rewrite as the same story.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar
from urllib.parse import unquote_plus, urlsplit, urlunsplit

KeyKind = Literal["id", "link", "hash"]
# "id+link" is for feeds whose ids repeat (a CMS that reuses GUIDs): notes §1.7 step 3 keys such a
# feed on id and link together once it is known to be broken, so its distinct stories stay distinct.
IdScheme = Literal["id", "id+link"]

# Query parameters that only say where a click came from; two links differing in these are one page.
# utm_* is Google Analytics' campaign set, fbclid Facebook's and gclid Google Ads' click ids.
TRACKING_PARAM_PREFIXES = ("utm_",)
TRACKING_PARAMS = frozenset({"fbclid", "gclid"})
HASHED_TEXT_CHARS = 500  # notes §1.7: enough words to tell entries apart, few enough to ignore a tail edit

_SPACE = re.compile(r"\s+")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class EntryIdentity:
    """How one entry is recognised: `key` (sha256 of `raw`) and the rewrite-proof `fingerprint`."""

    key: str
    key_kind: KeyKind
    raw: str
    fingerprint: str


def normalize_url(url: str) -> str:
    """Return `url` with scheme and host lower-cased, the fragment and click-tracking parameters dropped.

    Path, the other query parameters and their order stay as given: servers may treat them as
    case- or order-sensitive, and two different pages must never share a key.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.scheme or not parts.netloc:
        return text.split("#", 1)[0]
    # Parameters are filtered as written, not re-encoded, so "?a" and "%2F" reach the key unchanged.
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not _is_tracking(unquote_plus(pair.split("=", 1)[0]))
    )
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo}@{host.lower()}"
    else:
        netloc = netloc.lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, query, ""))


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PARAM_PREFIXES)


def normalize_words(text: str) -> str:
    """Return `text` case-folded, without punctuation, its whitespace collapsed to single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in folded if not unicodedata.category(ch).startswith("P"))
    return _SPACE.sub(" ", kept).strip()


def sha256_hex(text: str) -> str:
    """Return the hex sha256 of `text` as UTF-8."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(title: str, link: str | None) -> str:
    """Return sha256(normalised title + NUL + normalised link): equal across GUID and date rewrites."""
    return sha256_hex(normalize_words(title) + "\x00" + normalize_url(link or ""))


def identify(
    raw_id: object, *, link: str | None, title: str, text: str, scheme: IdScheme = "id"
) -> EntryIdentity:
    """Return the identity of an entry from its own id, else its link, else its title and text."""
    kind: KeyKind
    raw = "" if raw_id is None else str(raw_id).strip()
    if raw:
        kind = "id"
        if scheme == "id+link" and link and link.strip():
            raw = f"{raw}\x00{normalize_url(link)}"
    elif link and link.strip():
        kind, raw = "link", normalize_url(link)
    else:
        kind = "hash"
        raw = sha256_hex(normalize_words(title) + "\x00" + normalize_words(text)[:HASHED_TEXT_CHARS])
    return EntryIdentity(key=sha256_hex(raw), key_kind=kind, raw=raw, fingerprint=fingerprint(title, link))


def drop_duplicate_keys(items: Sequence[_T], key: Callable[[_T], str]) -> tuple[list[_T], int]:
    """Keep the first item of each key, in order; return the kept items and how many were dropped.

    The count lets a caller notice a feed whose ids are broken (notes §1.7: over 20% shared keys).
    """
    seen: set[str] = set()
    kept: list[_T] = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    return kept, len(items) - len(kept)
