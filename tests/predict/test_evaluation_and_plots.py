import numpy as np
import pytest

import ecomcrm.predict as predict
from ecomcrm.errors import ValidationError
from ecomcrm.predict import (
    BetaGeo,
    BetaGeoBetaBinom,
    ShiftedBetaGeo,
    holdout_comparison,
)

TRUTH = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def holdout():
    sim = BetaGeo(params=TRUTH).simulate(
        np.random.default_rng(0).integers(1, 40, 20_000).astype(float), holdout=39.0, seed=9
    )
    model = BetaGeo().fit(*sim.rfm)
    return model, sim, holdout_comparison(model, *sim.rfm, sim.holdout_frequency, 39.0)


def test_holdout_comparison_by_bucket(holdout):
    _model, sim, c = holdout
    assert c.bucket.tolist() == list(range(8))
    assert c.customers.sum() == 20_000
    assert c.customers[0] == np.sum(sim.frequency == 0)
    assert c.customers[7] == np.sum(sim.frequency >= 7)
    # a correct model predicts the holdout totals and bucket means closely
    assert abs(c.total_error) < 0.05
    big = c.customers > 300
    np.testing.assert_allclose(c.predicted[big], c.actual[big], rtol=0.15, atol=0.05)
    assert c.mae > 0 and c.rmse >= c.mae and 0 < c.correlation < 1
    assert "frequency" in c.table() and "7+" in c.table()


def test_holdout_comparison_hand_example():
    bg = BetaGeo(params=TRUTH)
    c = holdout_comparison(
        bg, [0, 0, 1, 3], [0, 0, 5.0, 30.0], [38.86] * 4, [0, 2, 1, 3], 39, max_bucket=2
    )
    assert c.customers.tolist() == [2.0, 1.0, 1.0]
    assert c.actual.tolist() == [1.0, 1.0, 3.0]
    pred = bg.conditional_expected_purchases(39, [0, 0, 1, 3], [0, 0, 5.0, 30.0], [38.86] * 4)
    assert c.predicted[0] == pytest.approx(pred[:2].mean())
    assert c.mae == pytest.approx(np.mean(np.abs(pred - [0, 2, 1, 3])))
    with pytest.raises(ValidationError, match="negative"):
        holdout_comparison(bg, [0], [0], [1.0], [-1], 1.0)


def test_bgbb_holdout():
    truth = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
    sim = BetaGeoBetaBinom(params=truth).simulate(np.full(20_000, 6.0), holdout_periods=5, seed=4)
    c = holdout_comparison(
        BetaGeoBetaBinom(params=truth), *sim.rfm, sim.holdout_frequency, 5, max_bucket=6
    )
    assert abs(c.total_error) < 0.05


def test_plots_render_png(tmp_path, holdout):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, _sim, c = holdout
    for name, make in {
        "alive": lambda: predict.plot_probability_alive_matrix(model, max_frequency=15, T=39),
        "expected": lambda: predict.plot_frequency_recency_matrix(
            model, 4.0, max_frequency=15, T=39
        ),
        "holdout": lambda: predict.plot_calibration_holdout(c),
        "retention": lambda: predict.plot_retention_curve(
            ShiftedBetaGeo(params={"alpha": 0.7, "beta": 1.2}), 12, survivors=[1000, 631, 468, 382]
        ),
    }.items():
        ax = make()
        path = tmp_path / f"{name}.png"
        ax.figure.savefig(path)
        plt.close(ax.figure)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5000


def test_missing_matplotlib_gives_install_hint(monkeypatch):
    import builtins

    from ecomcrm.predict import _plot

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'ecomcrm\[plot\]'"):
        _plot.plot_calibration_holdout(None)


def test_exports_are_exact_and_sorted():
    assert predict.__all__ == sorted(predict.__all__)
    for name in predict.__all__:
        assert getattr(predict, name).__doc__
    with pytest.raises(AttributeError):
        predict.nope  # noqa: B018
    for cls in (
        predict.BetaGeo,
        predict.ParetoNBD,
        predict.ModifiedBetaGeo,
        predict.BetaGeoBetaBinom,
        predict.ShiftedBetaGeo,
        predict.GammaGamma,
    ):
        assert "fit" in vars(cls) or cls is predict.ModifiedBetaGeo
