"""Page rate: how many saved web pages per second become summaries (extraction + article parser).

Run `python -m bench.pages` beside ../shared/pages. The first pass warms imports and caches and is
not counted; the rate is over the warm passes, one page after another on one core, as ingest runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bot.sources.page import PageError, extract_page, summarise_page

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "pages"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    pages = [((CORPUS / name).read_bytes(), case["url"]) for name, case in sorted(expected.items())]
    extractors: dict[str, int] = {}
    for html, url in pages:  # warm-up pass
        try:
            page = extract_page(html, url=url)
        except PageError:
            continue
        extractors[page.extractor] = extractors.get(page.extractor, 0) + 1
    per_page_ms: list[float] = []
    started = time.perf_counter()
    for _ in range(args.passes):
        for html, url in pages:
            t0 = time.perf_counter()
            summarise_page(extract_page(html, url=url))
            per_page_ms.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "pages": len(pages),
                "passes": args.passes,
                "pages_per_s": round(len(per_page_ms) / elapsed, 1),
                "page_ms_p50": round(statistics.median(per_page_ms), 1),
                "page_ms_max": round(max(per_page_ms), 1),
                "extractors": extractors,
            }
        )
    )


if __name__ == "__main__":
    main()
