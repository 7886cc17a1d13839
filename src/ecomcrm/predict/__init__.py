"""Predictive customer value: buy-till-you-die models, CLV and their evaluation.

Models (fit by maximum likelihood on log-parameters; identical rows compressed first):

- :class:`BetaGeo` (BG/NBD), :class:`ModifiedBetaGeo` (MBG/NBD), :class:`ParetoNBD` for
  non-contractual, continuous-time purchasing from (frequency, recency, T);
- :class:`BetaGeoBetaBinom` (BG/BB) for discrete transaction opportunities;
- :class:`ShiftedBetaGeo` (sBG) for contract renewals from survivor counts;
- :class:`GammaGamma` for spend per transaction.

Functions: :func:`customer_lifetime_value` (discounted, explicit time units),
:func:`churn_risk_labels`, :func:`prediction_interval` (Laplace approximation),
:func:`holdout_comparison`, and matplotlib plots (optional extra ``ecomcrm[plot]``).

Example:
    >>> from ecomcrm.predict import BetaGeo
    >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    >>> bg.conditional_expected_purchases(39, [2], [30.43], [38.86]).round(2).tolist()
    [1.23]
"""

from __future__ import annotations

from typing import Any

from ecomcrm.predict._base import ConvergenceInfo
from ecomcrm.predict._beta_geo import BetaGeo
from ecomcrm.predict._beta_geo_beta_binom import BetaGeoBetaBinom
from ecomcrm.predict._clv import (
    churn_risk_labels,
    customer_lifetime_value,
    period_days,
    prediction_interval,
)
from ecomcrm.predict._evaluation import HoldoutComparison, holdout_comparison
from ecomcrm.predict._gamma_gamma import GammaGamma
from ecomcrm.predict._modified_beta_geo import ModifiedBetaGeo
from ecomcrm.predict._pareto_nbd import ParetoNBD
from ecomcrm.predict._shifted_beta_geo import ShiftedBetaGeo
from ecomcrm.predict._simulate import SimulatedCustomers

__all__ = [
    "BetaGeo",
    "BetaGeoBetaBinom",
    "ConvergenceInfo",
    "GammaGamma",
    "HoldoutComparison",
    "ModifiedBetaGeo",
    "ParetoNBD",
    "ShiftedBetaGeo",
    "SimulatedCustomers",
    "churn_risk_labels",
    "customer_lifetime_value",
    "holdout_comparison",
    "period_days",
    "plot_calibration_holdout",
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
    "plot_retention_curve",
    "prediction_interval",
]

_PLOTS = {
    "plot_calibration_holdout",
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
    "plot_retention_curve",
}


def __getattr__(name: str) -> Any:
    # plots live in _plot and import matplotlib only when first called
    if name in _PLOTS:
        from ecomcrm.predict import _plot

        return getattr(_plot, name)
    raise AttributeError(f"module 'ecomcrm.predict' has no attribute {name!r}")
