"""Parallel first loads: one file imported by several processes, each owning part of the people.

A first import of a large export is CPU-bound in Python (reading, validating and building
the records), so it scales with processes, not threads. Each worker reads the whole file
but builds and writes only the orders of the people whose email falls in its part (a
stable hash of the normalised email), so every person, with all their orders, belongs to
exactly one worker and its caches stay exact without asking the store. Writes from the
workers take turns through the store's own write lock. Orders that carry no email (only a
phone, or nothing) are imported afterwards in the calling process, where people can be
found by phone among everything the workers wrote.

This needs a store that another process can open (one with a ``url`` attribute that
:func:`ecomcrm.open_store` accepts, as the SQLite store has) and that holds no customers and
no orders yet. The result is the same as a sequential import's, with two exceptions that
only concern phones: when two people of different parts share a phone, which of them keeps
it depends on timing; and an order with only a phone is matched against everybody the
workers wrote, including people whose first order comes later in the file (a sequential
import would have created a phone-only person for it).
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import attrs

from ecomcrm.errors import StorageError, ValidationError
from ecomcrm.io._batches import count_repeated_orders
from ecomcrm.io._progress import ProgressOption, make_progress
from ecomcrm.io._report import ImportReport
from ecomcrm.storage import Store, SupportsSharedUrl


@attrs.frozen
class Part:
    """Which orders one run of an importer takes: a worker's people, or the email-less rest.

    ``index`` in ``range(count)`` selects the people whose email hashes to it; ``index ==
    -1`` selects the orders without an email. ``complete`` and ``fresh`` tell the resolver
    and the batch writer that the store held nothing of this part when the run began.
    """

    index: int
    count: int
    complete: bool | None = None
    fresh: bool | None = None

    def selects(self, email_text: str) -> bool:
        """True when the order whose email cell is ``email_text`` belongs to this part."""
        text = email_text.strip()
        if self.index < 0:
            return not text
        return bool(text) and self.bucket(text, self.count) == self.index

    @staticmethod
    def bucket(email_text: str, count: int) -> int:
        """The part of ``count`` an email belongs to: a stable hash of its normalised form.

        Emails are normalised by trimming and lower-casing (as identities are), so every
        spelling of one address lands in the same part; invalid ones too (and are rejected
        there).
        """
        return zlib.crc32(email_text.strip().lower().encode()) % count


def parallel_import_possible(store: Store) -> bool:
    """True when ``store`` can take a parallel first load: a shared ``url``, no people or orders.

    Example:
        >>> import ecomcrm, os, tempfile
        >>> parallel_import_possible(ecomcrm.open_store("memory://"))
        False
        >>> path = os.path.join(tempfile.mkdtemp(), "crm.db")
        >>> parallel_import_possible(ecomcrm.open_store(f"sqlite:///{path}"))
        True
    """
    return (
        _shared_url(store) is not None
        and store.customers.count() == 0
        and store.orders.count() == 0
    )


def _shared_url(store: Store) -> str | None:
    """The URL worker processes open the store by (``SupportsSharedUrl``), or None."""
    return store.url if isinstance(store, SupportsSharedUrl) else None


ImportPart = Callable[..., ImportReport]
"""``import_part(store, path, part, *, done, **options)``: one part of a file, its report.

