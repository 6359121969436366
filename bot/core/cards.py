"""Compact story cards for the channel, and each story in full for the thread under them.

A four-story digest used to be three Discord messages of about 15,000 characters (issue 9). A card
keeps what a reader scans over coffee: the linked headline, source · date, at most three topics, the
lede cut after whole sentences, and one line per discussion area (its title and first sentence).
Everything shown is a slice of the summary's own text; a cut inside a sentence ends with CUT_MARK,
and the headline above it links to the story. The full text goes to the thread (`story_replies`).

Cards are neutral replies, so every platform's renderer draws them with its own escaping, splitting
and limits, exactly as it draws any other reply.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.digest import Digest, DigestEntry, digest_intro, entry_meta, story_item
from bot.core.reply import Item, Part, Reply
from bot.core.sentences import first_sentence, opening_sentences

# newsbot's own choices for a card (issue 9): a lede of at most LEDE_MAX characters including the
# mark, and an area's first sentence of at most AREA_SENTENCE_MAX before it is cut between words.
LEDE_MAX = 280
AREA_SENTENCE_MAX = 240
TOPICS_MAX = 3
CUT_MARK = " …"
# Discord's thread and forum post names are 1-100 characters (discord-api-docs, resources/channel:
# "Start Thread from Message" and "Start Thread in Forum or Media Channel", `name`).
THREAD_NAME_MAX = 100
THREAD_HINT = "The full stories follow in the thread."
# English month abbreviations, whatever the process locale (strftime's %b follows it).
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def card_reply(digest: Digest, labels: dict[str, str] | None = None, *, threaded: bool = False) -> Reply:
    """Return the digest as compact cards; `threaded` says the full stories follow in a thread."""
    label_map = labels or {}
    intro = digest_intro(digest)
    if threaded and digest.entries:
        intro = f"{intro}\n{THREAD_HINT}"
    return Reply(
        title=digest.title, text=intro, items=[card_item(entry, label_map) for entry in digest.entries]
    )


def card_item(entry: DigestEntry, labels: dict[str, str]) -> Item:
    """Return one story as a card: headline, meta line, the cut lede and one line per area."""
    lede, cut = opening_sentences(entry.lede or "", LEDE_MAX - len(CUT_MARK))
    lines = []
    for section in entry.sections:
        sentence, cut_short = first_sentence(section.text, AREA_SENTENCE_MAX - len(CUT_MARK))
        # An area's line is one line: the line breaks inside its sentence become spaces.
        shown = " ".join(sentence.split())
        if shown or section.title.strip():
            lines.append(Part(title=section.title, text=shown + (CUT_MARK if cut_short else "")))
    return Item(
        title=entry.headline,
        url=entry.url,
        meta=entry_meta(entry, labels, topics_max=TOPICS_MAX),
        text=lede + (CUT_MARK if cut and lede else ""),
        lines=lines,
    )


def story_replies(digest: Digest, labels: dict[str, str] | None = None) -> list[Reply]:
    """Return each story of the digest in full, one untitled reply per story, for the thread."""
    label_map = labels or {}
    return [Reply(title="", items=[story_item(entry, label_map)]) for entry in digest.entries]


def thread_name(title: str, day: datetime) -> str:
    """Return a thread's name such as "News digest · 1 Dec", within THREAD_NAME_MAX characters."""
    when = f"{day.day} {_MONTHS[day.month - 1]}"
    name = " ".join(title.split()) or "News"
    room = THREAD_NAME_MAX - len(when) - len(" · ")
    if len(name) > room:
        name = name[: room - 1].rstrip() + "…"
    return f"{name} · {when}"
