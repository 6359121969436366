"""Split long text into chunks that fit a platform limit, at the most natural boundary available.

Hand-written because no library does all three things the renderers need: `textwrap` reflows
whitespace and knows nothing of sentences, and sentence splitters do not take a length budget.
Here a chunk ends at a paragraph break when one is close enough to the limit, else at a line
break, else after a sentence, else between words. Text is only cut inside a token (a word, a URL)
when that single token is longer than the limit; such a cut is marked with `HARD_CUT_MARK`.
"""

from __future__ import annotations

import re
import unicodedata

HARD_CUT_MARK = "…"
MIN_LIMIT = 2  # room for at least one character and the hard-cut mark
# A better boundary (paragraph, line, sentence) wins over a plain word break only while the chunk
# it closes is at least this full; otherwise a chunk could end after a few words.
MIN_FILL = 0.5

_SPACE = re.compile(r"\s+")
_SENTENCE_END = frozenset(".!?…。！？")
_CLOSERS = frozenset("\"'”’»)]}\\")
_ZWJ = "\u200d"
# Characters that belong to the grapheme before them: a cut just before one would tear an emoji
# or an accented letter apart.
_JOINERS = frozenset({_ZWJ, "\ufe0e", "\ufe0f"})
_MARKS = frozenset({"Mn", "Mc", "Me"})  # accents, variation selectors, the keycap's enclosing mark
_GRAPHEME_BACKOFF = 32  # longer than any emoji sequence in use (a family with skin tones is ~11)

_PARAGRAPH, _LINE, _SENTENCE, _WORD = 3, 2, 1, 0


def split_text(text: str, limit: int, *, keep: re.Pattern[str] | None = None) -> list[str]:
    """Return `text` as chunks of at most `limit` characters, split at the best boundary in reach.

    Leading and trailing whitespace is dropped, and so is the whitespace at each split; joining the
    chunks with a space (or a line break) gives back every word. `keep` matches short sequences a
    hard cut must not separate, such as a markup escape (backslash and character) or an entity.
    """
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")
    start, end = _strip_bounds(text)
    if end - start <= limit:
        return [text[start:end]] if end > start else []
    chunks: list[str] = []
    pos = start
    while end - pos > limit:
        cut = _boundary(text, pos, limit)
        if cut is None:
            cut = _hard_cut(text, pos, pos + limit - len(HARD_CUT_MARK), keep)
            chunks.append(text[pos:cut] + HARD_CUT_MARK)
            pos = cut
            continue
        chunks.append(text[pos:cut])
        gap = _SPACE.match(text, cut)
        pos = gap.end() if gap else cut
    chunks.append(text[pos:end])
    return chunks


def clip(text: str, limit: int, *, keep: re.Pattern[str] | None = None) -> tuple[str, bool]:
    """Return `text` shortened to `limit` characters at a word boundary with "…", and whether it was cut."""
    text = text.strip()
    if len(text) <= limit:
        return text, False
    first = split_text(text, limit - len(HARD_CUT_MARK), keep=keep)[0]
    if text.startswith(first):  # a clean break; a hard cut already carries its mark
        first += HARD_CUT_MARK
    return first, True


def _strip_bounds(text: str) -> tuple[int, int]:
    start, end = 0, len(text)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _boundary(text: str, pos: int, limit: int) -> int | None:
    """Return where the chunk starting at `pos` should end, or None when no whitespace is in reach."""
    best = [-1, -1, -1, -1]  # last cut position seen for each boundary rank
    for gap in _SPACE.finditer(text, pos, pos + limit + 1):
        cut = gap.start()
        newlines = gap.group().count("\n")
        if newlines >= 2:
            rank = _PARAGRAPH
        elif newlines == 1:
            rank = _LINE
        elif _ends_sentence(text, pos, cut):
            rank = _SENTENCE
        else:
            rank = _WORD
        best[rank] = cut
    furthest = max(best)
    if furthest <= pos:
        return None
    enough = pos + limit * MIN_FILL
    for rank in (_PARAGRAPH, _LINE, _SENTENCE):
        if best[rank] >= enough:
            return best[rank]
    return furthest


def _ends_sentence(text: str, pos: int, cut: int) -> bool:
    i = cut - 1
    # Step back over closing quotes and brackets (and a markup escape before them): 'said "no."'
    while i > pos and text[i] in _CLOSERS and cut - i <= 3:
        i -= 1
    return text[i] in _SENTENCE_END


def _hard_cut(text: str, pos: int, cut: int, keep: re.Pattern[str] | None) -> int:
    """Move a forced cut off the middle of a kept sequence or a grapheme, never back to `pos`."""
    if keep is not None:
        token_end = _SPACE.search(text, cut)
        for atom in keep.finditer(text, pos, token_end.start() if token_end else len(text)):
            if atom.start() >= cut:
                break
            if atom.start() < cut < atom.end() and atom.start() > pos:
                cut = atom.start()
                break
    for _ in range(_GRAPHEME_BACKOFF):
        if cut - 1 <= pos or not _inside_grapheme(text, cut):
            break
        cut -= 1
    return cut


def _inside_grapheme(text: str, cut: int) -> bool:
    after = text[cut]
    code = ord(after)
    if (
        after in _JOINERS
        or text[cut - 1] == _ZWJ
        or unicodedata.category(after) in _MARKS
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters of subdivision flags (England, Scotland)
    ):
        return True
    if _is_regional(after) and _is_regional(text[cut - 1]):
        # A flag is a pair of regional indicators: a cut after an odd number of them splits one.
        run = 0
        while cut - run - 1 >= 0 and _is_regional(text[cut - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF
