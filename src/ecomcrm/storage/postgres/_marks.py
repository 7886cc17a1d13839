"""``SupportsEventMarks`` for the PostgreSQL state area: marks join the batch as new rows.

A mark ``(key, at, owner)`` is the row ``key`` -> ``{"at": at, "cust": owner}`` (version 1,
owned by ``owner``), inserted by the same :meth:`PostgresState.apply` statement batch as the
changes it comes with: one transaction, so the exactly-once promise is the batch's (a mark
another process inserted first is a unique violation, hence a ConflictError, and nothing of
the batch is written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import ecomcrm.storage.toolkit as sh
from ecomcrm.storage._capabilities import EventMark, StateChange


class EventMarks:
    """Mixin of :class:`~ecomcrm.storage.postgres._state.PostgresState`: ``apply_marked``.

    Example:
        >>> callable(EventMarks.apply_marked)
        True
    """

    apply: Callable[[Iterable[StateChange]], None]

    def apply_marked(self, changes: Iterable[StateChange], marks: Iterable[EventMark]) -> None:
        """``apply(changes)`` plus new marks ``(key, at µs, owner)``, all or nothing.

        Example:
            >>> EventMarks.apply_marked.__name__
            'apply_marked'
        """
        rows: list[StateChange] = [
            (key, {"at": at, "cust": owner}, None, owner)
            for key, at, owner in map(sh.check_event_mark, marks)
        ]
        self.apply([*changes, *rows])
