"""The memory store's audit log: an undo-logged dict of entries by sequence number."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING

import ecomcrm.storage.toolkit as sh
from ecomcrm.storage._audit import AuditEntry

if TYPE_CHECKING:
    from ecomcrm.storage._protocols import Store
    from ecomcrm.storage.memory._tables import _Tables


class _Audit(sh.BaseAuditLog):
    """Entries kept in the store's tables (rolled back with the transaction that wrote them)."""

    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables
        self._entries: dict[int, AuditEntry] = {}

    def add(self, entries: Sequence[AuditEntry]) -> None:
        s = self._s
        s._check_open()
        with s._transaction():
            for entry in entries:
                s._dset(self._entries, s._next_seq(), entry)

    def scan(self) -> Iterator[AuditEntry]:
        self._s._check_open()
        return iter(list(self._entries.values()))

    def rename_subjects(self, subjects: Collection[str], to: str) -> None:
        s = self._s
        wanted = set(subjects)
        for seq, entry in list(self._entries.items()):
            if entry.subject in wanted:
                s._dset(self._entries, seq, sh.pseudonymised(entry, wanted, to))
