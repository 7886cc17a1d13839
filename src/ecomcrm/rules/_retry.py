"""How the engine retries a unit of work that lost a race (a conflict or a busy store).

The engine's units of work (one event, one batch, one due timer, an acknowledgement) read,
compute and commit with compare-and-set. When another process committed first the commit
fails with :class:`~ecomcrm.errors.ConflictError`; when a database stays locked past its
own wait it fails with :class:`~ecomcrm.errors.StorageBusyError`. Nothing was written in
either case, and the unit is simply computed again from the fresh state. Immediately
trying again mostly loses the same race again, so the tries are spaced by a short,
growing, jittered pause; after ``attempts`` tries the error is raised, never swallowed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import attrs

from ecomcrm.errors import ConfigurationError


def _positive_int(instance: Retry, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 1:
        raise ConfigurationError(
            "must be a whole number >= 1", entity="Retry", field=attribute.name, value=value
        )


def _non_negative(instance: Retry, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigurationError(
            "must be a number of seconds >= 0", entity="Retry", field=attribute.name, value=value
        )


@attrs.frozen(kw_only=True)
class Retry:
    """How many times, and how far apart, the engine retries work that lost a race.

    Try ``n`` (1-based) that fails waits ``random.uniform(0, min(max_delay,
    first_delay * 2 ** (n - 1)))`` seconds through ``sleep`` before try ``n + 1``
    ("full jitter": processes that collided spread out instead of colliding again).
    After ``attempts`` failed tries the last error is raised: a
    :class:`~ecomcrm.errors.ConflictError` or :class:`~ecomcrm.errors.StorageBusyError`
    naming the work and the number of tries; the event is then not handled (nothing of it
    was written) and the caller must deliver it again.

    The defaults (8 tries, 2 ms doubling to at most 250 ms) pause at most 0.76 s in total
    per unit of work; on SQLite each try may also wait up to the store's ``timeout`` for
    the write lock inside SQLite itself.

    ``sleep`` is the only place the library pauses. The engine otherwise never sleeps
    (time is passed in); waiting between tries is what makes retries under contention
    useful, so it is a parameter: pass ``sleep=None`` to retry at once (a test, an async
    app that prefers to reschedule), or your own function (``gevent.sleep``, a counter).

    Args:
        attempts: Tries in all (1 means no retry).
        first_delay: Upper bound of the first pause, in seconds.
        max_delay: Upper bound of any pause, in seconds.
        sleep: Called with each pause in seconds; None retries without pausing.

    Example:
        >>> pauses = []
        >>> retry = Retry(attempts=3, sleep=pauses.append)
        >>> [0 <= d <= retry.bound(n) for n, d in enumerate(retry.delays(), 1)]
        [True, True]
        >>> Retry.immediate().sleep is None
        True
    """

    attempts: int = attrs.field(default=8, validator=_positive_int)
    first_delay: float = attrs.field(default=0.002, validator=_non_negative)
    max_delay: float = attrs.field(default=0.25, validator=_non_negative)
    sleep: Callable[[float], None] | None = attrs.field(default=time.sleep, eq=False)

    @classmethod
    def immediate(cls, attempts: int = 8) -> Retry:
        """Retry at once, without pausing (the engine's behaviour before ``Retry`` existed).

        Example:
            >>> Retry.immediate(3).attempts
            3
        """
        return cls(attempts=attempts, sleep=None)

    def bound(self, n: int) -> float:
        """The largest pause after the ``n``-th failed try (1-based), in seconds.

        Example:
            >>> Retry().bound(1), Retry().bound(20)
            (0.002, 0.25)
        """
        return min(self.max_delay, self.first_delay * 2.0 ** min(n - 1, 60))

    def delays(self) -> list[float]:
        """The pauses for one unit of work (``attempts - 1`` of them), drawn with jitter.

        Example:
            >>> len(Retry(attempts=4).delays())
            3
        """
        return [random.uniform(0.0, self.bound(n)) for n in range(1, self.attempts)]

    def pause(self, n: int) -> None:
        """Pause after the ``n``-th failed try (nothing when ``sleep`` is None).

        Example:
            >>> Retry(sleep=None).pause(1)
        """
        if self.sleep is not None:
            self.sleep(random.uniform(0.0, self.bound(n)))
