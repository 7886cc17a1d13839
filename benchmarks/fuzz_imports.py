"""Mutated exports against every importer: how many end in something other than a report or an ecomcrm error.

Each case takes one of the sample files in tests/data, mutates it (byte flips, truncation, a
cell or JSON value replaced by a hostile one, a line duplicated or deleted, the file
re-encoded), and imports it in a child process with a time limit (``--timeout``, 10 s) and
a memory limit (2 GiB). The outcome is one of:

- ``report``: the import returned its report (rows imported or rejected);
- ``report with an unexpected error``: a record was rejected for an exception no rule
  foresaw (the importer's last line of defence, which keeps the rest of the file going);
- ``ecomcrm``: it raised an ``ecomcrm.errors.EcomcrmError`` (a file-level error);
- ``crash:<type>``: it raised anything else;
- ``timeout`` / ``killed``: it did not finish in time, or ran out of memory.

The same ``--seed`` gives the same cases, so two checkouts compare side by side::

    python benchmarks/fuzz_imports.py --cases 400 --seed 14
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/fuzz_imports.py --cases 400 --seed 14
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
# the column mappings of the generic sample files
MAPPINGS = json.loads((DATA / "generic_mappings.json").read_text(encoding="utf-8"))
ORDER_MAP = MAPPINGS["orders"]
CUSTOMER_MAP = MAPPINGS["customers"]
EVENT_MAP = MAPPINGS["events"]
UCI_MAP = MAPPINGS["uci_orders"]


# (name, sample file, how to import it)
IMPORTERS: list[tuple[str, str, str]] = [
    ("shopify_orders", "shopify_orders.csv", "import_shopify_orders(store, path)"),
    ("shopify_orders_bad", "shopify_orders_bad.csv", "import_shopify_orders(store, path)"),
    ("shopify_customers", "shopify_customers.csv", "import_shopify_customers(store, path)"),
    ("woocommerce", "woocommerce_orders.csv", "import_woocommerce_orders(store, path)"),
    ("generic_orders", "generic_orders.csv",
     "import_generic(store, path, kind='orders', mapping=ORDER_MAP, currency='GBP')"),
    ("generic_customers", "generic_customers.jsonl",
     "import_generic(store, path, kind='customers', mapping=CUSTOMER_MAP)"),
    ("generic_events", "generic_events.csv",
     "import_generic(store, path, kind='events', mapping=EVENT_MAP)"),
    ("segment", "segment_events.jsonl", "import_segment_events(store, path)"),
    ("ga4", "ga4_events.jsonl", "import_ga4_events(store, path)"),
    # the real-layout files (other platforms' exports of the same kinds)
    ("shopify_orders_bdt", "shopify_orders_bdt.csv", "import_shopify_orders(store, path)"),
    ("shopify_customers_legacy", "shopify_customers_legacy.csv",
     "import_shopify_customers(store, path)"),
    ("woocommerce_export", "woocommerce_orders_export.csv",
     "import_woocommerce_orders(store, path)"),
    ("rudderstack", "rudderstack_segment.jsonl", "import_segment_events(store, path)"),
    ("uci", "uci_online_retail.csv",
     "import_generic(store, path, kind='orders', mapping=UCI_MAP, currency='GBP')"),
]  # fmt: skip

HOSTILE_CELLS = [
    "1e1000000", "1e9999999999", "1e999999", "-1e999999", "inf", "-inf", "NaN", "sNaN",
    "12345678901234567890", "1e30", "9" * 5000, "0001-01-01 00:00:00 +0500",
    "9999-12-31 23:59:59 -0500", "2024-01-01 00:00:00 +2500", "2024-01-01T00:00:00+25:00",
    "abc", "", "-", "\x00", "'", '"', '"unterminated', "a,b", "\u202e\ufeff", "1" * 400,
    "-5", "0", "0.000000000000000000001", "1,5", "1.000.000,5", "XYZ", "EUR",
]  # fmt: skip
HOSTILE_JSON = [
    "1e1000000", "1e9999999999", "1e999999", "-1e400", "NaN", "Infinity", "1e20", "1e30",
    "9" * 5000, '"abc"', '"1e9999999999"', '"0001-01-01 00:00:00 +0500"',
    '"2024-01-01T00:00:00+25:00"', "null", "true", "[]", "{}", '{"int_value": "abc"}',
    '"x"', "[" * 100_000 + "]" * 100_000, "-1", "0",
]  # fmt: skip


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _mutate_csv_cell(rng: random.Random, data: bytes) -> bytes:
    text = data.decode("utf-8")
    lines = text.splitlines(keepends=True)
    if len(lines) < 2:
        return data
    k = rng.randrange(1, len(lines))
    cells = lines[k].rstrip("\r\n").split(",")
    cells[rng.randrange(len(cells))] = rng.choice(HOSTILE_CELLS)
    lines[k] = ",".join(cells) + "\n"
    return "".join(lines).encode("utf-8")


def _replace_json(rng: random.Random, value: Any, raw: str) -> tuple[Any, bool]:
    """Replace one random leaf (or value) of ``value`` by a marker later swapped for ``raw``."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        value[key], done = _replace_json(rng, value[key], raw)
        if not done:
            value[key] = "\x00MARK\x00"
        return value, True
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        value[i], done = _replace_json(rng, value[i], raw)
        if not done:
            value[i] = "\x00MARK\x00"
        return value, True
    return value, False


