"""The importers' batched, idempotent writes: one store transaction per batch of items.

An importer turns each record of a file into an :class:`Item` (the customers, order,
refunds, consents, events and identity links it implies) and hands it to a
:class:`BatchWriter`, which writes a batch of items in one store transaction and sorts every
record into exactly one bucket of the :class:`ImportReport`. When a batch fails as a whole,
it is retried item by item, so one bad record is rejected with its reason and the others
still go in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence

import attrs

from ecomcrm.domain import Customer, Event, IdentityKind, Order
from ecomcrm.errors import ConflictError, EcomcrmError, NotFoundError, ValidationError
from ecomcrm.io._people import Resolver
from ecomcrm.io._progress import Progress
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, reject, unexpected
from ecomcrm.io._seen_keys import SeenKeys
from ecomcrm.storage import Store, SupportsBulkLoad, SupportsPreparedOrders

DEFAULT_BATCH_SIZE = 2_000


class BatchWriter:
    """Writes items in batches, one store transaction per batch, and fills the report.

    A record is counted by its main content: the order when it has one, else its events,
    else its customer. Orders are compared with the stored version (unchanged ones are
    not rewritten) unless the store had no orders when the import began, where every
    order is new unless the same id comes twice (corrected from the final order count).
    """

    def __init__(
        self,
        store: Store,
        report: ImportReport,
        resolver: Resolver,
        progress: Progress,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        fresh: bool | None = None,
        done: Callable[[int], None] | None = None,
        bulk: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValidationError("must be at least 1", field="batch_size", value=batch_size)
        self.store = store
        self.report = report
        self.resolver = resolver
        self.progress = progress
        self.batch_size = batch_size
        self._items: list[Item] = []
        self._orders_at_start = store.orders.count()
        # ``fresh`` given: a worker of a parallel import, whose caller settles repeated ids.
        self._fresh = self._orders_at_start == 0 if fresh is None else fresh
        self._settle_repeats = fresh is None
        self._fresh_imported = 0
        # Order ids written in this run (a Bloom filter: a hit is confirmed by the store), so
        # an id that comes again is compared with its earlier version even on a first load.
        self._seen_orders = SeenKeys() if self._fresh else None
        self._warnings: list[tuple[int, str, str]] = []  # emitted once their batch commits
        self._done = done  # told how many items each batch wrote (a parallel import's worker)
        # A store's optional bulk mode (SupportsBulkLoad), held until finish()/close().
        self._bulk = contextlib.ExitStack()
        if bulk and isinstance(store, SupportsBulkLoad):
            self._bulk.enter_context(store.bulk_load())
        self._closed = False
        self.written = 0  # records written by the batches committed so far
        self._flushing_from: int | None = None  # first line of the batch being written

    def stopped(self, exc: BaseException, line: int) -> None:
        """Note on ``exc``, which ends the import at ``line``, what is stored and how to finish.

        Batches are committed one by one, so the records of earlier batches stay; imports
        are idempotent, so importing the same file again finishes the job exactly.
        """
        first = self._flushing_from or (self._items[0].line if self._items else line)
        exc.add_note(
            f"The import of {self.report.source} stopped at line {line}: the {self.written} "
            f"records before line {first} are stored, the ones from line {first} on are not. "
            "Importing the same file again finishes it (stored records count as unchanged)."
        )

    def add(self, item: Item) -> None:
        """Queue an item; writes the batch when it is full."""
        self._items.append(item)
        if len(self._items) >= self.batch_size:
            self.flush()

    def finish(self) -> ImportReport:
        """Write what is left and settle the counts."""
        try:
            self.flush()
        except BaseException as exc:
            self.stopped(exc, self._flushing_from or 0)
            raise
        if self._settle_repeats and self._fresh and self._fresh_imported:
            created = self.store.orders.count() - self._orders_at_start
            count_repeated_orders(self.report, self._fresh_imported, created)
        self.close()
        return self.report

    def close(self) -> None:
        """Leave the store's bulk mode (if it was entered) and close the progress display."""
        if not self._closed:
            self._closed = True
            self._bulk.close()
            self.progress.close()

    def flush(self) -> None:
        """Write the queued items in one transaction (item by item if that fails)."""
        items, self._items = self._items, []
        if not items:
            return
        self._flushing_from = items[0].line
        # New orders' rows are computed before the transaction, where the store offers it,
        # so other writers (a parallel import's workers) wait less for the write lock.
        orders = self.store.orders
        try:
            prepared = (
                orders.prepare_many([item.order for item in items if item.order is not None])
                if self._fresh and isinstance(orders, SupportsPreparedOrders)
                else None
            )
            with self.store.transaction():
                counts = self._write(items, self.resolver.pending.values(), prepared)
        except MemoryError:
            raise
        except Exception:  # an ecomcrm error, or any other: find the record(s) at fault
            self._warnings.clear()
            self.resolver.batch_failed()
            counts = self._write_one_by_one(items)
        else:
            self._emit_warnings()
            self.resolver.batch_written()
        self.written += sum(counts.values())
        self._flushing_from = None
        for name, n in counts.items():
            setattr(self.report, name, getattr(self.report, name) + n)
        self.progress.update(len(items))
        if self._done is not None:
            self._done(len(items))

    def _emit_warnings(self) -> None:
        for line, order_id, reason in self._warnings:
            self.report.warn(line=line, column=None, reason=reason, value=order_id)
        self._warnings.clear()

    def _write_one_by_one(self, items: list[Item]) -> dict[str, int]:
        totals = {"imported": 0, "updated": 0, "unchanged": 0}
        for item in items:
            try:
                with self.store.transaction():
                    counts = self._write([item], item.customers)
                self._emit_warnings()
            except EcomcrmError as exc:
                self._warnings.clear()
                retried = self._without_claimed_phones(item, exc)
                if retried is None:
                    column = exc.field if isinstance(exc, ValidationError) else None
                    self.report.reject(line=item.line, column=column, reason=str(exc))
                    continue
                counts = retried
            except MemoryError:
                raise
            except Exception as exc:  # not foreseen (a bug some input triggers): reported
                reject(self.report, item.line, unexpected(exc))
                continue
            for name, n in counts.items():
                totals[name] += n
        return totals

    def _without_claimed_phones(self, item: Item, exc: EcomcrmError) -> dict[str, int] | None:
        """Retry an item whose new customer's phone another customer holds, without the phone.

        The same rule as :meth:`Resolver.unowned` for customers that orders or events bring
        in, for a phone claimed after the item was built (by another process, or a worker
        of a parallel import). None when the item still fails, the error was not a
        conflict, or the item comes from a customers file (whose rows are rejected).
        """
        phone = IdentityKind.PHONE
        if item.customer_state is not None:  # a customers file states the phone: report it
            return None
        if not isinstance(exc, ConflictError) or not any(
            i.kind is phone for c in item.customers for i in c.identities
        ):
            return None
        customers = []
        dropped = 0
        for customer in item.customers:
            kept = [i for i in customer.identities if i.kind is not phone]
            if not kept:
                return None
            dropped += len(customer.identities) - len(kept)
            customers.append(attrs.evolve(customer, identities=kept))
        try:
            with self.store.transaction():
                counts = self._write([item], customers)
        except EcomcrmError:
            self._warnings.clear()
            return None
        self._emit_warnings()
        self.report.count("phones_already_in_use", dropped)
        return counts

    def _write(
        self,
        items: list[Item],
        customers: Iterable[Customer],
        prepared: Sequence[Order] | None = None,
    ) -> dict[str, int]:
        store = self.store
        counts = {"imported": 0, "updated": 0, "unchanged": 0}
        to_write = list(customers)
        if to_write:
            store.customers.put_many(to_write)
        orders: list[Order] = []
        events: list[Event] = []
        order_events: list[Event] = []
        multi: list[Item] = []
        in_batch: dict[str, Order] = {}
        seen = self._seen_orders
        fresh_new = 0
        for item in items:
            order = item.order
            if order is not None:
                order_events.extend(item.events)  # counted with the order
                existing: Order | None = in_batch.get(order.id)
                if existing is None and (seen is None or order.id in seen):
                    try:
                        existing = store.orders.get(order.id)
                    except NotFoundError:
                        existing = None
                if seen is not None:
                    seen.add(order.id)
                in_batch[order.id] = order
                if existing is None:
                    counts["imported"] += 1
                    fresh_new += 1
                    orders.append(order)
                elif existing == order:
                    counts["unchanged"] += 1
                else:
                    counts["updated"] += 1
                    orders.append(order)
                    self._warnings.append((
                        item.line, order.id,
                        "this order id came before with different content; this version "
                        "replaced it",
                    ))  # fmt: skip
            elif len(item.events) == 1:
                events.append(item.events[0])
                counts["imported"] += 1  # corrected below by how many were already stored
            elif item.events:
                multi.append(item)
            elif item.customer_state is not None:
                counts[item.customer_state] += 1
        if orders:
            # ``prepared`` holds every order of the batch in file order (repeats too): the
            # later version of a repeated id is written last and wins, as in ``orders``.
            store.orders.put_many(prepared if prepared is not None else orders)
            if self._fresh:
                self._fresh_imported += fresh_new
        refund_list = [refund for item in items for refund in item.refunds]
        refunds = store.orders.add_refunds(refund_list) if refund_list else 0
        consent_list = [consent for item in items for consent in item.consents]
        if consent_list:
            store.consents.record_many(consent_list)
        consents = len(consent_list)
        if refunds:
            self.report.count("refunds", refunds)
        if consents:
            self.report.count("consents", consents)
        if order_events:
            store.events.append_many(order_events)
        if events:
            known = len(events) - store.events.append_many(events)
            counts["imported"] -= known
            counts["unchanged"] += known
        for item in multi:
            new_here = sum(bool(store.events.append(event)) for event in item.events)
            counts["imported" if new_here else "unchanged"] += 1
        for item in items:
            for survivor, merged, at in item.merges:
                store.merge(survivor, merged, at=at)
            for customer_id, identity in item.links:
                store.link_identity(customer_id, identity)
        return counts


def count_repeated_orders(report: ImportReport, written_as_new: int, created: int) -> None:
    """Orders counted as new beyond those created repeated an id: count them as updated."""
    repeated = written_as_new - created
    if repeated > 0:  # the same order id came twice in the file
        report.imported -= repeated
        report.updated += repeated
