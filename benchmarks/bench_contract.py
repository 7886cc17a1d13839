"""The size of the storage adapter contract, counted by introspection (issue 21.3).

Run::

    .venv/bin/python benchmarks/bench_contract.py

Prints, side by side:

1. the methods of the store contract (the ``ecomcrm.storage`` protocols: ``Store`` and its
   eight repository protocols), counted from the classes;
2. the methods an adapter built on the toolkit's base classes must write
   (``ecomcrm.storage.toolkit.required_methods()``: the abstract methods of ``BaseStore`` and
   the base repositories), with their names;
3. the line count of the example adapter, ``examples/dict_store.py``, and how many methods
   it defines.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import ecomcrm.storage as storage
from ecomcrm.storage import toolkit

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dict_store.py"
PROTOCOLS = (
    storage.Store,
    storage.CustomerRepository,
    storage.OrderRepository,
    storage.EventRepository,
    storage.ConsentRepository,
    storage.TicketRepository,
    storage.LoyaltyRepository,
    storage.MessageRepository,
    storage.StateRepository,
)


def contract_methods() -> dict[str, int]:
    """Methods (not repository members, not dunders) each protocol declares."""
    return {
        protocol.__name__: sum(
            1
            for name, member in vars(protocol).items()
            if inspect.isfunction(member) and not name.startswith("_")
        )
        for protocol in PROTOCOLS
    }


def example_methods(path: Path) -> int:
    """The methods the example defines (its classes' ``def``s, helpers included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sum(
        isinstance(node, ast.FunctionDef)
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
    )


def main() -> None:
    """Print the figures."""
    per_protocol = contract_methods()
    total = sum(per_protocol.values())
    required = toolkit.required_methods()
    print("store contract (ecomcrm.storage protocols):")
    for name, count in per_protocol.items():
        print(f"  {name:<20} {count:>3} methods")
    print(f"  {'total':<20} {total:>3} methods")
    declared = {  # "BaseOrderRepository.get" implements OrderRepository.get
        f"Base{protocol.__name__}.{name}"
        for protocol in PROTOCOLS
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }
    names = list(toolkit.required_method_names())
    primitives = [n for n in names if n not in declared]
    print(f"adapter on the toolkit base classes must write: {required} methods")
    print(
        f"  {required - len(primitives)} contract methods (the base classes derive the other "
        f"{total - required + len(primitives)} of {total}) and {len(primitives)} primitives:"
    )
    for name in names:
        print(f"    {name}{'  (primitive)' if name in primitives else ''}")
    lines = len(EXAMPLE.read_text(encoding="utf-8").splitlines())
    print(f"example adapter {EXAMPLE.name}: {lines} lines, {example_methods(EXAMPLE)} methods")


if __name__ == "__main__":
    main()
