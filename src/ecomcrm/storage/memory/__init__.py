"""The memory adapter: the whole store contract in plain Python structures.

One layer per module: ``_undo`` (the undo log and the transaction that replays it),
``_tables`` (the owned tables: records by id with per-customer indexes, per-column lists
for the columnar reads, sorted state keys), ``_repositories`` and ``_state`` (the
repositories over those tables), ``_store`` (:class:`MemoryStore`).

Example:
    >>> from ecomcrm.storage.memory import MemoryStore
    >>> MemoryStore().customers.count()
    0
"""

from __future__ import annotations

from ecomcrm.storage.memory._store import MemoryStore

__all__ = ["MemoryStore"]
