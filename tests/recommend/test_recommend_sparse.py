import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.recommend._sparse import topk_csr, topn_rows


def naive_top(m: np.ndarray, n: int) -> list[list[tuple[int, float]]]:
    out = []
    for row in m:
        cols = [c for c in range(row.size) if row[c] > 0]
        cols.sort(key=lambda c: (-row[c], c))
        out.append([(c, float(row[c])) for c in cols[:n]])
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 40),
    st.lists(st.integers(0, 4), min_size=1, max_size=480),
    st.integers(1, 8),
)
def test_topn_rows_matches_naive_with_ties(rows: int, cols: int, vals: list[int], n: int) -> None:
    m = np.zeros(rows * cols)
    m[: min(len(vals), m.size)] = vals[: m.size]
    m = m.reshape(rows, cols)
    csr = sp.csr_array(m)
    items, scores = topn_rows(csr.indptr, csr.indices, csr.data, n)
    want = naive_top(m, n)
    for r in range(rows):
        got = [(int(i), float(s)) for i, s in zip(items[r], scores[r], strict=True) if i >= 0]
        assert got == want[r]
    keep = topk_csr(csr, n).toarray()
    for r in range(rows):
        assert sorted(np.flatnonzero(keep[r]).tolist()) == sorted(c for c, _ in want[r])


def test_topn_rows_long_rows() -> None:
    rng = np.random.default_rng(0)
    m = rng.integers(0, 3, size=(3, 2000)).astype(float)
    csr = sp.csr_array(m)
    items, _ = topn_rows(csr.indptr, csr.indices, csr.data, 5)
    for r in range(3):
        assert [c for c, _ in naive_top(m[r : r + 1], 5)[0]] == items[r].tolist()
