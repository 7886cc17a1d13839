import doctest

import pytest

import ecomcrm.recommend as pkg
from ecomcrm.recommend import _affinity, _data, _recommend


def test_all_sorted_and_public() -> None:
    assert pkg.__all__ == sorted(pkg.__all__)
    public = {n for n in dir(pkg) if not n.startswith("_")}
    assert public - {"annotations"} == set(pkg.__all__)
    for name in pkg.__all__:
        assert getattr(pkg, name).__doc__


@pytest.mark.parametrize("mod", [pkg, _affinity, _data, _recommend])
def test_doctests(mod: object) -> None:
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert res.failed == 0
