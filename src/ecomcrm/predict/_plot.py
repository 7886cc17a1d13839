from __future__ import annotations

from typing import Any

import numpy as np

from ecomcrm.predict._evaluation import HoldoutComparison


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "ecomcrm.predict plotting needs matplotlib: pip install 'ecomcrm[plot]'"
        ) from exc
    return plt


def _grid(model: Any, max_frequency: int | None, max_recency: float | None, T: float | None) -> Any:
    age = float(T if T is not None else (max_recency if max_recency is not None else 52.0))
    top = float(max_recency if max_recency is not None else age)
    nf = int(max_frequency if max_frequency is not None else 20)
    rec = np.linspace(0.0, min(top, age), 101)
    xg, txg = np.meshgrid(np.arange(nf + 1, dtype=np.float64), rec)
    x, tx = xg.ravel(), txg.ravel()
    keep = (x == 0) == (tx == 0)
    return x, tx, np.full(x.shape, age), keep, (len(rec), nf + 1), rec


def _heatmap(values: Any, keep: Any, shape: Any, rec: Any, title: str, ax: Any) -> Any:
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5))
    z = np.full(keep.shape, np.nan)
    z[keep] = values
    z = z.reshape(shape)
    img = ax.imshow(
        z,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, shape[1] - 0.5, float(rec[0]), float(rec[-1])),
    )
    ax.set_xlabel("frequency (repeat purchases)")
    ax.set_ylabel("recency (time of last purchase)")
    ax.set_title(title)
    ax.figure.colorbar(img, ax=ax)
    return ax


def plot_probability_alive_matrix(
    model: Any,
    *,
    max_frequency: int | None = None,
    T: float | None = None,
    ax: Any = None,
) -> Any:
    """Heat map of P(alive) over frequency x recency for customers of age ``T``.

    Needs matplotlib (``pip install 'ecomcrm[plot]'``). Returns the Axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from ecomcrm.predict import BetaGeo, plot_probability_alive_matrix
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> ax = plot_probability_alive_matrix(bg, max_frequency=10, T=39)
    """
    x, tx, t, keep, shape, rec = _grid(model, max_frequency, None, T)
    p = model.conditional_probability_alive(x[keep], tx[keep], t[keep])
    return _heatmap(p, keep, shape, rec, f"P(alive) at age {t[0]:g}", ax)


def plot_frequency_recency_matrix(
    model: Any,
    t: float = 1.0,
    *,
    max_frequency: int | None = None,
    T: float | None = None,
    ax: Any = None,
) -> Any:
    """Heat map of expected purchases in the next ``t`` periods over frequency x recency.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from ecomcrm.predict import BetaGeo, plot_frequency_recency_matrix
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> ax = plot_frequency_recency_matrix(bg, 4, max_frequency=10, T=39)
    """
    x, tx, age, keep, shape, rec = _grid(model, max_frequency, None, T)
    e = model.conditional_expected_purchases(t, x[keep], tx[keep], age[keep])
    return _heatmap(e, keep, shape, rec, f"expected purchases in the next {t:g}", ax)


def plot_calibration_holdout(comparison: HoldoutComparison, *, ax: Any = None) -> Any:
    """Mean actual vs predicted holdout purchases by calibration frequency.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from ecomcrm.predict import BetaGeo, holdout_comparison, plot_calibration_holdout
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> c = holdout_comparison(bg, [0, 1, 2], [0, 5.0, 30.0], [38.86] * 3, [0, 1, 3], 39)
        >>> ax = plot_calibration_holdout(c)
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    labels = [str(int(b)) for b in comparison.bucket]
    labels[-1] += "+"
    ax.plot(labels, comparison.actual, marker="o", label="actual")
    ax.plot(labels, comparison.predicted, marker="s", linestyle="--", label="model")
    ax.set_xlabel("purchases in calibration period")
    ax.set_ylabel("mean purchases in holdout period")
    ax.legend()
    return ax


def plot_retention_curve(model: Any, periods: int, *, survivors: Any = None, ax: Any = None) -> Any:
    """SBG survival curve (and observed survivor shares, when given).

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from ecomcrm.predict import ShiftedBetaGeo, plot_retention_curve
        >>> ax = plot_retention_curve(ShiftedBetaGeo(params={"alpha": 0.7, "beta": 1.2}), 12)
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    k = np.arange(int(periods) + 1)
    ax.plot(k, model.survival_function(k), label="model")
    if survivors is not None:
        s = np.asarray(survivors, dtype=np.float64)
        ax.plot(np.arange(len(s)), s / s[0], marker="o", linestyle="", label="observed")
    ax.set_xlabel("period")
    ax.set_ylabel("share still active")
    ax.legend()
    return ax
