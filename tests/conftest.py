"""Suite-wide settings: Hypothesis profiles tuned for a shared, noisy 2-core machine."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("default"),
    max_examples=1000,
)
# CI replays the same examples every run (a red build must mean a change broke something);
# local runs and the "thorough" profile keep exploring new examples.
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
_default = "ci" if os.environ.get("CI") else "default"
settings.load_profile(os.environ.get("ECOMCRM_HYPOTHESIS_PROFILE", _default))
