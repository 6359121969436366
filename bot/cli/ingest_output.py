"""How `newsbot ingest` reports what it stored: each story when there are few, totals when there are many.

A folder of 100,000 stories printed 100,000 "stored" lines, and a tag warning per story beside them,
which buried the few lines a user acts on: the files that failed. Past `LIST_EACH_UP_TO` stories the
report keeps those and says the rest in counts, each unknown tag named once with how often it came.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from bot.core.ingest import Stored

LIST_EACH_UP_TO = 50  # stories listed one per line; a screenful
TAGS_NAMED = 10  # unknown tags named in a large ingest's one warning, most frequent first

_OUTCOME = {
    "created": "[green]stored[/]",
    "updated": "[yellow]replaced its earlier version[/]",
    "unchanged": "[dim]unchanged[/]",
}


def print_stored(stored: Sequence[Stored], out: Console, err: Console) -> None:
    """Print what storing did: a line per story (and its unknown tags) up to `LIST_EACH_UP_TO`, else one
    warning that counts the unknown tags."""
    if len(stored) <= LIST_EACH_UP_TO:
        for s in stored:
            out.print(f"{escape(s.where)}: {_OUTCOME[s.outcome]} {escape(s.summary_id)}", highlight=False)
            if s.unknown_tags:
                err.print(
                    f"{escape(s.where)}: tags not in the taxonomy (kept): {escape(', '.join(s.unknown_tags))}",
                    style="yellow",
                    highlight=False,
                )
        return
    tags = Counter(tag for s in stored for tag in s.unknown_tags)
    if not tags:
        return
    stories = sum(1 for s in stored if s.unknown_tags)
    named = ", ".join(f"{tag} ({n})" for tag, n in tags.most_common(TAGS_NAMED))
    more = f", and {len(tags) - TAGS_NAMED} more" if len(tags) > TAGS_NAMED else ""
    err.print(
        f"{stories} {'story has' if stories == 1 else 'stories have'} tags not in the taxonomy (kept): "
        f"{escape(named)}{more}",
        style="yellow",
        highlight=False,
    )