A worker's report counts, in ``extra[LEFT_FOR_CALLER]``, the records it saw that belong to
no worker (no email); the caller's final pass reads the file again only when there are any.
"""

LEFT_FOR_CALLER = "_left_for_caller"


def _worker_main() -> None:
    """Run one part in this process: the payload comes pickled on stdin, progress goes out.

    Workers are started as ``python -m ecomcrm.io._parallel`` (not by multiprocessing),
    so the caller's ``__main__`` is never imported again and nothing is inherited from
    the caller's process (no SQLite handle crosses a fork).
    """
    from ecomcrm.storage import open_store

    # This process only imports: its records die young and hold no reference cycles, so
    # the cyclic collector would only re-scan the caches (about a tenth of the time).
    gc.disable()
    url, path, target, part, options, result_path = pickle.load(sys.stdin.buffer)
    module, _, name = target.partition(":")
    import_part: ImportPart = getattr(importlib.import_module(module), name)

    def done(n: int) -> None:
        sys.stdout.write(f"{n}\n")
        sys.stdout.flush()

    store = open_store(url)
    try:
        report = import_part(store, path, part, done=done, **options)
    finally:
        store.close()
    with open(result_path, "wb") as handle:
        pickle.dump(report, handle)


class _Worker:
    """One worker process and a thread counting the records it reports written."""

    def __init__(self, payload: tuple[Any, ...], result_path: str) -> None:
        self.result_path = result_path
        self.written = 0
        # Error output goes to a file: a pipe nobody reads until the end could fill up.
        self._errors = open(result_path + ".err", "w+b")  # noqa: SIM115 - closed in finish()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ecomcrm.io._parallel"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
        )
        assert self.process.stdin is not None
        pickle.dump((*payload, result_path), self.process.stdin)
        self.process.stdin.close()
        self._reader = threading.Thread(target=self._count, daemon=True)
        self._reader.start()

    def _count(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.written += int(line)

    def finish(self) -> ImportReport:
        """Wait for the process; its report, or StorageError with its error output."""
        code = self.process.wait()
        self._reader.join()
        self._errors.seek(0)
        errors = self._errors.read().decode(errors="replace")
        self._errors.close()
        if code != 0:
            raise StorageError(f"an import worker failed (exit {code}): {errors.strip()[-2000:]}")
        with open(self.result_path, "rb") as handle:
            report: ImportReport = pickle.load(handle)
        return report


def run_parallel(
    store: Store,
    path: str | os.PathLike[str],
    import_part: ImportPart,
    *,
    workers: int,
    progress: ProgressOption,
    kind: str,
    unit: str,
    **options: Any,
) -> ImportReport:
    """Import ``path`` into an empty ``store`` with ``workers`` processes, then the rest here.

    ``import_part`` is a module-level function (workers import it by name).
    """
    if workers < 1:
        raise ValidationError("must be at least 1", field="workers", value=workers)
    url = _shared_url(store)
    if url is None:
        raise ValidationError(
            "cannot be shared with worker processes (no SupportsSharedUrl url)",
            entity="parallel import",
            field="store",
            value=repr(store),
        )
    name = os.path.basename(os.fspath(path))
    target = f"{import_part.__module__}:{import_part.__name__}"
    bar = make_progress(progress, f"import {name}", unit=unit)
    report = ImportReport(source=name, kind=kind)
    try:
        with tempfile.TemporaryDirectory(prefix="ecomcrm-import-") as scratch:
            procs = [
                _Worker(
                    (url, os.fspath(path), target, Part(i, workers, True, True), options),
                    os.path.join(scratch, f"part{i}.pickle"),
                )
                for i in range(workers)
            ]
            try:
                shown = 0
                while any(p.process.poll() is None for p in procs):
                    if any(p.process.poll() not in (None, 0) for p in procs):
                        break  # a worker failed: stop the others (finish() reports it)
                    time.sleep(0.2)
                    now = sum(p.written for p in procs)
                    bar.update(now - shown)
                    shown = now
                failed = [p for p in procs if p.process.poll() not in (None, 0)]
                if failed:
                    failed[0].finish()  # raises its error; `finally` stops the others
                for proc in procs:
                    report.merge(proc.finish())
                bar.update(sum(p.written for p in procs) - shown)
            finally:
                for proc in procs:
                    if proc.process.poll() is None:
                        proc.process.kill()
                        proc.process.wait()
        # Every worker counted its orders as new; an id that came twice was written twice.
        count_repeated_orders(report, report.imported, store.orders.count())
        if report.extra.pop(LEFT_FOR_CALLER, 0) > 0:
            rest = import_part(store, path, Part(-1, workers), done=bar.update, **options)
            report.merge(rest)
    finally:
        bar.close()
    report.count("workers", workers)
    report.rejections.sort(key=lambda r: (r.file, r.line))
    return report


if __name__ == "__main__":
    _worker_main()
