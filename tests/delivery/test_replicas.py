"""Three real `newsbot run` replicas on one PostgreSQL fan a digest out to 1,000 Discord channels as one bot.

The loopback Discord answers 429 past 50 requests a second and past a channel's 5 posts per 5 s. Without
the shared budget, three replicas would send 150 a second and a third of their POSTs would be refused.
How long the fan-out takes against the 20 s floor is a bench figure (`discord_fanout_ratio_3_replicas`),
not asserted here: the machine is shared.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.delivery.replicas import CHANNELS, FanOut, three_replicas

pytestmark = pytest.mark.postgres


def _no_loss_no_duplicates_few_429s(run: FanOut) -> None:
    assert run.sent_rows == CHANNELS
    assert run.lost == 0
    assert run.duplicated == 0
    assert run.pct_429 < 1.0, (
        f"{run.answered_429} of {run.posts} POSTs were answered 429 ({run.global_429} global; "
        f"seconds from the first POST, g global, c channel: {run.timeline})"
    )


async def test_three_replicas_post_a_digest_to_1000_channels_once_each_without_tripping_the_rate_limit(
    postgres_url: str, tmp_path: Path
) -> None:
    async with three_replicas(postgres_url, tmp_path) as replicas:
        calm = await replicas.fan_out()
        _no_loss_no_duplicates_few_429s(calm)
        assert calm.reposted == 0  # nobody died: every channel got exactly one POST accepted
        assert calm.posts - calm.answered_429 == CHANNELS

        # Again, with one replica SIGKILLed once half the channels have their message: the two left take
        # over its leased rows. A row it had posted but not recorded is posted again with the same nonce,
        # which Discord answers with the first message, so the channel still shows one.
        killed = await replicas.fan_out(kill_midway=True)
        _no_loss_no_duplicates_few_429s(killed)
        assert killed.reposted <= 32  # at most the rows the killed replica had in flight
