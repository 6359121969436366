"""Where sentences end in a summary's text, so a card can show the opening ones verbatim.

A compact card shows a story's lede cut to a few sentences and each discussion area's first sentence
(issue 9). Both must be the summary's own words and never stop mid-sentence unmarked, so this module
only finds *offsets*: whatever is shown is a slice of the original text.

Hand-written rather than pysbd: a card needs the first few boundaries of short texts, and a boundary
missed (an abbreviation read as no boundary) only makes the cut earlier, never wrong. pysbd pulls in
no data but splits whole texts with about 100 rules and rewrites whitespace in what it returns, which
would make "verbatim" a comparison modulo its changes.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? or … (perhaps inside closing quotes or brackets) before white space and
# something that can open a sentence: a capital, a digit, an opening quote or bracket.
_END = re.compile(r"[.!?…][\"'”’)\]»]*(?=\s+[\"“‘(«\[]?[A-Z0-9À-Ý])")
# The word before a full stop that does not end a sentence: titles, "e.g.", months, "No. 5", and
# dotted initials such as "U.S." or "J." (a lone capital before the stop).
_ABBREVIATIONS = frozenset(
    # One string to read as a list of words; a list literal would take a line per word.
    (  # noqa: SIM905
        "mr mrs ms dr prof sr jr st mt no nos vs etc e.g i.e al fig figs gen gov sen rep rev col lt "
        "sgt capt cmdr adm inc ltd co corp dept est approx jan feb mar apr jun jul aug sep sept oct nov "
        "dec art sec ch para pp vol ed eds u.s u.k u.n e.u"
    ).split()
)
_WORD_BEFORE = re.compile(r"(\S+)$")
_INITIAL = re.compile(r"^(?:[A-Za-z]\.)*[A-Z]$")


# After a dotted acronym ("the U.S. During the talks") these words start a new sentence; any other
# capital is read as a name the acronym qualifies ("U.S. Navy").
_OPENERS = frozenset(
    (  # noqa: SIM905
        "a an the this these that those it its in on at during after before but however while when "
        "we they he she i there both"
    ).split()
)
_NEXT_WORD = re.compile(r"\s+[\"“‘(«\[]?(\w+)")


def sentence_ends(text: str) -> list[int]:
    """Return the offsets just past each sentence end in `text`, in order (the text's end excluded)."""
    ends: list[int] = []
    for match in _END.finditer(text):
        if match.group(0)[0] == "." and _abbreviation(text[: match.start()]):
            after = _NEXT_WORD.match(text, match.end())
            acronym = "." in text[: match.start()].rsplit(None, 1)[-1]
            if not (acronym and after and after.group(1).lower() in _OPENERS):
                continue
        ends.append(match.end())
    return ends


def _abbreviation(before: str) -> bool:
    word = _WORD_BEFORE.search(before)
    if word is None:
        return False
    token = word.group(1).lstrip("\"'“‘(«[")
    return token.lower() in _ABBREVIATIONS or bool(_INITIAL.match(token))


def opening_sentences(text: str, limit: int) -> tuple[str, bool]:
    """Return the longest run of whole opening sentences of `text` within `limit` characters.

    The second value says whether anything was left out. When even the first sentence is longer than
    `limit`, it is cut between words instead (the caller marks the cut); the text is never cut inside a
    word. Leading and trailing white space is not counted.
    """
    stripped = text.strip()
    if len(stripped) <= limit:
        return stripped, False
    fitting = [end for end in sentence_ends(stripped) if end <= limit]
    if fitting:
        return stripped[: fitting[-1]], True
    return between_words(stripped, limit), True


def first_sentence(text: str, limit: int) -> tuple[str, bool]:
    """Return the first sentence of `text` (cut between words past `limit`) and whether it was cut short.

    Only a cut inside the sentence counts: later sentences left out are not a cut of the one shown.
    """
    stripped = text.strip()
    ends = sentence_ends(stripped)
    first = stripped[: ends[0]] if ends else stripped
    if len(first) <= limit:
        return first, False
    return between_words(first, limit), True


def between_words(text: str, limit: int) -> str:
    """Return the longest prefix of `text` within `limit` that ends before a space (a word kept whole).

    A first word longer than `limit` is cut at `limit`: there is no better place in it.
    """
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    return (text[:space] if space > 0 else text[:limit]).rstrip()
