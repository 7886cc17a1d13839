"""Properties of the global RFM boundaries and of the optional-extra guard (no cluster)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ecomcrm.dask import RFMBoundaries
from ecomcrm.dask._rfm import _merge
from ecomcrm.metrics import rfm_scores

values = st.lists(st.integers(0, 6).map(float), min_size=1, max_size=60)


@given(
    st.tuples(values, st.randoms(use_true_random=False)),
    st.integers(2, 9),
    st.integers(1, 5),
)
def test_merged_histograms_score_like_rfm_scores(data, bins: int, n_parts: int) -> None:  # type: ignore[no-untyped-def]
    xs, rnd = data
    x = np.array(xs)
    y = x[::-1].copy() * 2.5
    z = (x * 7) % 5
    split = sorted(rnd.randrange(len(x) + 1) for _ in range(n_parts - 1))
    bounds = [0, *split, len(x)]
    hists = []
    for a, b in itertools.pairwise(bounds):
        hist = {}
        for dim, arr in (("recency", x[a:b]), ("frequency", y[a:b]), ("monetary", z[a:b])):
            u, c = np.unique(arr, return_counts=True)
            hist[dim] = (u, c.astype(np.int64))
        hists.append(hist)
    b = RFMBoundaries.from_histogram(_merge(*hists), bins=bins)
    want = rfm_scores(x, y, z, bins=bins)
    assert np.array_equal(b.score("recency", x), want.recency)
    assert np.array_equal(b.score("frequency", y), want.frequency)
    assert np.array_equal(b.score("monetary", z), want.monetary)


def test_core_import_is_free_of_dask_and_the_extra_is_named_when_missing() -> None:
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import ecomcrm
        def walk(package):  # pkgutil.walk_packages would import ecomcrm.dask to walk it
            for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
                if info.name in ("ecomcrm.dask", "ecomcrm.__main__"):
                    continue
                module = importlib.import_module(info.name)
                if info.ispkg:
                    walk(module)
        walk(ecomcrm)
        assert "dask" not in sys.modules and "distributed" not in sys.modules, "core imported dask"

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dask", "distributed"):
                    raise ImportError(f"No module named {name!r}")
        sys.meta_path.insert(0, Block())
        try:
            import ecomcrm.dask
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "ecomcrm[dask]"' in out.stdout
