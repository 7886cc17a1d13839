"""Shared fit machinery for the buy-till-you-die models.

Every model fits by maximum likelihood on log-parameters with :func:`scipy.optimize.minimize`
(L-BFGS-B, analytic gradients where the model supplies them, otherwise central differences
evaluated in one broadcast call). Before fitting, rows are compressed to unique rows with
counts, so pre-aggregated data (``weights``) and repeated rows give the same fit. Standard
errors come from the Hessian of the total negative log-likelihood at the optimum, taken in
log-parameter space (where the Laplace approximation is used for intervals) and mapped to
the natural scale with the delta method.

Log-likelihood functions broadcast: each parameter may be a scalar or an array of shape
``(m, 1)`` against data of shape ``(n,)``, which lets one call evaluate finite differences,
Hessians and parameter draws for all customers at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ConvergenceError, ValidationError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
# A log-likelihood: (params tuple, data) -> (per-row log-likelihood, per-param gradients or None)
LogLik = Callable[[tuple[Any, ...], "FitData", bool], tuple[FloatArray, list[FloatArray] | None]]

_MAX_SHOWN = 5


def _first_rows(mask: NDArray[np.bool_]) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)[:_MAX_SHOWN]]


def _fail(
    entity: str, field: str, message: str, values: FloatArray, mask: NDArray[np.bool_]
) -> None:
    rows = _first_rows(mask)
    count = int(np.count_nonzero(mask))
    extra = f"; rows {rows}" if count > 1 else ""
    more = f" ({count} rows in all)" if count > len(rows) else ""
    raise ValidationError(
        f"{message}{extra}{more}",
        entity=entity,
        field=field,
        value=values[rows[0]].item(),
        row=rows[0],
    )


def as_float_array(value: ArrayLike, *, entity: str, field: str) -> FloatArray:
    """Convert to a 1-D float64 array, rejecting NaN, infinity and other shapes."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError("must be numeric", entity=entity, field=field) from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValidationError(
            f"must be one-dimensional, got shape {arr.shape}", entity=entity, field=field
        )
    # a sum is NaN/inf when any element is (fast path without a boolean temporary)
    if not np.isfinite(np.sum(arr)):
        bad = ~np.isfinite(arr)
        if bad.any():
            _fail(entity, field, "must be finite (no NaN or infinity)", arr, bad)
    return arr


def check_lengths(entity: str, **arrays: FloatArray) -> int:
    """Return the common length of ``arrays`` or raise naming the first that differs."""
    items = list(arrays.items())
    n = len(items[0][1])
    for name, arr in items[1:]:
        if len(arr) != n:
            raise ValidationError(
                f"has length {len(arr)} but {items[0][0]} has length {n}",
                entity=entity,
                field=name,
            )
    return n


