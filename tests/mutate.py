"""`make mutate`: plant mutmut's mutants in the modules where a bug costs a user most, and print the score.

A test suite that passes proves little unless it fails when the code is wrong. mutmut changes one thing at
a time (a comparison, a constant, a dropped argument), runs the tests that reach the changed function, and
reports the mutants no test noticed. Each run works in a scratch copy under var/mutate/, because mutmut reads
its settings from ./pyproject.toml and writes ./mutants/: the copy gets a [tool.mutmut] section naming just
the chosen modules and the test files that guard them, so a subset fits CI's time on two cores.

    python -m tests.mutate                                  # every module below
    python -m tests.mutate bot/adapters/slack/sender.py     # a subset (make mutate MODULES="...")
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "var" / "mutate"

# Each module with the tests that guard it; mutmut runs, per mutant, only those that reach its function.
GUARDED: dict[str, list[str]] = {
    # Node ids, not whole files, where only a few tests of a slow file read the outbox back (status page, CLI).
    "bot/store/outbox.py": ["tests/store/test_outbox_rows.py", "tests/store/test_lease_race.py", "tests/delivery/test_outbox.py", "tests/delivery/test_threads.py",
                            "tests/preview/test_pages.py::test_the_status_page_lists_channels_schedules_and_the_dead_delivery",
                            "tests/preview/test_pages.py::test_a_retry_with_the_token_requeues_the_delivery_and_lifts_its_pause",
                            "tests/preview/test_pages.py::test_unknown_deliveries_and_pages_are_not_found",
                            "tests/delivery/test_watch_and_cli.py::test_deliveries_command_lists_the_outbox_and_retries_a_dead_one",
                            "tests/delivery/test_worker.py::test_an_alert_whose_story_was_deleted_before_it_went_out_is_dropped_without_pausing_the_channel"],
    "bot/delivery/worker.py": ["tests/delivery/test_worker.py", "tests/delivery/test_outbox.py", "tests/delivery/test_platforms.py", "tests/delivery/test_ratelimit.py", "tests/delivery/test_threads.py"],
    "bot/adapters/discord/sender.py": ["tests/adapters/discord/test_sender.py", "tests/adapters/discord/test_answers.py", "tests/delivery/test_platforms.py"],
    "bot/adapters/slack/sender.py": ["tests/adapters/slack/test_sender.py", "tests/delivery/test_platforms.py"],
    "bot/adapters/discord/render.py": ["tests/adapters/test_render_discord.py", "tests/adapters/test_render_platforms.py", "tests/adapters/test_render_cards.py"],
    "bot/adapters/slack/render.py": ["tests/adapters/test_render_slack.py", "tests/adapters/test_render_platforms.py", "tests/adapters/test_render_cards.py",
                                      "tests/adapters/slack/test_own_words.py"],
    "bot/api/server.py": ["tests/delivery/test_api.py"],
    "bot/adapters/slack/bot.py": ["tests/adapters/slack/test_bot.py"],
    "bot/delivery/schedules.py": ["tests/delivery/test_schedules.py", "tests/delivery/test_outbox.py"],
    "bot/store/channels.py": ["tests/store/test_channels.py", "tests/delivery/test_outbox.py"],
    "bot/delivery/cron.py": ["tests/delivery/test_schedules.py"],
}  # fmt: skip
KILLED = {"killed", "timeout", "caught by type check"}  # statuses that mean a test noticed the mutant
UNDECIDED = {"skipped", "not checked"}  # left out of the score
# Mutants judged equivalent (no user could tell them from the original), matched by module, function (mutmut's
# key: "x_name" or "xǁClassǁmethod") and a line of the mutant's diff, so renumbering after an edit elsewhere
# keeps them matched: "+line" is a line the mutant adds, "-line" one it removes; a leading-space line must
# match with its indentation (as `mutmut show` prints it), otherwise surrounding space is ignored. Only
# survivors are looked up. They are left out of the score and listed with their reason (see MUTATION.md).
_SLACK_BOT = "bot/adapters/slack/bot.py"
_DISCORD = "bot/adapters/discord/sender.py"
_DICT_ONLY = "Discord's parsed body is only read behind isinstance(data, dict): None and '' behave alike"
_HAS_ID = "Discord's create-message answer (2xx) always carries the message's id"
_CRON = "bot/delivery/cron.py"
_CRON_FIRE = "xǁApsCronRulesǁnext_fire"
_UNREACHABLE = (
    "no expression needs 10,000 wall-clock slots at or before `after`: the loop returns or raises first"
)
_SESSION_TIMEOUT = "start() hands the client a session whose own timeout (API_TIMEOUT) bounds every call"
_RETRIED_ELSEWHERE = (
    "users.info is a GET, which aiohttp itself retries on a dropped connection; Bolt's Socket Mode client "
    "reconnects by itself; a failed auth.test is only logged (both measured with a dropped connection)"
)
_SLACK_SENDER = "bot/adapters/slack/sender.py"
_SLACK_OK_IS_JSON = (
    "Slack answers an ok chat.postMessage with a JSON object carrying ts; slack_sdk passes a 200 that is no "
    "JSON object only for application/gzip (admin.analytics.getFile), never for chat.postMessage"
)
_API = "bot/api/server.py"
_POST = "xǁIngestApiǁpost_summaries"
_ONE_OUTCOME_EACH = "the service answers one outcome per summary it is given; strict= only guards that"
_YAML_BY_DEFAULT = "load_text reads YAML for every suffix that is not .json, .jsonl or an article's (.md, …)"
_CHANNELS = "bot/store/channels.py"
_STORE = "xǁSqlChannelStoreǁ"
_PK_ORDER = (
    "the lookup by channel walks the primary key (platform, workspace, channel, topic_id) on SQLite and "
    "PostgreSQL alike, so rows come in topic order already; ORDER BY only makes that a promise"
)
_REDACTED_AGAIN = "store_error passes the URL through redact_url, which hides the password again"
_DRENDER = "bot/adapters/discord/render.py"
_MESSAGES = "xǁ_Messagesǁ__init__"
_FIRST_OPEN = "the first open() always starts a message, which sets used to 0 before it is read"
_FALSY = "only read for its truth, and every later assignment sets a real value first"
_OUTBOX = "bot/store/outbox.py"
_ENQUEUE = "xǁAlertEnqueuerǁ__call__"
_FREEZE = "xǁSqlOutboxǁfreeze"
_FREEZE_DIGEST = "xǁSqlOutboxǁfreeze_digest"
_ASCII = "json.loads reads the bodies back the same whether non-ASCII characters were escaped or not"
_UNCHANGED = "an unchanged story's alert key is the one already queued: the outbox ignores the insert"
_STORED_ONE_EACH = "the archive answers one outcome per summary it stored; strict= only guards that"
_INSERT = "x__insert_ignoring_duplicates"
_ONE_UNIQUE = (
    "deliveries has one unique key besides its generated id, dedupe_key: ON CONFLICT without a target (or with "
    "the column's name in SQLite's case-blind spelling) ignores the same rows"
)
_OVERLAP = (
    "a row met twice is a duplicate the INSERT ignores: batches that overlap (or start at every row) store the "
    "same rows and count the same insertions, only with more statements"
)
_UPDATED_AT = "deliveries.updated_at is for an operator reading the table by hand: nothing in bot/ reads it"
_LEASE_UNTIL = (
    "lease_until is read only while a row is 'sending', and every lease sets it afresh; every write that takes a "
    "row out of 'sending' clears it, so the lease query's status check and this clearing guard the same thing twice"
)
_LEASE = "xǁSqlOutboxǁlease"
_ALIAS = "the alias's name is only the subquery's SQL text"
_WORKER = "bot/delivery/worker.py"
_RUN = "xǁWorkerǁrun"
_OUTAGE_NAME = "the outage log's name is operator output, not behaviour"
_NOT_COUNTED = "None is falsy like False: the retry is not counted as an attempt either way"
_SRENDER = "bot/adapters/slack/render.py"
_S_MESSAGES = "xǁ_Messagesǁ__init__"
EQUIVALENT: list[tuple[str, str, str, str]] = [  # (module, function, diff line, reason)
    ("bot/delivery/schedules.py", "x_plan_due", "+if start <= oldest:",
     "next_fire_at is always a slot; when it is exactly `oldest`, next_fire(oldest - 1 µs) returns that same slot"),
    (_CRON, _CRON_FIRE, "+nxt = trigger.get_next_fire_time(None, nxt.replace(microsecond=0) + _ONE_SECOND)",
     "5-field cron fires on whole minutes: searching from 1 µs or 1 s after a slot finds the same next slot"),
    (_CRON, _CRON_FIRE, "+nxt = trigger.get_next_fire_time(nxt, nxt.replace(microsecond=1) + _ONE_SECOND)",
     "CronTrigger starts at min(now, previous + 1 µs); `now` is at least a second later either way"),
    (_CRON, _CRON_FIRE, "+instant = nxt.replace(tzinfo=zone, fold=0).astimezone(None)",
     "the same instant in the host's zone instead of UTC; every caller compares instants or converts again"),
    (_CRON, _CRON_FIRE, "+instant = nxt.replace(tzinfo=zone, ).astimezone(UTC)",
     "CronTrigger's naive times already have fold=0"),
    (_CRON, _CRON_FIRE, "+if instant >= after:",
     "nxt is a later wall time than `after`'s own; two wall times share an instant only in a spring gap, "
     "and the gap time is the earlier one, so the instant is never equal to `after`"),
    (_CRON, _CRON_FIRE, '+    raise ValueError(None)', _UNREACHABLE),
    (_CRON, _CRON_FIRE, '+    raise ValueError("XXthe expression never firesXX")', _UNREACHABLE),
    (_CRON, _CRON_FIRE, '+    raise ValueError("THE EXPRESSION NEVER FIRES")', _UNREACHABLE),
    (_DISCORD, "x_classify", '+response.headers.get("X-RateLimit-Global", "XXXX").lower() == "true"',
     "a missing X-RateLimit-Global reads as 'not global' with either default"),
    (_DISCORD, "xǁDiscordSenderǁ_remember",
     '+if "XXX-RateLimit-BucketXX" not in h and "X-RateLimit-Remaining" not in h:',
     "a bucket seen without X-RateLimit-Remaining is never used: the worker paces only from remaining and reset"),
    (_DISCORD, "x_classify", '+data: Any = ""', _DICT_ONLY),
    (_DISCORD, "x_classify", '+data = ""', _DICT_ONLY),
    (_DISCORD, "x_classify", '+message_id = str(data.get("id", None)) if isinstance(data, dict) else ""', _HAS_ID),
    (_DISCORD, "x_classify", '+message_id = str(data.get("id", )) if isinstance(data, dict) else ""', _HAS_ID),
    (_DISCORD, "x_classify", '+message_id = str(data.get("id", "XXXX")) if isinstance(data, dict) else ""', _HAS_ID),
    (_SLACK_BOT, "xǁSlackBotǁ__init__", '-name="newsbot",', "Bolt uses the app name in its log lines only"),
    (_SLACK_BOT, "xǁSlackBotǁ__init__", '-logger=logging.getLogger("bot.adapters.slack.bolt"),',
     "which logger Bolt writes to: operator output, not behaviour"),
    (_SLACK_BOT, "xǁSlackBotǁ__init__", "+settings.bot_token, settings.api_base, timeout=None, retries=True",
     _SESSION_TIMEOUT),
    (_SLACK_BOT, "xǁSlackBotǁ__init__", "+settings.bot_token, settings.api_base, retries=True", _SESSION_TIMEOUT),
    (_SLACK_BOT, "xǁSlackBotǁ__init__", "+settings.bot_token, settings.api_base, timeout=API_TIMEOUT, retries=None",
     _RETRIED_ELSEWHERE),
    (_SLACK_BOT, "xǁSlackBotǁ__init__", "+settings.bot_token, settings.api_base, timeout=API_TIMEOUT, retries=False",
     _RETRIED_ELSEWHERE),
    (_SLACK_BOT, "xǁSlackBotǁ__init__", "+settings.bot_token, settings.api_base, timeout=API_TIMEOUT, )",
     _RETRIED_ELSEWHERE),
    (_SLACK_BOT, "xǁSlackBotǁ__init__", "+ssl_check_enabled=None,",
     "Bolt treats None like False: ssl_check requests are still verified (test_forged_stale_and_unsigned...)"),
    (_SLACK_BOT, "xǁSlackBotǁstart", "+self.responder.session = None",
     "slack_sdk then opens a session per answer, with the same timeout; the same posts reach Slack"),
    (_SLACK_BOT, "xǁSlackBotǁstart", "+self.app, app_token=_secret(self.settings.app_token), web_client=None",
     "Bolt's Socket Mode handler falls back to app.client, which is this same client"),
    (_SLACK_BOT, "xǁSlackBotǁstart", "+self.app, app_token=_secret(self.settings.app_token), )",
     "Bolt's Socket Mode handler falls back to app.client, which is this same client"),
    (_SLACK_BOT, "xǁSlackBotǁstart", "+self._runner = web.AppRunner(self.web_app(), )",
     "aiohttp's access log lines only"),
    (_SLACK_BOT, "xǁSlackBotǁ_check_token",
     "+data = exc.response.data if (isinstance(exc.response.data, dict)) or True else {}",
     "slack_sdk raises SlackApiError from validate(), which has already read the body as a dict"),
    (_SLACK_SENDER, "x_make_client", "+retry_handlers=None if (retries) and False else [],",
     "only the Slack app asks for retries (bot.py); " + _RETRIED_ELSEWHERE),
    (_SLACK_SENDER, "xǁSlackSenderǁsend",
     '+ts = response.get("ts") if (isinstance(response.data, dict)) or True else None', _SLACK_OK_IS_JSON),
    (_SLACK_SENDER, "xǁSlackSenderǁsend", '+return Sent(str(ts or "XXXX"))', _SLACK_OK_IS_JSON),
    (_API, "xǁIngestApiǁ__init__", "+self._database_down = None  # one log line when an outage starts, one when it ends",
     "the flag is only read for its truth: None and False are both 'the database is up'"),
    (_API, "xǁIngestApiǁ_authorised", '+given = request.headers.get("Authorization", "XXXX")',
     "without the header either default has no 'bearer' scheme: the request is refused the same way"),
    (_API, _POST, "+for item, outcome in zip(loaded, result.outcomes, strict=None)", _ONE_OUTCOME_EACH),
    (_API, _POST, "+for item, outcome in zip(loaded, result.outcomes, )", _ONE_OUTCOME_EACH),
    (_API, _POST, "+for item, outcome in zip(loaded, result.outcomes, strict=False)", _ONE_OUTCOME_EACH),
    (_API, _POST, '+text = raw.decode("UTF-8-SIG")', "Python looks codec names up case-blind"),
    (_API, _POST, '+suffix = ".json" if kind in JSON_TYPES or kind.endswith("+json") else "XX.yamlXX"',
     _YAML_BY_DEFAULT),
    (_API, _POST, '+suffix = ".json" if kind in JSON_TYPES or kind.endswith("+json") else ".YAML"', _YAML_BY_DEFAULT),
    (_API, _POST, '+items = await asyncio.to_thread(load_text, text, suffix=None, where="body")', _YAML_BY_DEFAULT),
    (_CHANNELS, "x__upsert", '+return (postgresql if (conn.dialect.name == "postgresql") or True else sqlite).insert(table)',
     "PostgreSQL's INSERT … ON CONFLICT DO NOTHING/UPDATE compiles to the same SQL on SQLite"),
    (_CHANNELS, _STORE + "__init__", "+self._url = engine.url.render_as_string(hide_password=None)", _REDACTED_AGAIN),
    (_CHANNELS, _STORE + "__init__", "+self._url = engine.url.render_as_string(hide_password=False)", _REDACTED_AGAIN),
    (_CHANNELS, _STORE + "subscriptions",
     "+stmt = select(subscriptions).where(is_channel(subscriptions, key)).order_by(None)", _PK_ORDER),
    (_CHANNELS, _STORE + "channel_topics", "+.order_by(None)", _PK_ORDER),
    (_CHANNELS, _STORE + "tick", "+self, now: datetime, plan: Planner, *, platforms: Iterable[str], limit: int = 501",
     "a batch size: a 501st due schedule is advanced by the next tick, seconds later"),
    (_DRENDER, _MESSAGES, "+self.used = None  # characters of the last message that count towards the total",
     _FIRST_OPEN),
    (_DRENDER, _MESSAGES, "+self.used = 1  # characters of the last message that count towards the total",
     _FIRST_OPEN),
    (_DRENDER, _MESSAGES, "+self.cut = None  # MESSAGES_PER_REPLY_MAX was reached; what is added now is not sent",
     _FALSY),
    (_DRENDER, _MESSAGES, '+self.link: str | None = ""  # the link of the item being added', _FALSY),
    (_DRENDER, _MESSAGES, '+self.cut_link: str | None = ""', _FALSY),
    (_DRENDER, "x_render_reply", '+out.open(None, None, 2)["description"] = BLANK',
     "an empty reply's only embed opens the first message: its size is never compared with anything"),
    (_OUTBOX, _FREEZE, "+.values(bodies=json.dumps(bodies, ensure_ascii=None), updated_at=now)", _ASCII),
    (_OUTBOX, _FREEZE, "+.values(bodies=json.dumps(bodies, ), updated_at=now)", _ASCII),
    (_OUTBOX, _FREEZE, "+.values(bodies=json.dumps(bodies, ensure_ascii=True), updated_at=now)", _ASCII),
    (_OUTBOX, _ENQUEUE, '+(item, outcome) for item, outcome in zip(items, outcomes, strict=True) if outcome != "XXunchangedXX"',
     _UNCHANGED),
    (_OUTBOX, _ENQUEUE, '+(item, outcome) for item, outcome in zip(items, outcomes, strict=True) if outcome != "UNCHANGED"',
     _UNCHANGED),
    (_OUTBOX, _ENQUEUE, '+(item, outcome) for item, outcome in zip(items, outcomes, strict=None) if outcome != "unchanged"',
     _STORED_ONE_EACH),
    (_OUTBOX, _ENQUEUE, '+(item, outcome) for item, outcome in zip(items, outcomes, ) if outcome != "unchanged"',
     _STORED_ONE_EACH),
    (_OUTBOX, _ENQUEUE, '+(item, outcome) for item, outcome in zip(items, outcomes, strict=False) if outcome != "unchanged"',
     _STORED_ONE_EACH),
    (_OUTBOX, _INSERT, '+return pg_insert(deliveries).values(rows).on_conflict_do_nothing(index_elements=None)', _ONE_UNIQUE),
    (_OUTBOX, _INSERT, '+return sqlite_insert(deliveries).values(rows).on_conflict_do_nothing(index_elements=None)', _ONE_UNIQUE),
    (_OUTBOX, _INSERT, '+return sqlite_insert(deliveries).values(rows).on_conflict_do_nothing(index_elements=["DEDUPE_KEY"])',
     _ONE_UNIQUE),
    (_OUTBOX, "x_insert_rows", "+result = await conn.execute(_insert_ignoring_duplicates(conn, rows[start : start + 501]))",
     _OVERLAP),
    (_OUTBOX, "x_insert_rows", "+for start in range(0, len(rows), ):  # keeps each statement under SQLite's bound-parameter limit",
     _OVERLAP),
    (_OUTBOX, "xǁSqlOutboxǁ__init__", "+self._url = engine.url.render_as_string(hide_password=None)", _REDACTED_AGAIN),
    (_OUTBOX, "xǁSqlOutboxǁ__init__", "+self._url = engine.url.render_as_string(hide_password=False)", _REDACTED_AGAIN),
    (_OUTBOX, "xǁSqlOutboxǁ_mine", "+return and_(d.id == delivery_id, d.lease_owner == owner, )",
     "every write that takes a row out of 'sending' also clears lease_owner: a row with this owner is 'sending'"),
    (_OUTBOX, _FREEZE, "+.values(bodies=json.dumps(bodies, ensure_ascii=False), )", _UPDATED_AT),
    (_OUTBOX, _LEASE, "+.values(status=\"sending\", lease_owner=owner, lease_until=now + lease_for, )", _UPDATED_AT),
    (_OUTBOX, "xǁSqlOutboxǁrequeue", '+.values(status="pending", attempts=0, available_at=now, )', _UPDATED_AT),
    (_OUTBOX, _FREEZE_DIGEST, '+values.update(status="skipped", last_error=skip_reason, lease_owner=None, )', _LEASE_UNTIL),
    (_OUTBOX, "xǁSqlOutboxǁrecord_part", '+values.update(status="sent", sent_at=now, lease_owner=None, last_error=None)',
     _LEASE_UNTIL),
    (_OUTBOX, "xǁSqlOutboxǁrecord_accepted", '+values.update(status="sent", sent_at=now, lease_owner=None, last_error=None)',
     _LEASE_UNTIL),
    (_OUTBOX, _LEASE, "+and_(d.lease_until <= now),", _LEASE_UNTIL),
    (_OUTBOX, _FREEZE_DIGEST, '+values["bodies"] = json.dumps(bodies, ensure_ascii=None)', _ASCII),
    (_OUTBOX, _FREEZE_DIGEST, '+values["bodies"] = json.dumps(bodies, )', _ASCII),
    (_OUTBOX, _FREEZE_DIGEST, '+values["bodies"] = json.dumps(bodies, ensure_ascii=True)', _ASCII),
    (_OUTBOX, _FREEZE_DIGEST, "+elif covered_until >= current:",
     "a watermark equal to covered_until: the update writes the value already there"),
    (_OUTBOX, _LEASE, "+before = deliveries.alias(None)", _ALIAS),
    (_OUTBOX, _LEASE, '+before = deliveries.alias("XXbeforeXX")', _ALIAS),
    (_OUTBOX, _LEASE, '+before = deliveries.alias("BEFORE")', _ALIAS),
    (_OUTBOX, _LEASE, "+.order_by(d.available_at, )",
     "which of several rows due at the same instant a full batch takes: the rest go in the next batch, moments "
     "later, each once (a batch is sorted by available_at and id after the lease)"),
    (_OUTBOX, _LEASE, "+if not wanted or limit < 0:",
     "a limit of 0 then reaches the database as LIMIT 0, which leases nothing either; the worker never asks for 0"),
    (_OUTBOX, "xǁSqlOutboxǁrequeue", "-is_channel(table, found.key),",
     "the paused reason names the delivery's id, which only its own channel's rows carry (mark_dead pauses only "
     "its channel); is_channel lets the update walk the primary key instead of every row"),
    (_WORKER, _RUN, "+outage = OutageLog(None, log)", _OUTAGE_NAME),
    (_WORKER, _RUN, '+outage = OutageLog("XXleasing deliveriesXX", log)', _OUTAGE_NAME),
    (_WORKER, _RUN, '+outage = OutageLog("LEASING DELIVERIES", log)', _OUTAGE_NAME),
    (_WORKER, _RUN, "+started = None", "only read for its truth: None and 0 both mean nothing started"),
    (_WORKER, "xǁWorkerǁdrain", "+await asyncio.wait(self._inflight, )",
     "waiting for every post in flight instead of the first: the same rows are posted, the next lease comes later"),
    (_WORKER, "xǁWorkerǁdeliver", "+if limiter is not None or ticket is not None:",
     "a ticket exists exactly when a limiter does, so `or` and `and` agree"),
    (_WORKER, "xǁWorkerǁdeliver", "+self._hold(_Accepted(delivery, part + 1, tuple(message_ids), done), None)",
     "the error only goes into the log line"),
    (_WORKER, "xǁWorkerǁ_record_accepted", '+self.problem = ""', "trouble() reads problem for its truth only"),
    (_WORKER, "xǁWorkerǁ_freeze",
     '+rendered = await self.composer.alert(delivery.key, delivery.summary_id or "XXXX", delivery.topics)',
     "an alert row always carries its story's id (AlertEnqueuer); the default is never used"),
    (_WORKER, "xǁWorkerǁ_freeze", "+covered = max(slot, watermark) if (watermark is not None) and False else slot",
     "freeze_digest moves the watermark forward only, so passing the slot where the watermark is later changes nothing"),
    (_WORKER, "xǁWorkerǁ_freeze", "+skip_reason=None if (bodies) and False else NOTHING_NEW,",
     "freeze_digest writes the skip reason only when there are no bodies"),
    (_WORKER, "xǁWorkerǁ_retry", "+await self.outbox.retry_later(delivery, self.owner, at, outcome.reason, now, counts=None)",
     _NOT_COUNTED),
    (_WORKER, "xǁWorkerǁ_lock_out", "+await self.outbox.retry_later(delivery, self.owner, now, outcome.reason, now, counts=None)",
     _NOT_COUNTED),
    (_WORKER, "xǁWorkerǁ_freeze", "+delivery, self.owner, STORY_GONE, now, counts=None, pause=False", _NOT_COUNTED),
    (_WORKER, "xǁWorkerǁfill", "+if (ready) or True",
     "lease() returns nothing for no platforms without asking the database"),
    (_WORKER, "xǁWorkerǁfill", "+if room < 0:", "a room of 0 asks lease() for 0 rows, which returns nothing"),
    (_WORKER, "xǁWorkerǁfill", "+task = asyncio.create_task(self._guarded(delivery), name=None)",
     "a task's name shows only in debugging output"),
    (_WORKER, "xǁWorkerǁfill", "+task = asyncio.create_task(self._guarded(delivery), )",
     "a task's name shows only in debugging output"),
    (_DRENDER, "xǁ_Messagesǁadd_entry", "+self.items_not_shown = 1",
     "a reply is cut once, inside one entry: every later item is counted by render_reply without reaching "
     "add_entry, so the count is still 0 when the entry the cut fell on adds itself"),
    (_SRENDER, _S_MESSAGES, '+self.resume: str | None = ""  # what a continuation message says it continues', _FALSY),
    (_SRENDER, _S_MESSAGES, "+self.cut = None  # MESSAGES_PER_REPLY_MAX was reached; nothing more is added", _FALSY),
    (_SRENDER, _S_MESSAGES, '+self.link: str | None = ""  # the link of the item being added', _FALSY),
    (_SRENDER, _S_MESSAGES, '+self.cut_link: str | None = ""', _FALSY),
    (_SRENDER, "xǁ_Messagesǁadd", "+            return False",  # the divider branch only
     "only the title's add() is asked whether it was added, and a title is never the divider this returns for"),
    (_SRENDER, "xǁ_Messagesǁadd", "+self.used = len(self.resume)", "used was set to 0 on the line before: = and += agree"),
    (_SRENDER, "xǁ_Messagesǁadd_item", '+self.resume = ""', _FALSY),
    (_SRENDER, "xǁ_Messagesǁadd_item", "+self.items_not_shown = 1",
     "a reply is cut once: when its cut falls on an item's title no later item has been counted yet, so the "
     "count is still 0 there (later items are counted at the top of add_item)"),
    (_SRENDER, "x__bodies", '+first if i == 1 else clip(summary, FALLBACK_MAX - 21)[0] + f" (cont. {i}/{count})"',
     "the 20 characters are room for ' (cont. i/n)', 12 characters for the at most 5 messages a reply has: one "
     "character less of the title still leaves the notification within FALLBACK_MAX"),
]  # fmt: skip
# mutmut's exit codes per mutant (mutmut/stats.py); anything else is "suspicious".
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
          37: "caught by type check", None: "not checked"}  # fmt: skip


def _copy_repo(target: Path) -> None:
    """Copy the tracked and new (not ignored) files of the work tree, as they are now, to `target`."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],  # noqa: S607 - git from PATH, fixed arguments
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _configure(target: Path, modules: list[str]) -> None:
    tests = sorted({t for m in modules for t in GUARDED[m]})
    text = (target / "pyproject.toml").read_text()
    section = (
        "\n[tool.mutmut]\n"
        'source_paths = ["bot/"]\n'
        'also_copy = ["config/", "examples/"]\n'
        # Log lines speak to an operator, not a user; their wording and arguments are not behaviour the
        # tests pin, and mutating them only buries the survivors that matter.
        "do_not_mutate_patterns = ['^\\s*log\\.(debug|info|warning|error|exception)\\(']\n"
        f"only_mutate = {json.dumps(modules)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-x"]\n'
    )
    (target / "pyproject.toml").write_text(text + section)


