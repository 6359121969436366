"""Log lines stay readable: a 128 KB message or a huge traceback is cut, with the size of the cut said."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from bot.cli.common import LOG_LINE_MAX, TRACEBACK_MAX, configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    configure_logging(verbose=False, stream=out)
    yield out
    root.handlers[:], root.level = saved[0], saved[1]


def test_a_128_kb_message_is_logged_as_one_short_line_saying_how_much_was_cut(stream: io.StringIO) -> None:
    body = "x" * 128_000
    logging.getLogger("slack_bolt").warning("failed to parse the request body: %s", body)
    [line] = stream.getvalue().splitlines()
    assert len(line) < LOG_LINE_MAX + 200
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", line)  # the timestamp is kept
    assert "WARNING slack_bolt: failed to parse the request body: xxx" in line
    assert (
        f"[{len('failed to parse the request body: ') + 128_000 - LOG_LINE_MAX} more characters cut]" in line
    )


def test_a_traceback_whose_error_quotes_a_huge_body_keeps_its_start_and_end(stream: io.StringIO) -> None:
    try:
        raise ValueError("cannot read " + "y" * 100_000 + " END")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    text = stream.getvalue()
    assert len(text) < TRACEBACK_MAX + 500
    assert "Traceback (most recent call last)" in text
    assert text.rstrip().endswith("END")
    assert "characters cut" in text


def test_an_ordinary_line_is_left_alone(stream: io.StringIO) -> None:
    logging.getLogger("bot").warning("feed %s: %s", "wire", "HTTP 404 Not Found")
    assert stream.getvalue().rstrip().endswith("WARNING bot: feed wire: HTTP 404 Not Found")
