"""Exponential backoff with jitter, as a pure function of the attempt number.

The jitter only ever lengthens a wait, so `Backoff.delay` stays within
``[initial, maximum]``: a retry never comes sooner than `initial` (one second by
default, so a client never hammers a server) and never later than `maximum`.
"""

from __future__ import annotations

import attrs

__all__ = ["Backoff"]

# Past this many doublings every base delay is at the cap anyway; stops float overflow.
_MAX_EXPONENT = 64


def _check(instance: Backoff, _attribute: object, _value: object) -> None:
    if not 0 < instance.initial <= instance.maximum:
        msg = (
            f"backoff needs 0 < initial <= maximum, got initial={instance.initial!r} "
            f"and maximum={instance.maximum!r}"
        )
        raise ValueError(msg)
    if instance.multiplier < 1:
        msg = f"backoff multiplier must be at least 1, got {instance.multiplier!r}"
        raise ValueError(msg)
    if not 0 <= instance.jitter <= 1:
        msg = f"backoff jitter must be between 0 and 1, got {instance.jitter!r}"
        raise ValueError(msg)


@attrs.frozen
class Backoff:
    """How long to wait before attempt number ``n + 1`` after ``n`` failures.

    The base wait is ``initial * multiplier ** (failures - 1)``, capped at `maximum`;
    jitter adds up to ``jitter`` times the base, again capped, so that many clients
    that lost the same server do not come back in lockstep.
    """

    initial: float = attrs.field(default=1.0, validator=_check)
    maximum: float = attrs.field(default=60.0, validator=_check)
    multiplier: float = attrs.field(default=2.0, validator=_check)
    jitter: float = attrs.field(default=0.25, validator=_check)

    def base(self, failures: int) -> float:
        """The wait after `failures` consecutive failures, before jitter."""
        if failures < 1:
            return 0.0
        exponent = min(failures - 1, _MAX_EXPONENT)
        return min(self.maximum, self.initial * self.multiplier**exponent)

    def delay(self, failures: int, random: float) -> float:
        """The wait after `failures` consecutive failures.

        Args:
            failures: how many attempts in a row failed; 0 means no wait.
            random: a number in [0, 1), from `random.random()` or a test.

        Returns:
            0 for no failures, else a wait in ``[initial, maximum]``.
        """
        base = self.base(failures)
        if base == 0.0:
            return 0.0
        return min(self.maximum, base * (1 + self.jitter * random))
