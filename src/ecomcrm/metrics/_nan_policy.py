"""The one ``nan_policy`` convention shared by every metric function.

Modelled on ``scipy.stats``' ``_axis_nan_policy``: a decorator names the row-aligned array
arguments of a function; it checks that they have the same length, finds missing values
(NaN, NaT, None) in any of them, and then either raises or drops those rows before the
function runs. It also writes the same parameter text into every docstring, replacing the
``{nan_policy}`` placeholder.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Literal, ParamSpec, TypeVar

from ecomcrm.errors import ValidationError
from ecomcrm.metrics._validate import as_1d, check_same_length, first_true, missing_mask

P = ParamSpec("P")
R = TypeVar("R")

NanPolicy = Literal["raise", "omit"]

NAN_POLICY_DOC = (
    '``"raise"`` (default) or ``"omit"``, keyword-only. A missing value is NaN in a float '
    'array, NaT in a datetime array, None or NaN in an object array. With ``"raise"`` the '
    "first missing value raises ValidationError naming the argument and its row; with "
    '``"omit"`` every row holding a missing value in any of the row-aligned input arrays is '
    "dropped before computing, exactly as if it had not been passed (outputs given per input "
    "row are then shorter by those rows)."
)

#: Every metric function decorated with :func:`nan_policy`, in definition order
#: (used by the table-driven convention test).
REGISTRY: list[Callable[..., Any]] = []


def nan_policy(*fields: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Give a function the shared ``nan_policy`` keyword for its row-aligned ``fields``.

    The decorated function must itself declare ``nan_policy: NanPolicy = "raise"`` as a
    keyword-only parameter (so its signature and type stay honest); it receives arrays that
    contain no missing values and ``nan_policy="raise"``. Arguments given as ``None`` are
    skipped.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        sig = inspect.signature(func)
        missing = [f for f in (*fields, "nan_policy") if f not in sig.parameters]
        if missing:  # pragma: no cover - programming error
            raise TypeError(f"{func.__name__} lacks parameters {missing}")
        entity = func.__name__

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = sig.bind(*args, **kwargs)
            policy = bound.arguments.get("nan_policy", "raise")
            if policy not in ("raise", "omit"):
                raise ValidationError(
                    "must be 'raise' or 'omit'", entity=entity, field="nan_policy", value=policy
                )
            arrays = {}
            for name in fields:
                value = bound.arguments.get(name)
                if value is None:
                    continue
                arrays[name] = as_1d(value, entity=entity, field=name)
            check_same_length(entity, arrays)
            drop = None
            for name, arr in arrays.items():
                mask = missing_mask(arr)
                if mask is None or not mask.any():
                    continue
                if policy == "raise":
                    row = first_true(mask)
                    raise ValidationError(
                        "is missing (NaN/NaT/None); pass nan_policy='omit' to drop such rows",
                        entity=entity,
                        field=name,
                        value=arr[row].item() if hasattr(arr[row], "item") else arr[row],
                        row=row,
                    )
                drop = mask if drop is None else (drop | mask)
            if drop is not None:
                keep = ~drop
                arrays = {name: arr[keep] for name, arr in arrays.items()}
            bound.arguments.update(arrays)
            bound.arguments["nan_policy"] = "raise"
            return func(*bound.args, **bound.kwargs)

        if wrapper.__doc__:
            wrapper.__doc__ = wrapper.__doc__.replace("{nan_policy}", NAN_POLICY_DOC)
        wrapper.__nan_policy_fields__ = fields  # type: ignore[attr-defined]
        REGISTRY.append(wrapper)
        return wrapper

    return decorate
