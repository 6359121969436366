"""A newsbot delivery process for the multi-process tests: `python -m tests.delivery.engine_proc`.

It runs what `newsbot run` runs for delivery (the SQLite lock, open_app, build_delivery) with two test
knobs from the environment: NEWSBOT_TEST_CLOCK="FAKE_START@EPOCH@SPEED" makes the clock run SPEED times
faster than real time from FAKE_START, counting from EPOCH (Unix time, or a file the test writes it to once
every process is up; until then the clock stands at FAKE_START), so all processes share one fake time;
NEWSBOT_TEST_DELIVERY holds DeliverySettings as JSON.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from bot.app import build_delivery, open_app
from bot.delivery.lock import AlreadyRunning, hold_database
from bot.settings import DeliverySettings, load_settings


def scaled_clock(spec: str) -> Callable[[], datetime]:
    """Return a clock running SPEED× from FAKE_START, counting from EPOCH (a number, or a file holding one)."""
    start_text, epoch_text, speed_text = spec.split("@")
    start, speed = datetime.fromisoformat(start_text), float(speed_text)
    epoch: list[float] = []

    def origin() -> float | None:
        if not epoch:
            try:
                epoch.append(float(epoch_text))
            except ValueError:
                try:
                    epoch.append(float(Path(epoch_text).read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    return None
        return epoch[0]

    def now() -> datetime:
        zero = origin()
        if zero is None:
            return start
        return start + timedelta(seconds=max(0.0, time.time() - zero) * speed)

    return now


async def main() -> int:
    settings = load_settings()
    config = DeliverySettings.model_validate_json(os.environ.get("NEWSBOT_TEST_DELIVERY", "{}"))
    settings = settings.model_copy(update={"delivery": config})
    spec = os.environ.get("NEWSBOT_TEST_CLOCK")
    try:
        lock = hold_database(settings.database_url)
    except AlreadyRunning as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 3
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        clock = scaled_clock(spec) if spec else None
        async with open_app(settings, **({"clock": clock} if clock else {})) as app:
            engine = build_delivery(app, clock=clock)
            print("ready", flush=True)
            await engine.run(stop)
    finally:
        if lock is not None:
            lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
