"""A tree reduction over the partitions of a dask DataFrame, on whatever scheduler is active."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dask.delayed import delayed

SPLIT_EVERY = 8
"""Results combined per task of the tree (so no task holds more than eight partial tables)."""


def tree_reduce(frame: Any, chunk: Callable[[Any], Any], combine: Callable[..., Any]) -> Any:
    """``combine`` of ``chunk`` of every partition, combined eight at a time, computed."""
    level = [delayed(chunk)(part) for part in frame.to_delayed()]
    combiner = delayed(combine)
    while len(level) > 1:
        level = [combiner(*level[i : i + SPLIT_EVERY]) for i in range(0, len(level), SPLIT_EVERY)]
    return level[0].compute()