def _statuses(target: Path) -> dict[str, str]:
    """Read each mutant's outcome from mutmut's .meta files."""
    out: dict[str, str] = {}
    for meta in (target / "mutants").rglob("*.meta"):
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            out[name] = STATUS.get(code, "suspicious")
    return out


def _module_of(name: str) -> str:
    """Return "bot/x/y.py" for a mutant named "bot.x.y.x_func__mutmut_3"."""
    return name.rsplit(".", 1)[0].replace(".", "/") + ".py"


def _function_of(name: str) -> str:
    return name.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]


def _show(mutmut: Path, name: str, target: Path, env: dict[str, str]) -> str:
    return subprocess.run(  # noqa: S603 - our own venv's mutmut
        [str(mutmut), "show", name], cwd=target, env=env, check=False, capture_output=True, text=True
    ).stdout


_STRING = re.compile(r'"([^"]*)"')
_HEADER_NAME = re.compile(
    r"(?i)^(x-ratelimit-[a-z-]+|retry-after|via|authorization|user-agent|www-authenticate|content-type)$"
)


def _header_case_only(changed: list[str]) -> bool:
    """Whether a mutant only changes the case of an HTTP header's name, which aiohttp looks up case-blind."""
    removed = [line[1:] for line in changed if line[0] == "-"]
    added = [line[1:] for line in changed if line[0] == "+"]
    if len(removed) != 1 or len(added) != 1 or removed[0].lower() != added[0].lower():
        return False
    before, after = _STRING.findall(removed[0]), _STRING.findall(added[0])
    differ = [(b, a) for b, a in zip(before, after, strict=False) if b != a]
    return len(before) == len(after) and len(differ) == 1 and bool(_HEADER_NAME.match(differ[0][0]))


