"""Service and returns insight: arrays in, per-key and per-segment figures out.

- :func:`return_rates` / :func:`category_return_rates` -- return rate with a reasons
  breakdown per product, category or customer.
- :func:`ticket_stats` -- ticket volume, first-response and resolution time percentiles,
  CSAT per segment; :func:`nps_by_segment` -- NPS per segment.
- :func:`experience_flags` -- boolean flags per customer (open ticket + delayed order,
  repeated returns) for the rules engine and the 360 view; :func:`ticket_counts`.
- :func:`customer_view` -- the 360 view of one customer with the customer fields of
  ``ecomcrm.segments.CUSTOMER_FIELD_REGISTRY`` (the feature table's definitions).

Example:
    >>> from ecomcrm.service import return_rates
    >>> return_rates([0, 0, 1], None, [0], None).rate.tolist()
    [0.5, 0.0]
"""

from ecomcrm.service._service import (
    ExperienceFlags,
    ReturnRates,
    SegmentNPS,
    TicketStats,
    category_return_rates,
    experience_flags,
    grouped_percentiles,
    nps_by_segment,
    return_rates,
    ticket_counts,
    ticket_stats,
)
from ecomcrm.service._view import CustomerView, customer_view

__all__ = [
    "CustomerView",
    "ExperienceFlags",
    "ReturnRates",
    "SegmentNPS",
    "TicketStats",
    "category_return_rates",
    "customer_view",
    "experience_flags",
    "grouped_percentiles",
    "nps_by_segment",
    "return_rates",
    "ticket_counts",
    "ticket_stats",
]
