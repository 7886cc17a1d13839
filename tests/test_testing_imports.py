"""The published test helpers import in any order, in a fresh interpreter (issue 21.7).

A plugin author's test file starts with ``import ecomcrm.testing.strategies``; that import
imports Hypothesis, which runs ecomcrm's ``hypothesis`` entry point
(``ecomcrm._hypothesis_plugin``) before the strategies module has finished loading. Each
case runs in its own subprocess because in this test process everything is imported
already, which would hide an import-order failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_DRAW_ALL = """
from hypothesis import given, settings, strategies as st
from ecomcrm import domain

types = [domain.Customer, domain.Identity, domain.Address, domain.Consent, domain.Product,
         domain.OrderLine, domain.Order, domain.Event, domain.SupportTicket,
         domain.LoyaltyEntry, domain.Message]

@settings(max_examples=3, database=None)
@given(st.tuples(*(st.from_type(t) for t in types)))
def check(values):
    for t, value in zip(types, values, strict=True):
        assert type(value) is t, (t, value)

check()
print("ok")
"""

CASES = {
    "strategies first": "import ecomcrm.testing.strategies\n" + _DRAW_ALL,
    "strategies as crm first": (
        "from ecomcrm.testing import strategies as crm\n"
        "from ecomcrm.domain import Customer\n"
        "from hypothesis import given, settings\n"
        "@settings(max_examples=3, database=None)\n"
        "@given(crm.customers())\n"
        "def check(c): assert isinstance(c, Customer)\n"
        "check()\n"
        "print('ok')\n"
    ),
    "testing package first": (
        "import ecomcrm.testing\n"
        "from ecomcrm.testing import FakeClock, StoreConformance, strategies\n"
        "assert callable(strategies.customers)\n" + _DRAW_ALL
    ),
    "hypothesis first, from_type": (
        "from hypothesis import strategies as st\n"
        "from ecomcrm.domain import Customer\n"
        "st.from_type(Customer)\n" + _DRAW_ALL
    ),
}


@pytest.mark.parametrize("code", list(CASES.values()), ids=list(CASES))
def test_imports_in_a_fresh_interpreter(code: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repository: only the installed package and its entry point
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok"), done.stdout
