"""The shared Discord limiter's grant latency: three processes draw at the bot's 50 requests/s together.

Each process takes a channel's bucket and a token of the global budget for every request, as a replica's
sender does, on channels drawn from 1,000. A grant's latency is the time those statements took, without
the waits the limiter imposed on purpose (`take` returns those), so the figure is what sharing costs.
`python -m bench.limiter` prints the figures as JSON.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from bench.postgres import NoPostgres, temporary_database
from bot.store.budgets import SqlChannelBuckets, SqlRateBudget
from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database

PROCESSES = 3
RATE = 50.0  # the bot's requests per second, shared by the processes
SECONDS = 8.0
CHANNELS = 1000
BUDGET = "discord:bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _replica(url: str, seed: int) -> list[float]:
    """Request at this process's share of the rate for SECONDS; return each grant's latency in ms."""
    engine = create_engine(url)
    budget = SqlRateBudget(engine, BUDGET, rate=RATE, burst=int(RATE))
    buckets = SqlChannelBuckets(engine, BUDGET)
    rng = random.Random(seed)
    latencies: list[float] = []

    async def one(channel: str) -> None:
        started = time.perf_counter()
        waited = await buckets.take(channel)
        waited += await budget.take()
        latencies.append((time.perf_counter() - started - waited) * 1000)

    try:
        await budget.take()  # connect and create the row before timing
        interval = PROCESSES / RATE
        tasks = []
        end = time.perf_counter() + SECONDS
        while time.perf_counter() < end:
            tasks.append(asyncio.create_task(one(str(rng.randrange(CHANNELS)))))
            await asyncio.sleep(interval)
        await asyncio.gather(*tasks)
    finally:
        await engine.dispose()
    return latencies


async def measure() -> dict[str, float]:
    """Run PROCESSES replicas against a fresh database; return the grant latency figures."""
    try:
        async with temporary_database() as url:
            await upgrade_database(url)
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.limiter", url, str(n), stdout=asyncio.subprocess.PIPE
                )
                for n in range(PROCESSES)
            ]
            outputs = [await p.communicate() for p in procs]
    except NoPostgres as error:
        print(f"limiter figures skipped: {error}", file=sys.stderr)
        return {}
    latencies = [v for out, _ in outputs for v in json.loads(out)]
    return {
        "limiter_grants": float(len(latencies)),
        "limiter_grant_p50_ms": round(percentile(latencies, 50), 2),
        "limiter_grant_p99_ms": round(percentile(latencies, 99), 2),
    }


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(asyncio.run(_replica(sys.argv[1], int(sys.argv[2])))))
    else:
        print(json.dumps(asyncio.run(measure())))
