"""newsbot's own words on Slack: its help can be copied back into chat, while summary text still cannot format or ping."""

from __future__ import annotations

from html import unescape

from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.slack.render import render_reply
from bot.app import App
from bot.core.reply import Item, Reply
from tests.test_commands import app, inv

__all__ = ["app"]  # the fixture: a real store with the worked example loaded


def _shown(reply: Reply) -> str:
    texts = []
    for body in render_reply(reply):
        for block in body["blocks"]:
            if block["type"] == "section":
                texts.append(block["text"]["text"])
            elif block["type"] == "context":
                texts.extend(element["text"] for element in block["elements"])
    return unescape("\n".join(texts))


async def test_the_admin_rule_names_the_setting_as_it_must_be_written(app: App) -> None:
    reply = await app.commands.run(inv("/subscribe drones", platform="slack"))
    assert "NEWSBOT_SLACK__ADMINS" in _shown(reply)


async def test_the_cron_example_in_an_error_can_be_pasted_back(app: App) -> None:
    reply = await app.commands.run(inv("/schedule cron 0 8", platform="slack", admin=True))
    assert reply.tone == "error"
    assert '`cron "0 8 * * mon-fri" Europe/Berlin`' in _shown(reply)


def test_own_words_still_cannot_ping_and_their_items_still_cannot_format() -> None:
    reply = Reply(
        title="Search: <!channel>",
        text="You typed <!channel> @here & `<!everyone>`",
        items=[Item(title="*Breaking*", text="<!here> NEWSBOT_X__Y 2*3*4")],
        own_words=True,
    )
    [body] = render_reply(reply)
    raw = str(body)
    for ping in ("<!channel>", "<!here>", "<!everyone>", "@here"):
        assert ping not in raw
    shown = _shown(reply)
    assert "NEWSBOT_X__Y" not in shown  # summary text gets look-alikes
    assert "2*3*4" not in shown
    assert "∗Breaking∗" in shown


def test_summary_text_in_a_reply_not_marked_as_own_words_is_neutralised_as_before() -> None:
    shown = _shown(Reply(title="t", text='use NEWSBOT_SLACK__ADMINS and `cron "0 8 * * mon-fri"`'))
    assert "NEWSBOT_SLACK__ADMINS" not in shown
    assert "`" not in shown


@given(st.text(max_size=300))
def test_no_own_words_can_open_a_slack_token_or_a_quote(text: str) -> None:
    for body in render_reply(Reply(title="newsbot", text=text, footer=text, own_words=True)):
        for block in body["blocks"][1:]:
            texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
            for shown in texts:
                assert "<!" not in shown
                assert "<@" not in shown
                assert not any(line.startswith("&gt;") for line in shown.splitlines())


def test_own_words_keep_each_code_span_and_a_lone_backtick_cannot_open_one() -> None:
    text = "Run `newsbot db upgrade`, then `newsbot run`; a lone ` stays text."
    # Slack would read a lone backtick as the start of a span running to some later one.
    assert _shown(Reply(title="newsbot", text=text, own_words=True)) == (
        "Run `newsbot db upgrade`, then `newsbot run`; a lone \u02cb stays text."
    )
