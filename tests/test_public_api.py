"""Keeps the public surface honest: __all__ exact and sorted, docstrings everywhere, doctests pass."""

import doctest
import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import ecomcrm

OPTIONAL_MODULE_PREFIXES = ("ecomcrm.__main__",)


def _modules() -> list[str]:
    names = ["ecomcrm"]
    for info in pkgutil.walk_packages(ecomcrm.__path__, "ecomcrm."):
        if not info.name.startswith(OPTIONAL_MODULE_PREFIXES):
            names.append(info.name)
    return sorted(names)


MODULES = _modules()
PUBLIC_PACKAGES = [
    m for m in MODULES if not any(part.startswith("_") for part in m.split(".")) and m != "ecomcrm"
]


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_is_sorted_and_exact(name: str) -> None:
    module = _load(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    # the order itself is enforced by ruff (RUF022, isort-style)
    assert len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"
    # every public (non-underscore) name defined in a package __init__ is exported
    if module.__file__ and module.__file__.endswith("__init__.py"):
        public = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and not inspect.ismodule(v)
            and (getattr(v, "__module__", "") or "").startswith((name + ".", name))
            and n not in {"annotations"}
        }
        assert public <= set(exported), (
            f"{name} defines public names not in __all__: {public - set(exported)}"
        )


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_public_objects_have_docstrings(name: str) -> None:
    module = _load(name)
    assert module.__doc__, f"{name} has no module docstring"
    missing = []
    for attr in getattr(module, "__all__", []):
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                missing.append(attr)
            if inspect.isclass(obj):
                for meth_name, meth in vars(obj).items():
                    if meth_name.startswith("_") or not callable(meth):
                        continue
                    if not inspect.getdoc(meth):
                        missing.append(f"{attr}.{meth_name}")
    assert not missing, f"{name}: no docstring on {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = _load(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        if test.filename and module.__file__ and test.filename != module.__file__:
            continue
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