def _mutate_json_value(rng: random.Random, data: bytes) -> bytes:
    lines = data.decode("utf-8").splitlines()
    k = rng.randrange(len(lines))
    raw = rng.choice(HOSTILE_JSON)
    try:
        value = json.loads(lines[k])
    except (ValueError, RecursionError):
        return data
    value, done = _replace_json(rng, value, raw)
    text = json.dumps(value) if done else json.dumps("\x00MARK\x00")
    lines[k] = text.replace(json.dumps("\x00MARK\x00"), raw)
    return ("\n".join(lines) + "\n").encode("utf-8")


def mutate(rng: random.Random, data: bytes, is_json: bool) -> bytes:
    """One to three random mutations of a file's bytes (most keep it valid UTF-8)."""
    for _ in range(rng.randint(1, 3)):
        how = rng.choices(range(9), weights=[8, 10, 40, 8, 8, 4, 8, 4, 10])[0]
        if how == 0 and data:  # flip a few bytes to anything
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
        elif how == 1 and data:  # truncate
            data = data[: rng.randrange(len(data))]
        elif how == 2:  # a hostile value
            with contextlib.suppress(UnicodeDecodeError):
                data = _mutate_json_value(rng, data) if is_json else _mutate_csv_cell(rng, data)
        elif how == 3 and data:  # duplicate a line
            lines = _lines(data)
            k = rng.randrange(len(lines))
            lines.insert(k, lines[k])
            data = b"".join(lines)
        elif how == 4 and data:  # delete a line
            lines = _lines(data)
            del lines[rng.randrange(len(lines))]
            data = b"".join(lines)
        elif how == 5:  # another encoding
            enc = rng.choice(["utf-16", "latin-1", "cp1252"])
            text = data.decode("utf-8", "replace").replace("e", "\u00e9", 3)
            data = text.encode(enc, "replace")
        elif how == 6 and data:  # insert a stray quote
            i = rng.randrange(len(data))
            data = data[:i] + b'"' + data[i:]
        elif how == 7:  # random binary garbage somewhere
            i = rng.randrange(len(data) + 1)
            data = data[:i] + rng.randbytes(rng.randint(1, 64)) + data[i:]
        elif how == 8 and data:  # flip a few bytes to other printable ASCII ones
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.choice(b'0123456789-+.:,"{}[]eE TZx\n')
            data = bytes(b)
    return data


def _child(expr: str, path: str, store_url: str) -> str:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    import ecomcrm
    import ecomcrm.io
    from ecomcrm.errors import EcomcrmError

    store = ecomcrm.open_store(store_url)
    scope = dict(
        vars(ecomcrm.io),
        store=store,
        path=path,
        UCI_MAP=UCI_MAP,
        ORDER_MAP=ORDER_MAP,
        CUSTOMER_MAP=CUSTOMER_MAP,
        EVENT_MAP=EVENT_MAP,
    )
    try:
        report = eval(expr, scope)
    except EcomcrmError:
        return "ecomcrm"
    except MemoryError:
        return "killed"
    except BaseException as exc:
        return f"crash:{type(exc).__name__}"
    if any("unexpected" in r.reason for r in report.rejections):
        return "report with an unexpected error"
    return "report"


def run_case(expr: str, path: str, store_url: str, timeout: float) -> str:
    """Import in a forked child; the outcome's name."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        try:
            outcome = _child(expr, path, store_url)
        except BaseException as exc:
            outcome = f"crash:{type(exc).__name__}"
        os.write(write, outcome.encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + timeout
    while True:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return "timeout"
        time.sleep(0.01)
    got = os.read(read, 200).decode()
    os.close(read)
    return got or "killed"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--store", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--show", type=int, default=0, help="print this many failing cases")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    import ecomcrm.io  # imported once here, so each forked child starts with it

    outcomes: collections.Counter[str] = collections.Counter()
    per_importer: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    shown = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(args.cases):
            name, sample, expr = IMPORTERS[case % len(IMPORTERS)]
            data = (DATA / sample).read_bytes()
            mutated = mutate(rng, data, sample.endswith(".jsonl"))
            path = os.path.join(tmp, f"case{case}{Path(sample).suffix}")
            with open(path, "wb") as f:
                f.write(mutated)
            url = "memory://" if args.store == "memory" else f"sqlite:///{tmp}/case{case}.db"
            outcome = run_case(expr, path, url, args.timeout)
            outcomes[outcome] += 1
            per_importer[name][outcome] += 1
            bad = outcome not in ("report", "ecomcrm")  # an unexpected rejection counts
            if bad and shown < args.show:
                shown += 1
                print(f"case {case} {name}: {outcome} ({path})", file=sys.stderr)
                keep = Path(tempfile.gettempdir()) / f"fuzz_case{case}{Path(sample).suffix}"
                keep.write_bytes(mutated)
    elapsed = time.perf_counter() - started
    bad = sum(n for o, n in outcomes.items() if o not in ("report", "ecomcrm"))
    print(f"ecomcrm from {Path(ecomcrm.__file__).parent}")
    print(f"{args.cases} mutated imports (seed {args.seed}, {args.store} store) in {elapsed:.0f} s")
    print(f"not a report nor an ecomcrm error: {bad}")
    for outcome, n in outcomes.most_common():
        print(f"  {outcome:32} {n}")
    for name, counts in sorted(per_importer.items()):
        print(f"  {name:20} " + ", ".join(f"{o} {n}" for o, n in counts.most_common()))


if __name__ == "__main__":
    main()
