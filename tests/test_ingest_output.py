"""What `newsbot ingest` prints for a large ingest: counts a user can read, not a line per story."""

from __future__ import annotations

import io

from rich.console import Console

from bot.cli.ingest_output import LIST_EACH_UP_TO, TAGS_NAMED, print_stored
from bot.core.ingest import Stored


def _printed(stored: list[Stored]) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    print_stored(stored, Console(file=out, width=500), Console(file=err, width=500))
    return out.getvalue(), err.getvalue()


def test_a_large_ingest_names_the_most_frequent_unknown_tags_and_counts_the_rest() -> None:
    tags = [f"tag-{n:02d}" for n in range(TAGS_NAMED + 3)]
    # tag-00 on every story, tag-01 on every second, ... so the order by frequency is known.
    stored = [
        Stored(
            f"f{i}.yaml", f"s{i}", "h", "created", tuple(t for n, t in enumerate(tags) if i % (n + 1) == 0)
        )
        for i in range(LIST_EACH_UP_TO + 1)
    ]
    out, err = _printed(stored)
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(
        f"{LIST_EACH_UP_TO + 1} stories have tags not in the taxonomy (kept): tag-00 (51), "
    )
    assert "tag-09 (6)" in err
    assert "tag-10" not in err
    assert err.rstrip().endswith(", and 3 more")


def test_a_small_ingest_lists_each_story_and_warns_of_its_unknown_tags_as_written() -> None:
    stored = [Stored("a.yaml", "a", "h", "unchanged"), Stored("b.yaml", "b", "h", "updated", ("[x]",))]
    out, err = _printed(stored)
    assert out.splitlines() == ["a.yaml: unchanged a", "b.yaml: replaced its earlier version b"]
    assert err.splitlines() == ["b.yaml: tags not in the taxonomy (kept): [x]"]  # markup-like text as written