def validate_rfm(
    entity: str,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    t_name: str = "T",
    discrete: bool = False,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate (frequency, recency, T) with lifetimes' conventions and return float arrays.

    Rules: all finite; frequency a non-negative integer; 0 <= recency <= T; recency > 0 when
    frequency > 0 and recency == 0 when frequency == 0. With ``discrete`` (BG/BB), recency and
    T are whole periods and frequency <= recency.
    """
    x = as_float_array(frequency, entity=entity, field="frequency")
    tx = as_float_array(recency, entity=entity, field="recency")
    t = as_float_array(T, entity=entity, field=t_name)
    check_lengths(entity, frequency=x, recency=tx, **{t_name: t})
    if len(x) == 0:
        raise ValidationError("must not be empty", entity=entity, field="frequency")
    # fast path: a few reductions; the detailed checks below run only to name the bad rows
    zero_x = x == 0
    if (
        x.min() >= 0
        and tx.min() >= 0
        and t.min() >= 0
        and not np.any(tx > t)
        and not np.any(np.modf(x)[0])
        and np.array_equal(zero_x, tx == 0)
        and (
            not discrete
            or (not np.any(np.modf(tx)[0]) and not np.any(np.modf(t)[0]) and not np.any(x > tx))
        )
    ):
        return x, tx, t
    checks: list[tuple[str, FloatArray, NDArray[np.bool_], str]] = [
        ("frequency", x, x < 0, "must not be negative"),
        ("frequency", x, x != np.round(x), "must be a whole number of repeat purchases"),
        ("recency", tx, tx < 0, "must not be negative"),
        (t_name, t, t < 0, "must not be negative"),
        ("recency", tx, tx > t, f"must not exceed {t_name}"),
        ("recency", tx, (x > 0) & (tx == 0), "must be > 0 when frequency > 0"),
        ("recency", tx, (x == 0) & (tx != 0), "must be 0 when frequency is 0"),
    ]
    if discrete:
        checks += [
            ("recency", tx, tx != np.round(tx), "must be a whole number of periods"),
            (t_name, t, t != np.round(t), "must be a whole number of periods"),
            ("frequency", x, x > tx, "must not exceed recency"),
        ]
    for field, values, mask, message in checks:
        if mask.any():
            _fail(entity, field, message, values, mask)
    return x, tx, t


def validate_weights(weights: ArrayLike | None, n: int, *, entity: str) -> FloatArray:
    """Return per-row weights (ones when ``None``); weights must be finite and >= 0."""
    if weights is None:
        return np.ones(n)
    w = as_float_array(weights, entity=entity, field="weights")
    if len(w) != n:
        raise ValidationError(
            f"has length {len(w)} but frequency has length {n}", entity=entity, field="weights"
        )
    bad = w < 0
    if bad.any():
        _fail(entity, "weights", "must not be negative", w, bad)
    if not w.sum() > 0:
        raise ValidationError("must not all be zero", entity=entity, field="weights")
    return w


def compress(
    columns: Sequence[FloatArray], weights: FloatArray
) -> tuple[list[FloatArray], FloatArray]:
    """Collapse identical rows to unique rows with summed weights (rows with weight 0 drop).

    Example:
        >>> import numpy as np
        >>> cols, w = compress([np.array([1.0, 1.0, 2.0]), np.array([3.0, 3.0, 4.0])], np.ones(3))
        >>> [c.tolist() for c in cols], w.tolist()
        ([[1.0, 2.0], [3.0, 4.0]], [2.0, 1.0])
    """
    keep = weights > 0
    cols = [np.ascontiguousarray(c[keep]) for c in columns]
    w = weights[keep]
    order = np.lexsort(cols[::-1])
    cols = [c[order] for c in cols]
    w = w[order]
    n = len(w)
    if n == 0:
        return cols, w
    new = np.ones(n, dtype=bool)
    if n > 1:
        same = np.ones(n - 1, dtype=bool)
        for c in cols:
            same &= c[1:] == c[:-1]
        new[1:] = ~same
    starts = np.flatnonzero(new)
    return [c[starts] for c in cols], np.add.reduceat(w, starts)


@dataclass(frozen=True)
class FitData:
    """Compressed data a likelihood works on (time already rescaled)."""

    columns: dict[str, NDArray[Any]]
    weights: FloatArray
    n_rows: int
    time_scale: float

    def __getitem__(self, key: str) -> NDArray[Any]:
        return self.columns[key]


@dataclass(frozen=True)
class ConvergenceInfo:
    """How the optimiser finished.

    Attributes:
        converged: Whether the optimiser reported success.
        message: The optimiser's message.
        iterations: Iterations used.
        evaluations: Objective evaluations used.
        method: The scipy.optimize method.
        gradient_norm: Max-norm of the gradient of the mean negative log-likelihood at the end.
        n_unique_rows: Rows after compressing identical rows.
    """

    converged: bool
    message: str
    iterations: int
    evaluations: int
    method: str
    gradient_norm: float
    n_unique_rows: int


# Reductions use multiply-and-sum rather than ``@``: OpenBLAS threads spin after each call
# and, on small shared machines, slow the optimiser loop down by two orders of magnitude.


def numeric_gradient(
    loglik: LogLik, log_params: FloatArray, data: FitData, step: float = 1e-5
) -> list[FloatArray]:
    """Per-row gradient in *natural* parameters by central differences in log space."""
    k = len(log_params)
    eye = np.eye(k) * step
    stacked = np.exp(np.concatenate([log_params + eye, log_params - eye]))  # (2k, k)
    params = tuple(stacked[:, j : j + 1] for j in range(k))
    ll, _ = loglik(params, data, False)
    natural = np.exp(log_params)
    return [(ll[j] - ll[k + j]) / (2 * step) / natural[j] for j in range(k)]


def spd_inverse(matrix: FloatArray) -> FloatArray | None:
    """Inverse of a small symmetric matrix, or ``None`` when it is not positive definite.

    Gauss-Jordan elimination without pivoting: for a symmetric matrix all pivots are
    positive exactly when it is positive definite (Sylvester). Element-wise, no BLAS.
    """
    k = len(matrix)
    a = np.concatenate([np.array(matrix, dtype=np.float64), np.eye(k)], axis=1)
    for i in range(k):
        pivot = a[i, i]
        if not (np.isfinite(pivot) and pivot > 0):
            return None
        a[i] = a[i] / pivot
        for j in range(k):
            if j != i:
                a[j] = a[j] - a[j, i] * a[i]
    inv = a[:, k:]
    return np.asarray((inv + inv.T) / 2, dtype=np.float64)


def bfgs(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    theta0: FloatArray,
    *,
    gtol: float = 1e-9,
    maxiter: int = 500,
) -> scipy.optimize.OptimizeResult:
    """Minimise with BFGS and Armijo backtracking, using element-wise array operations only.

    The problems here have 2-4 parameters; scipy's optimisers spend most of their time in
    BLAS calls whose thread pools contend on busy machines, so this small loop is an order
    of magnitude faster. It stops when the max-norm of the gradient is below ``gtol`` or
    when the objective stops changing at machine precision (the caller then checks the
    Newton decrement).
    """
    k = len(theta0)
    x = np.asarray(theta0, dtype=np.float64).copy()
    f, g = objective(x)
    nfev = 1
    if not np.isfinite(f):
        return scipy.optimize.OptimizeResult(
            x=x, fun=f, success=False, message="objective not finite at the start", nit=0, nfev=1
        )
    h = np.eye(k)
    stalled = 0
    for it in range(1, maxiter + 1):
        if float(np.max(np.abs(g))) < gtol:
            return scipy.optimize.OptimizeResult(
                x=x, fun=f, success=True, message="gradient below tolerance", nit=it, nfev=nfev
            )
        p = -np.sum(h * g[None, :], axis=1)
        slope = float(np.sum(g * p))
        if not slope < 0:
            h = np.eye(k)
            p = -g
            slope = -float(np.sum(g * g))
        t = 1.0
        while True:
            x_new = x + t * p
            f_new, g_new = objective(x_new)
            nfev += 1
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
                break
            if np.isfinite(f_new):
                # minimiser of the quadratic through f, the slope and f_new, kept in [0.1t, 0.5t]
                t_q = -slope * t * t / (2.0 * (f_new - f - slope * t))
                t = min(0.5 * t, max(0.1 * t, t_q))
            else:
                t *= 0.25
            if t < 1e-14:
                return scipy.optimize.OptimizeResult(
                    x=x, fun=f, success=False, message="line search failed", nit=it, nfev=nfev
                )
        step = x_new - x
        y = g_new - g
        sy = float(np.sum(step * y))
        if sy > 1e-12 * np.sqrt(float(np.sum(step * step)) * float(np.sum(y * y))):
            if it == 1:
                h = np.eye(k) * (sy / float(np.sum(y * y)))
            hy = np.sum(h * y[None, :], axis=1)
            rho = 1.0 / sy
            h = (
                h
                - rho * (step[:, None] * hy[None, :] + hy[:, None] * step[None, :])
                + (rho * rho * float(np.sum(y * hy)) + rho) * step[:, None] * step[None, :]
            )
        stalled = stalled + 1 if abs(f - f_new) <= 1e-15 * max(1.0, abs(f)) else 0
        x, f, g = x_new, f_new, g_new
        if stalled >= 3:
            return scipy.optimize.OptimizeResult(
                x=x,
                fun=f,
                success=True,
                message="objective stalled at machine precision",
                nit=it,
                nfev=nfev,
            )
    return scipy.optimize.OptimizeResult(
        x=x, fun=f, success=False, message="maximum iterations reached", nit=maxiter, nfev=nfev
    )


class BaseModel:
    """Common state of a fitted model: parameters, log-likelihood, covariance, convergence.

    Subclasses set ``_param_names``, ``_time_params`` (rate parameters with units of
    1/time, which are rescaled) and implement ``_loglik``.
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _time_params: ClassVar[tuple[str, ...]] = ()
    _analytic_gradient: ClassVar[bool] = True

    def __init__(self) -> None:
        self._params: dict[str, float] | None = None
        self._log_likelihood = float("nan")
        self._cov_log: FloatArray | None = None
        self._info: ConvergenceInfo | None = None
        self.n_customers = 0.0

    # -- public state -------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether parameters are set (by :meth:`fit` or by construction)."""
        return self._params is not None

    @property
    def params(self) -> dict[str, float]:
        """Fitted parameters by their literature names."""
        if self._params is None:
            raise ValidationError(
                "model is not fitted; call fit() first", entity=type(self).__name__
            )
        return dict(self._params)

    @property
    def log_likelihood(self) -> float:
        """Total log-likelihood at the fitted parameters (weights count as customers)."""
        return self._log_likelihood

    @property
    def convergence(self) -> ConvergenceInfo:
        """Optimiser diagnostics of the last fit."""
        if self._info is None:
            raise ValidationError("model is not fitted by fit()", entity=type(self).__name__)
        return self._info

    @property
    def covariance(self) -> FloatArray:
        """Covariance of the log-parameters (inverse Hessian), in ``_param_names`` order."""
        if self._cov_log is None:
            raise ValidationError("model is not fitted by fit()", entity=type(self).__name__)
        return self._cov_log.copy()

    @property
    def standard_errors(self) -> dict[str, float]:
        """Standard errors of the parameters (delta method from the log-scale Hessian)."""
        cov = self.covariance
        p = self.params
        sd = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
        return {name: float(p[name] * sd[i]) for i, name in enumerate(self._param_names)}

    def confidence_intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Wald intervals on the log scale, mapped back (always positive)."""
        from scipy.stats import norm

        _check_level(level, type(self).__name__)
        zq = float(norm.ppf(0.5 + level / 2))
        cov = self.covariance
        p = self.params
        out = {}
        for i, name in enumerate(self._param_names):
            sd = float(np.sqrt(cov[i, i]))
            out[name] = (p[name] * float(np.exp(-zq * sd)), p[name] * float(np.exp(zq * sd)))
        return out

    def sample_params(
        self, n_draws: int = 500, *, seed: int | None = None
    ) -> dict[str, FloatArray]:
        """Draw parameter vectors from the Laplace approximation N(log θ̂, H⁻¹) in log space."""
        if n_draws < 1:
            raise ValidationError(
                "must be >= 1", entity=type(self).__name__, field="n_draws", value=n_draws
            )
        rng = np.random.default_rng(seed)
        mean = np.log([self.params[n] for n in self._param_names])
        draws = np.exp(rng.multivariate_normal(mean, self.covariance, size=n_draws))
        return {name: draws[:, i] for i, name in enumerate(self._param_names)}

    def _with_params(self, params: dict[str, Any]) -> Any:
        """A copy whose parameters are arrays of shape (m, 1): predictions broadcast to (m, n)."""
        clone = object.__new__(type(self))
        BaseModel.__init__(clone)
        clone._params = {
            k: np.asarray(params[k], dtype=np.float64).reshape(-1, 1)  # type: ignore[misc]
            for k in self._param_names
        }
        return clone

    def _p(self) -> tuple[float, ...]:
        p = self.params
        return tuple(p[n] for n in self._param_names)

    def _set_params(self, params: dict[str, float] | None) -> None:
        if params is None:
            return
        names = self._param_names
        missing = [n for n in names if n not in params]
        extra = [n for n in params if n not in names]
        if missing or extra:
            raise ValidationError(
                f"needs exactly the parameters {list(names)}",
                entity=type(self).__name__,
                field="params",
                value=sorted(params),
            )
        for n in names:
            v = float(params[n])
            if not (np.isfinite(v) and v > 0):
                raise ValidationError(
                    "must be a positive finite number", entity=type(self).__name__, field=n, value=v
                )
        self._params = {n: float(params[n]) for n in names}

    def _repr_html_(self) -> str:
        """The parameters (with standard errors once fitted to data) as an HTML table.

        Example:
            >>> from ecomcrm.predict import BetaGeo
            >>> "alpha" in BetaGeo({"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4})._repr_html_()
            True
        """
        from ecomcrm._html import html_table

        name = type(self).__name__
        if self._params is None:
            return html_table(
                f"{name} (not fitted)", ["parameter"], [[p] for p in self._param_names]
            )
        errors: dict[str, float] = {}
        if self._cov_log is not None:
            try:
                errors = self.standard_errors
            except (ValidationError, ConvergenceError):
                errors = {}
        rows = [[k, v, errors.get(k, float("nan"))] for k, v in self._params.items()]
        note = ""
        if np.isfinite(self._log_likelihood):
            note = f"log-likelihood {self._log_likelihood:.6g}, {self.n_customers:,.0f} customers"
            if self._info is not None:
                note += f", converged: {self._info.converged}"
        return html_table(name, ["parameter", "value", "standard error"], rows, note=note)

    def __repr__(self) -> str:
        if self._params is None:
            return f"{type(self).__name__}(unfitted)"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self._params.items())
        return f"{type(self).__name__}({shown})"

    # -- fitting --------------------------------------------------------------------------
    def _loglik(
        self, params: tuple[Any, ...], data: FitData, gradient: bool
    ) -> tuple[FloatArray, list[FloatArray] | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self, data: FitData) -> FitData:
        """Add derived columns (integer codes and the like) after compression."""
        return data

    def _initial_log_params(self, data: FitData) -> FloatArray:
        return np.zeros(len(self._param_names))

    def _fit_compressed(
        self, columns: dict[str, FloatArray], weights: FloatArray, time_scale: float
    ) -> None:
        names = list(columns)
        cols, w = compress([columns[n] for n in names], weights)
        data = self._prepare(FitData(dict(zip(names, cols, strict=True)), w, len(w), time_scale))
        total = float(w.sum())
        k = len(self._param_names)
        entity = type(self).__name__
        loglik = self._loglik

        def objective(theta: FloatArray, *, central: bool = True) -> tuple[float, FloatArray]:
            if not np.all(np.abs(theta) < 30):
                return np.inf, np.zeros(k)
            natural = np.exp(theta)
            with np.errstate(all="ignore"):
                if self._analytic_gradient:
                    ll, grads = loglik(tuple(float(v) for v in natural), data, True)
                    assert grads is not None
                    f = -float(np.sum(w * ll)) / total
                    g = np.array(
                        [-float(np.sum(w * gr)) * natural[j] for j, gr in enumerate(grads)]
                    )
                    g = g / total
                elif central:
                    ll, _ = loglik(tuple(float(v) for v in natural), data, False)
                    f = -float(np.sum(w * ll)) / total
                    grads = numeric_gradient(loglik, theta, data)
                    g = np.array(
                        [-float(np.sum(w * gr)) * natural[j] for j, gr in enumerate(grads)]
                    )
                    g = g / total
                else:
                    # forward differences: the base point and k shifted points in one call
                    h = 1e-7
                    pts = np.exp(np.concatenate([theta[None, :], theta + np.eye(k) * h]))
                    ll, _ = loglik(tuple(pts[:, j : j + 1] for j in range(k)), data, False)
                    tot = -np.sum(ll * w, axis=1) / total
                    f = float(tot[0])
                    g = (tot[1:] - tot[0]) / h
            if not (np.isfinite(f) and np.all(np.isfinite(g))):
                return np.inf, np.zeros(k)
            return f, g

        def search_objective(theta: FloatArray) -> tuple[float, FloatArray]:
            # numeric-gradient models search with cheap forward differences; the Newton
            # check below uses central differences
            return objective(theta, central=self._analytic_gradient)

        theta0 = self._initial_log_params(data)
        method = "BFGS"
        res = bfgs(search_objective, theta0)
        if not res.success:
            method = "L-BFGS-B"
            res = scipy.optimize.minimize(
                objective,
                res.x if np.isfinite(res.fun) else theta0,
                jac=True,
                method=method,
                options={"maxiter": 1000, "gtol": 1e-9, "ftol": 1e-14},
            )
        theta = np.asarray(res.x, dtype=np.float64)
        f_end, g_end = objective(theta)
        message = str(res.message)
        converged = False
        hess = np.full((k, k), np.nan)
        if np.isfinite(f_end) and np.all(np.abs(theta) < 10):
            # Accept only when the Newton decrement g' H^-1 g is negligible; when the
            # optimiser stopped short (line searches stall at machine precision next to
            # the optimum), finish with damped Newton steps on the finite-difference Hessian.
            theta, converged, newton_msg, hess = self._newton_polish(objective, theta, data, total)
            if converged:
                f_end, g_end = objective(theta)
            else:
                message = f"{message}; {newton_msg}"
        if not converged:
            drifting = [
                f"{n}={np.exp(theta[j]):.3g}"
                for j, n in enumerate(self._param_names)
                if abs(theta[j]) >= 10
            ]
            hint = (
                f"; parameters drift to the boundary ({', '.join(drifting)}): "
                "the data do not identify them"
                if drifting
                else ""
            )
            raise ConvergenceError(f"optimiser did not converge: {message}{hint}", entity=entity)
        gnorm = float(np.max(np.abs(g_end)))
        inv = spd_inverse(hess * total)
        cov = inv if inv is not None else np.full((k, k), np.nan)
        # undo the time scale: rate parameters were fitted in scaled time units
        for j, name in enumerate(self._param_names):
            if name in self._time_params:
                theta[j] -= np.log(time_scale)
        self._params = {n: float(np.exp(theta[j])) for j, n in enumerate(self._param_names)}
        self._log_likelihood = -float(f_end) * total + self._ll_offset(data)
        self._cov_log = cov
        self.n_customers = total
        self._info = ConvergenceInfo(
            converged=True,
            message=message,
            iterations=int(res.nit),
            evaluations=int(res.nfev),
            method=method,
            gradient_norm=gnorm,
            n_unique_rows=len(w),
        )

    def _newton_polish(
        self,
        objective: Callable[[FloatArray], tuple[float, FloatArray]],
        theta: FloatArray,
        data: FitData,
        total: float,
    ) -> tuple[FloatArray, bool, str, FloatArray]:
        """Newton steps on the mean objective; returns (theta, ok, message, mean Hessian)."""
        for _ in range(30):
            f, g = objective(theta)
            hess = self._hessian(theta, data) / total
            inv = spd_inverse(hess)
            if inv is None:
                return theta, False, "Hessian not positive definite (no interior maximum)", hess
            step = np.sum(inv * g[None, :], axis=1)
            decrement = float(np.sum(g * step))
            if decrement < 1e-10:
                return theta, True, "Newton decrement below 1e-10", hess
            t = 1.0
            while t > 1e-6:
                f_new, _ = objective(theta - t * step)
                if f_new <= f - 1e-4 * t * decrement:
                    break
                t /= 2
            else:
                return theta, False, "Newton line search failed", hess
            theta = theta - t * step
        return theta, False, "Newton polish did not settle in 30 steps", hess

    def _ll_offset(self, data: FitData) -> float:
        """Log-likelihood change from undoing the time scaling (Jacobian of the densities)."""
        return 0.0

    def _hessian(self, theta: FloatArray, data: FitData) -> FloatArray:
        """Hessian of the total negative log-likelihood in log-parameter space."""
        k = len(theta)
        w = data.weights
        h = 1e-4
        natural = np.exp(theta)
        if self._analytic_gradient:
            eye = np.eye(k) * h
            pts = np.concatenate([theta + eye, theta - eye])
            params = tuple(np.exp(pts[:, j : j + 1]) for j in range(k))
            with np.errstate(all="ignore"):
                _, grads = self._loglik(params, data, True)
            assert grads is not None
            # total gradient in log space at each shifted point: shape (2k, k)
            gl = np.stack(
                [
                    np.sum(np.broadcast_to(g, (2 * k, data.n_rows)) * w, axis=1) * np.exp(pts[:, j])
                    for j, g in enumerate(grads)
                ],
                axis=1,
            )
            hess = -(gl[:k] - gl[k:]) / (2 * h)
        else:
            h = 1e-3
            offsets = [np.zeros(k)]
            for i in range(k):
                for j in range(i, k):
                    for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                        d = np.zeros(k)
                        d[i] += si * h
                        d[j] += sj * h
                        offsets.append(d)
            pts = theta + np.array(offsets)
            params = tuple(np.exp(pts[:, j : j + 1]) for j in range(k))
            with np.errstate(all="ignore"):
                ll, _ = self._loglik(params, data, False)
            tot = -np.sum(ll * w, axis=1)
            hess = np.zeros((k, k))
            pos = 1
            for i in range(k):
                for j in range(i, k):
                    pp, pm, mp, mm = tot[pos : pos + 4]
                    hess[i, j] = hess[j, i] = (pp - pm - mp + mm) / (4 * h * h)
                    pos += 4
        del natural
        return np.asarray((hess + hess.T) / 2, dtype=np.float64)


def _check_level(level: float, entity: str) -> None:
    if not 0 < level < 1:
        raise ValidationError("must be between 0 and 1", entity=entity, field="level", value=level)


def time_scale_for(T: FloatArray) -> float:
    """Scale factor that maps the largest T to 10 (keeps rate parameters near 1)."""
    m = float(np.max(T)) if len(T) else 0.0
    return 10.0 / m if m > 0 else 1.0
