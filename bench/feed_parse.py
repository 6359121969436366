"""`python -m bench.feed_parse`: time parse_feed on the real-world feed corpus (../shared/feeds).

The issue's `feed_parse_ms_p50` figure: each of the corpus feeds is parsed `rounds` times in the
calling thread (parse_feed's worker thread would only add scheduling noise), its best round kept,
and the median taken over feeds. Figures, not assertions: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bot.sources.feed import parse_feed_sync

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "feeds"


def corpus_files(corpus: Path = CORPUS) -> list[Path]:
    """Return the corpus's feed bodies (the .xml feeds and the JSON Feed sample)."""
    return sorted([*corpus.glob("*.xml"), corpus / "json_feed_sample.json"])


def measure(corpus: Path = CORPUS, rounds: int = 3) -> dict[str, float]:
    """Return the median and slowest per-feed parse time in milliseconds."""
    per_feed: dict[str, float] = {}
    for path in corpus_files(corpus):
        body = path.read_bytes()
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            parse_feed_sync(body, url=f"https://feeds.example/{path.name}")
            best = min(best, (time.perf_counter() - started) * 1000)
        per_feed[path.name] = best
    return {
        "feed_parse_ms_p50": round(statistics.median(per_feed.values()), 2),
        "feed_parse_ms_max": round(max(per_feed.values()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (args.corpus / "README.md").is_file():
        raise SystemExit(f"{args.corpus}: no feed corpus there (expected ../shared/feeds)")
    print(json.dumps(measure(args.corpus, args.rounds)))


if __name__ == "__main__":
    main()