def _equivalent(name: str, diff: str) -> str | None:
    """Return the reason a surviving mutant is equivalent, or None when it is a real survivor."""
    changed = [
        line.rstrip() for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in {"+++", "---"}
    ]
    if _header_case_only(changed):
        return "HTTP header names are case-insensitive (aiohttp's CIMultiDictProxy)"
    for module, function, wanted, reason in EQUIVALENT:
        if _module_of(name) != module or _function_of(name) != function:
            continue
        sign, text = wanted[0], wanted[1:]
        for line in changed:
            if line[0] == sign and (line[1:] == text if text[:1].isspace() else line[1:].strip() == text):
                return reason
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"a subset of: {' '.join(GUARDED)}")
    parser.add_argument(
        "--children", type=int, default=1, help="mutants tested at once (default 1: the 2 cores are shared)"
    )
    parser.add_argument(
        "--report", action="store_true", help="print the score of the last run again, without running mutmut"
    )
    args = parser.parse_args(argv)
    modules = args.modules or list(GUARDED)
    unknown = [m for m in modules if m not in GUARDED]
    if unknown:
        parser.error(f"no guarding tests are listed for {', '.join(unknown)} (add them to GUARDED)")
    # Named by the modules' dotted paths: two modules may share a file name (the two senders).
    target = (
        SCRATCH / "-".join(m.removeprefix("bot/").removesuffix(".py").replace("/", ".") for m in modules)[:80]
    )
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "PYTHONPATH": str(target)}
    returncode = 0
    if not args.report:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        _copy_repo(target)
        _configure(target, modules)
        command = [str(mutmut), "run", "--max-children", str(args.children)]
        returncode = subprocess.run(command, cwd=target, env=env, check=False).returncode  # noqa: S603 - our mutmut
    statuses = _statuses(target)
    diffs = {n: _show(mutmut, n, target, env) for n, st in statuses.items() if st not in KILLED | UNDECIDED}
    for name, diff in diffs.items():
        if _equivalent(name, diff) is not None:
            statuses[name] = "equivalent"
    print(f"\nmutants: {dict(sorted(Counter(statuses.values()).items()))}")
    for module in modules:
        counts = Counter(s for n, s in statuses.items() if _module_of(n) == module)
        decided = sum(n for s, n in counts.items() if s not in UNDECIDED | {"equivalent"})
        killed = sum(n for s, n in counts.items() if s in KILLED)
        score = f"{100 * killed / decided:.1f}%" if decided else "n/a"
        print(
            f"mutation score: {module}: {killed}/{decided} killed = {score} ({counts['equivalent']} equivalent)"
        )
    for name in sorted(diffs):
        reason = _equivalent(name, diffs[name])
        print(f"\n--- {f'equivalent ({reason})' if reason else statuses[name]}: {name}")
        print(diffs[name], end="")
    print(f"\n(scratch copy: {target}; `cd` there and run `{mutmut} show NAME` for any mutant)")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
