"""Real OS processes: two bots on one PostgreSQL post every slot exactly once; SQLite refuses a second bot."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.adapters.discord.sender import nonce_for
from bot.core.ports import ChannelKey
from bot.delivery.cron import ApsCronRules
from bot.store.channels import SqlChannelStore
from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database
from bot.store.outbox import SqlOutbox
from tests.fakes.discord import TOKEN, FakeDiscord
from tests.fakes.process import ROOT, clean_env, start_module, stop_process

RULES = ApsCronRules()
FAKE_START = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the run crosses the 2026 spring DST change in Europe
SPEED = 600.0  # one real second is ten fake minutes
FAKE_HOURS = 2
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"]
CRONS = ["*/10 * * * *", "*/15 * * * *", "*/20 * * * *", "*/30 * * * *", "5,35 * * * *"]
DELIVERY = {
    "tick_seconds": 0.1,  # one fake minute
    "poll_seconds": 0.05,
    "lease_seconds": 1.5 * SPEED,  # 1.5 real seconds: a killed process's rows are taken over quickly
    "serve_http": False,
    "concurrency": 16,
}


def _channels() -> list[tuple[ChannelKey, str, str]]:
    out = []
    for n in range(25):
        key = ChannelKey("discord", "1200000000000000001", f"13000000000000{n:05d}")
        out.append((key, CRONS[n % len(CRONS)], ZONES[n % len(ZONES)]))
    return out


def _expected_slots(cron: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    slots, slot = [], RULES.next_fire(cron, tz, start)
    while slot <= end:
        slots.append(slot)
        slot = RULES.next_fire(cron, tz, slot)
    return slots


async def _spawn(env: dict[str, str]) -> asyncio.subprocess.Process:
    proc = await start_module("tests.delivery.engine_proc", env=env)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    if line.strip() != b"ready":
        err = await proc.stderr.read() if proc.stderr else b""
        raise AssertionError(f"the bot process did not start: {line!r} {err.decode()[-2000:]}")
    return proc


def _env(database_url: str, api_base: str, clock: str, tmp: Path) -> dict[str, str]:
    env = clean_env(
        NEWSBOT_DATABASE_URL=database_url,
        NEWSBOT_DISCORD__TOKEN=TOKEN,
        NEWSBOT_DISCORD__API_BASE=api_base,
        NEWSBOT_DIGEST__POST_WHEN_EMPTY="true",
        NEWSBOT_CONFIG=str(tmp / "empty.toml"),
        NEWSBOT_TEST_DELIVERY=json.dumps(DELIVERY),
        NEWSBOT_TEST_CLOCK=clock,
        PYTHONPATH=str(ROOT),
    )
    (tmp / "empty.toml").write_text("", encoding="utf-8")
    return env


async def _run_two_bots(pg_url: str, tmp: Path, *, kill_one: bool) -> None:
    await upgrade_database(pg_url)
    engine = create_engine(pg_url)
    fake_end = FAKE_START + timedelta(hours=FAKE_HOURS)
    try:
        channels = SqlChannelStore(engine)
        for key, cron, tz in _channels():
            await channels.set_schedule(
                key,
                cron=cron,
                timezone=tz,
                user="u",
                now=FAKE_START,
                next_fire_at=RULES.next_fire(cron, tz, FAKE_START),
            )
        async with FakeDiscord(global_limit=None) as fake:
            epoch_file = tmp / "epoch"
            env = _env(pg_url, fake.api_base, f"{FAKE_START.isoformat()}@{epoch_file}@{SPEED}", tmp)
            procs = list(await asyncio.gather(_spawn(env), _spawn(env)))
            # Time starts once both are up, so neither misses a slot while the other is still importing.
            epoch_file.write_text(str(time.time()), encoding="utf-8")
            try:
                if kill_one:
                    await asyncio.sleep(FAKE_HOURS * 3600 / SPEED / 2)
                    procs[0].kill()  # SIGKILL: no cleanup, its leases simply run out
                    await procs[0].wait()
                outbox = SqlOutbox(engine)
                expected = {
                    key.channel: _expected_slots(cron, tz, FAKE_START, fake_end)
                    for key, cron, tz in _channels()
                }
                total = sum(len(v) for v in expected.values())
                deadline = time.monotonic() + FAKE_HOURS * 3600 / SPEED + 15
                while time.monotonic() < deadline:
                    counts = await outbox.counts()
                    if counts.get("sent", 0) >= total:
                        done = await outbox.find(status="sent", limit=10_000)
                        if sum(1 for r in done if r.slot_at is not None and r.slot_at <= fake_end) == total:
                            break
                    await asyncio.sleep(0.2)
            finally:
                for proc in procs:
                    await stop_process(proc)
            # The clock ran on past fake_end while the test waited; later slots are not part of the check.
            rows = [
                r for r in await outbox.find(limit=10_000) if r.slot_at is not None and r.slot_at <= fake_end
            ]
            assert {r.status for r in rows} == {"sent"}, [
                (r.id, r.status, r.last_error) for r in rows if r.status != "sent"
            ]
            all_nonces = {nonce_for(f"{r.id}:0") for r in await outbox.find(limit=10_000)}
            for key, cron, tz in _channels():
                mine = [r for r in rows if r.key == key]
                slots = sorted(r.slot_at for r in mine if r.slot_at is not None)
                assert slots == expected[key.channel], f"{key.channel} {cron} {tz}: gaps or extras"
                nonces = {nonce_for(f"{r.id}:0") for r in mine}
                # What the channel shows: every message in it belongs to one outbox row (none is stray),
                # and those of the checked slots are one per slot.
                everything = fake.channel_messages.get(key.channel, [])
                assert {m["nonce"] for m in everything} <= all_nonces, f"{key.channel}: a stray message"
                messages = [m for m in everything if m["nonce"] in nonces]
                assert len(messages) == len(expected[key.channel]), f"{key.channel}: duplicates or gaps"
                assert len({m["nonce"] for m in everything}) == len(everything)
                assert sorted(m["id"] for m in messages) == sorted(r.message_ids[0] for r in mine)
                assert all("Nothing new" in json.dumps(m["embeds"]) for m in messages), messages[0]
                # What was sent: raw POSTs, one nonce per slot. A POST repeats a nonce only when the killed
                # process posted and died before recording it; Discord (and the fake) then answer with
                # the first message, which the count of created messages above confirms.
                posted = fake.requests_to("POST", rf"/channels/{key.channel}/messages$")
                posted = [p for p in posted if p.json["nonce"] in nonces]
                assert {p.json["nonce"] for p in posted} == nonces
                assert len(posted) <= len(nonces) + 1, (
                    f"{key.channel}: {len(posted)} POSTs for {len(nonces)} slots"
                )
    finally:
        await engine.dispose()


async def test_two_processes_one_killed_midway_post_every_slot_exactly_once(
    pg_url: str, tmp_path: Path
) -> None:
    # One run covers both claims (the two bots share the work; the survivor takes over the killed one's
    # leases): two separate runs of this slow test checked nothing the other did not.
    await _run_two_bots(pg_url, tmp_path, kill_one=True)


def test_the_scaled_clock_waits_for_its_epoch_then_runs_faster(tmp_path: Path) -> None:
    from tests.delivery.engine_proc import scaled_clock

    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = scaled_clock(f"{start.isoformat()}@{tmp_path / 'epoch'}@60")
    assert clock() == start
    (tmp_path / "epoch").write_text(str(time.time() - 1), encoding="utf-8")
    assert clock() >= start + timedelta(minutes=1)
