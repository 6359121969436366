"""Running out of file descriptors is said once a minute, not once per failed accept."""

from __future__ import annotations

import errno
import logging
from typing import Any

import pytest

from bot.runner import ResourceErrors


class Loop:
    def __init__(self) -> None:
        self.passed_on: list[dict[str, Any]] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.passed_on.append(context)


def test_ten_thousand_failed_accepts_in_a_minute_are_two_lines(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    handler = ResourceErrors(clock=lambda: now[0])
    loop = Loop()
    emfile = OSError(errno.EMFILE, "Too many open files")
    with caplog.at_level(logging.ERROR, logger="bot.runner"):
        for _ in range(10_000):
            handler(loop, {"message": "socket.accept() out of system resource", "exception": emfile})  # type: ignore[arg-type]
            now[0] += 0.005
        handler(loop, {"exception": emfile})  # type: ignore[arg-type]  # 50 s later: still quiet
        now[0] += 11
        handler(loop, {"exception": emfile})  # type: ignore[arg-type]  # past a minute: one more line
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "EMFILE" in lines[0]
    assert "ulimit -n" in lines[0]
    assert "10000 more since the last line" in lines[1]
    assert loop.passed_on == []


def test_other_errors_still_reach_the_default_handler() -> None:
    handler = ResourceErrors()
    loop = Loop()
    context = {"message": "boom", "exception": ValueError("not a resource")}
    handler(loop, context)  # type: ignore[arg-type]
    assert loop.passed_on == [context]
