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
settings.load_profile(os.environ.get("ECOMCRM_HYPOTHESIS_PROFILE", "default"))
