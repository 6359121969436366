"""The `newsbot` command line as an operator meets it: real processes, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "us-taiwan-dialogue.yaml"
ARTICLE = ROOT / "examples" / "us-taiwan-dialogue.txt"


@pytest.fixture
def newsbot(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env["NEWSBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    env["COLUMNS"] = "200"

    def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
            [sys.executable, "-m", "bot", *args],
            cwd=ROOT,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def test_ingest_is_idempotent_and_reports_a_changed_story(newsbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = newsbot("ingest", str(EXAMPLE))
    assert first.returncode == 0, first.stderr
    assert "1 stored, 0 replaced, 0 unchanged, 0 failed" in first.stdout
    again = newsbot("ingest", str(EXAMPLE))
    assert "0 stored, 0 replaced, 1 unchanged, 0 failed" in again.stdout
    changed = yaml.safe_load(EXAMPLE.read_text())
    changed["lede"] = "A corrected lede."
    copy = tmp_path / "corrected.yaml"
    copy.write_text(yaml.safe_dump(changed))
    replaced = newsbot("ingest", str(copy))
    assert "replaced its earlier version" in replaced.stdout
    assert "0 stored, 1 replaced" in replaced.stdout


def test_a_large_ingest_reports_totals_and_each_unknown_tag_once_instead_of_a_line_per_story(  # type: ignore[no-untyped-def]
    newsbot, tmp_path: Path
) -> None:
    story = yaml.safe_load(EXAMPLE.read_text())
    folder = tmp_path / "bulk"
    folder.mkdir()
    for n in range(60):
        story["id"] = f"bulk-{n}"
        story["headline"] = f"Drone makers meet for round {n} of talks"
        story["source"] = {"name": "Example News", "url": f"https://example.com/drones/{n}"}
        story["tags"] = ["drones", "hovercraft"] if n % 2 else ["drones", "zeppelins", "hovercraft"]
        (folder / f"{n}.yaml").write_text(yaml.safe_dump(story))
    (folder / "broken.yaml").write_text("headline: [unclosed\n")
    result = newsbot("ingest", str(folder))
    _no_traceback(result)
    assert "60 stored, 0 replaced, 0 unchanged, 1 failed (61 files)" in result.stdout
    assert result.stdout.count("\n") == 1  # the totals, not 60 "stored" lines
    assert "60 stories have tags not in the taxonomy (kept): hovercraft (60), zeppelins (30)" in result.stderr
    assert f"{folder / 'broken.yaml'}: invalid YAML" in result.stderr  # what went wrong is not buried

    few = newsbot("ingest", str(folder / "1.yaml"), str(folder / "2.yaml"))
    assert f"{folder / '1.yaml'}: unchanged bulk-1" in few.stdout
    assert f"{folder / '2.yaml'}: tags not in the taxonomy (kept): hovercraft, zeppelins" in few.stderr


def test_bad_files_are_reported_and_good_ones_still_stored(newsbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "good.yaml").write_text(EXAMPLE.read_text())
    (folder / "syntax.yaml").write_text("headline: x\n  bad: indent\n")
    (folder / "field.json").write_text(json.dumps({"headline": "x", "published": "2026-01-01T00:00:00"}))
    result = newsbot("ingest", str(folder), str(tmp_path / "nowhere.yaml"))
    _no_traceback(result)
    assert result.returncode == 1
    assert f"{folder / 'syntax.yaml'}: invalid YAML at line 2" in result.stderr
    assert f"{folder / 'field.json'}: published: Input should have timezone info" in result.stderr
    assert f"{tmp_path / 'nowhere.yaml'}: no such file or folder" in result.stderr
    assert "1 stored" in result.stdout
    answer = json.loads(newsbot("topic", "drones", "--json").stdout)
    assert any(m["title"] == "Drone Technology" for m in answer["matches"])


def test_topic_json_answers_from_the_archive(newsbot) -> None:  # type: ignore[no-untyped-def]
    newsbot("ingest", str(EXAMPLE))
    answer = json.loads(newsbot("topic", "drnoes", "--json").stdout)
    assert set(answer) == {"query", "topic", "suggestions", "matches"}
    assert answer["topic"] == "drones"
    first = answer["matches"][0]
    assert set(first) == {"summary_id", "headline", "title", "text", "url", "published"}
    assert first["title"] == "Drone Technology"
    assert "certification" in first["text"]
    text = newsbot("topic", "drnoes")
    assert "Showing results for Drones" in text.stdout


def test_free_text_falls_back_to_search(newsbot) -> None:  # type: ignore[no-untyped-def]
    newsbot("ingest", str(EXAMPLE))
    answer = json.loads(newsbot("topic", "pax silica", "--json").stdout)
    assert answer["topic"] is None
    assert answer["matches"], "the Pax Silica Declaration is in the example"
    nothing = json.loads(newsbot("topic", "zebra xylophone", "--json").stdout)
    assert nothing["matches"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [("x" * 20_000, "too long: 20000 characters"), ("   ", "blank"), ("\x07\x1b", "blank")],
)
def test_bad_queries_get_a_clear_message(newsbot, query: str, message: str) -> None:  # type: ignore[no-untyped-def]
    result = newsbot("topic", query)
    _no_traceback(result)
    assert result.returncode == 2
    assert message in result.stderr.lower()


def test_cmd_runs_commands_as_chat_would(newsbot) -> None:  # type: ignore[no-untyped-def]
    newsbot("ingest", str(EXAMPLE))
    slack = newsbot("cmd", "--platform", "slack", "--json", "/news topic drones")
    reply = json.loads(slack.stdout)
    assert reply["items"][0]["title"] == "Drone Technology"
    refused = newsbot(
        "cmd", "--platform", "discord", "--channel", "42", "/schedule daily 08:00 Europe/Berlin"
    )
    assert refused.returncode == 1
    assert "needs the Manage Server permission" in refused.stdout
    stored = newsbot(
        "cmd", "--platform", "discord", "--channel", "42", "--admin", "/schedule daily 08:00 Europe/Berlin"
    )
    assert stored.returncode == 0, stored.stdout
    shown = newsbot("cmd", "--platform", "discord", "--channel", "42", "--json", "/schedule show")
    assert "0 8 * * *" in json.loads(shown.stdout)["text"]
    assert "Europe/Berlin" in json.loads(shown.stdout)["text"]


def test_digest_bodies_for_discord_are_a_brief_and_its_thread_and_never_ping(newsbot) -> None:  # type: ignore[no-untyped-def]
    newsbot("ingest", str(EXAMPLE))
    shown = json.loads(newsbot("digest", "--platform", "discord", "--json").stdout)
    assert set(shown) == {"channel", "thread", "thread_name", "topics"}
    bodies = shown["channel"] + shown["thread"]
    assert len(shown["channel"]) == 1  # the brief is one message
    assert all(b["allowed_mentions"] == {"parse": []} for b in bodies)
    assert "Taiwan and US Deepen Strategic Tech Partnership" in json.dumps(shown["channel"])
    # The brief has each area's first sentence; the thread has the rest of the story.
    assert "China routinely objects" not in json.dumps(shown["channel"])
    assert "China routinely objects" in json.dumps(shown["thread"])
    assert shown["thread_name"].startswith("News digest · ")
    assert "drones" in shown["topics"]


def test_digest_full_layout_without_threads_is_the_whole_text_in_the_channel(newsbot) -> None:  # type: ignore[no-untyped-def]
    newsbot("ingest", str(EXAMPLE))
    result = newsbot("digest", "--platform", "slack", "--json", "--layout", "full", "--no-threads")
    shown = json.loads(result.stdout)
    assert (shown["thread"], shown["thread_name"]) == ([], None)
    assert "China routinely objects" in json.dumps(shown["channel"])
    bad = newsbot("digest", "--layout", "wide")
    _no_traceback(bad)
    assert bad.returncode == 2
    assert "'wide' is not one of 'compact', 'full'" in bad.stderr


def test_render_needs_no_database(newsbot) -> None:  # type: ignore[no-untyped-def]
    result = newsbot("render", str(ARTICLE), "--platform", "slack", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    bodies = shown["channel"] + shown["thread"]
    assert all(b["text"].strip() for b in bodies)
    assert "Drone Technology" in json.dumps(shown["channel"])
    assert "Drone Technology" in json.dumps(shown["thread"])


def test_demo_once_shows_the_brief_then_its_thread_and_drones(newsbot) -> None:  # type: ignore[no-untyped-def]
    result = newsbot("demo", "--once")
    assert result.returncode == 0, result.stderr
    brief, _, rest = result.stdout.partition("thread · News digest · ")
    thread, _, drones = rest.partition("/topic drones")
    assert "Taiwan and US Deepen Strategic Tech Partnership" in brief
    assert "The full stories follow in the thread." in brief
    assert "China routinely objects" not in brief
    assert "China routinely objects" in thread
    assert "Drone Technology" in drones


def test_run_without_platform_exits_2(newsbot) -> None:  # type: ignore[no-untyped-def]
    result = newsbot("run")
    _no_traceback(result)
    assert result.returncode == 2
    assert "no platform is configured" in result.stderr


def test_config_check_masks_secrets(newsbot) -> None:  # type: ignore[no-untyped-def]
    result = newsbot("config", "check", extra_env={"NEWSBOT_DISCORD__TOKEN": "sekrit-token-value"})
    assert result.returncode == 0, result.stderr
    assert "sekrit-token-value" not in result.stdout + result.stderr
    assert "platforms configured: discord" in result.stdout


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bot@127.0.0.1:9/news?password=hunter2",
        "postgresql://bot:hun/ter2@127.0.0.1:9/news",
        "postgresql://bot@127.0.0.1:9/news?password=hun/ter2",
    ],
)
def test_no_form_of_database_password_is_printed_by_config_check_or_a_failing_command(  # type: ignore[no-untyped-def]
    newsbot, url: str
) -> None:
    check = newsbot("config", "check", "--json", extra_env={"NEWSBOT_DATABASE_URL": url})
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["settings"]["database_url"].startswith("postgresql://bot")
    failed = newsbot("topics", extra_env={"NEWSBOT_DATABASE_URL": url})  # nothing listens on port 9
    _no_traceback(failed)
    assert failed.returncode == 2
    assert "127.0.0.1" in failed.stderr
    for result in (check, failed):
        assert "hunter2" not in result.stdout + result.stderr
        assert "ter2" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://root:hunter2@db/news", "scheme 'mysql' is not supported"),
        ("postgresql://bot@db/news?sslmode=require", "?ssl=require"),
        ("postgresql://bot:hunt@er2@db/news", "%40"),
    ],
)
def test_config_check_refuses_a_database_url_that_run_could_not_open(newsbot, url: str, said: str) -> None:  # type: ignore[no-untyped-def]
    result = newsbot("config", "check", extra_env={"NEWSBOT_DATABASE_URL": url})
    _no_traceback(result)
    assert result.returncode == 2
    assert said in result.stderr
    assert "hunter2" not in result.stderr
    assert "er2" not in result.stderr


def test_config_check_json_is_one_valid_json_document(newsbot) -> None:  # type: ignore[no-untyped-def]
    long_title = "A digest title long enough that a terminal-width wrap would split it " * 3
    result = newsbot(
        "config", "check", "--json", extra_env={"NEWSBOT_DIGEST__TITLE": long_title, "COLUMNS": "40"}
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["settings"]["digest"]["title"] == long_title
    assert document["platforms"] == []
    assert document["taxonomy"]["topics"] > 0


def test_bad_settings_and_taxonomy_are_one_line_errors(newsbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = newsbot("config", "check", extra_env={"NEWSBOT_SLACK__PORT": "not-a-port"})
    _no_traceback(port)
    assert port.returncode == 2
    assert "slack.port (NEWSBOT_SLACK__PORT)" in port.stderr
    taxonomy = tmp_path / "topics.yaml"
    taxonomy.write_text(
        "topics:\n"
        "  - {id: drones, label: Drones, synonyms: [drone]}\n"
        "  - {id: aviation, label: Aviation, synonyms: [drone]}\n"
    )
    dup = newsbot("topics", extra_env={"NEWSBOT_TAXONOMY_PATH": str(taxonomy)})
    _no_traceback(dup)
    assert dup.returncode == 2
    assert "drones" in dup.stderr
    assert "aviation" in dup.stderr


def test_schema_is_json_schema(newsbot) -> None:  # type: ignore[no-untyped-def]
    result = newsbot("schema")
    schema = json.loads(result.stdout)
    assert "headline" in schema["required"]
    assert schema["properties"]["published"]["anyOf"][0]["format"] == "date-time"


def test_stories_lists_what_is_stored_and_delete_removes_one_for_good(newsbot) -> None:  # type: ignore[no-untyped-def]
    assert newsbot("ingest", str(EXAMPLE)).returncode == 0
    [story] = json.loads(newsbot("stories", "--json").stdout)
    assert story["headline"].startswith("Taiwan and US Deepen")
    assert story["published"].startswith("2026-")
    assert json.loads(newsbot("stories", "--json", "--source", "no-such-outlet").stdout) == []
    assert story["id"] in newsbot("stories").stdout

    deleted = newsbot("delete", story["id"])
    assert deleted.returncode == 0
    assert f"deleted {story['id']}" in deleted.stdout
    assert json.loads(newsbot("stories", "--json").stdout) == []
    assert json.loads(newsbot("topic", "drones", "--json").stdout)["matches"] == []
    assert json.loads(newsbot("topic", "certification", "--json").stdout)["matches"] == []  # search index too
    again = newsbot("delete", story["id"])
    assert again.returncode == 1
    assert f"{story['id']}: no story has this id" in again.stderr


def test_retag_applies_a_changed_taxonomy_to_stored_stories(newsbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    newsbot("ingest", str(EXAMPLE))
    unchanged = newsbot("retag")
    assert unchanged.returncode == 0
    assert "0 of 1 story re-tagged (1 unchanged)" in unchanged.stdout
    taxonomy = tmp_path / "topics.yaml"
    taxonomy.write_text(
        (ROOT / "config" / "topics.yaml").read_text()
        + "  - id: certification\n    label: Certification\n    synonyms: [certification]\n"
    )
    env = {"NEWSBOT_TAXONOMY_PATH": str(taxonomy)}
    changed = newsbot("retag", extra_env=env)
    assert "1 of 1 story re-tagged" in changed.stdout
    counts = {t["id"]: t["stories"] for t in json.loads(newsbot("topics", "--json", extra_env=env).stdout)}
    assert counts["certification"] == 1
    answer = json.loads(newsbot("topic", "certification", "--json", extra_env=env).stdout)
    assert answer["topic"] == "certification"
    assert answer["matches"]
