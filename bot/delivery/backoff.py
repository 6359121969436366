"""How long a delivery waits after a passing failure: capped exponential backoff with jitter."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

_jitter = random.Random()  # noqa: S311 - spreads retries out; nothing secret depends on it


@dataclass(frozen=True, slots=True)
class Backoff:
    """Attempt n waits about base·2ⁿ⁻¹ seconds (at most `cap`), randomised to between half and all of it."""

    base: float = 2.0
    cap: float = 300.0
    max_attempts: int = 8
    rand: Callable[[], float] = field(default=_jitter.random, repr=False, compare=False)

    def delay(self, attempt: int) -> float:
        """Return the wait after the `attempt`-th failed attempt (1-based)."""
        ceiling = min(self.cap, self.base * float(2 ** max(0, attempt - 1)))
        # Equal jitter: never less than half the step, so a storm of 5xx cannot turn into a retry storm.
        return ceiling / 2 + ceiling / 2 * self.rand()

    def exhausted(self, attempts: int) -> bool:
        """Return whether `attempts` failed attempts are enough to give up."""
        return attempts >= self.max_attempts
