"""The segments retention teams use, as definitions on the customer feature table."""

from __future__ import annotations

import attrs

from ecomcrm.segments._segment import Segment

__all__ = ["BuiltinThresholds", "builtin_segments"]


@attrs.frozen(kw_only=True)
class BuiltinThresholds:
    """Thresholds of the built-in segments (defaults suit a typical fashion/beauty shop).

    Example:
        >>> BuiltinThresholds(vip_min_spent=2500).vip_min_spent
        2500
    """

    new_days: int = 30
    at_risk_days: int = 90
    lapsed_days: int = 180
    vip_min_spent: float = 1000.0
    vip_min_clv: float = 1000.0
    at_risk_max_p_alive: float = 0.5
    lapsed_max_p_alive: float = 0.2
    discount_share: float = 0.5
    return_rate: float = 0.3


def builtin_segments(thresholds: BuiltinThresholds | None = None) -> tuple[Segment, ...]:
    """The built-in segment definitions, against ``CUSTOMER_FEATURES_SCHEMA``.

    ``at_risk`` and ``lapsed`` use P(alive) when the model filled it in and fall back
    to days since the last order where it is null (``coalesce`` of two conditions).

    Example:
        >>> [s.name for s in builtin_segments()][:4]
        ['new_customers', 'first_time_buyers', 'repeat_buyers', 'vip']
    """
    t = thresholds or BuiltinThresholds()
    return (
        Segment(
            name="new_customers",
            expression=f"created_at >= now - {t.new_days}d",
            description=f"signed up in the last {t.new_days} days",
        ),
        Segment(
            name="first_time_buyers",
            expression="orders_count == 1",
            description="exactly one order so far",
        ),
        Segment(
            name="repeat_buyers",
            expression="orders_count >= 2",
            description="two or more orders",
        ),
        Segment(
            name="vip",
            expression=(
                f"orders_count >= 1 and (total_spent >= {t.vip_min_spent} "
                f"or predicted_clv >= {t.vip_min_clv} "
                "or (r_score >= 4 and f_score >= 4 and m_score >= 4))"
            ),
            description="high value: big lifetime spend, high predicted CLV or top RFM scores",
        ),
        Segment(
            name="at_risk",
            expression=(
                f"orders_count >= 2 and coalesce(p_alive < {t.at_risk_max_p_alive} "
                f"and p_alive >= {t.lapsed_max_p_alive}, "
                f"days_since_last_order > {t.at_risk_days} "
                f"and days_since_last_order <= {t.lapsed_days})"
            ),
            description="repeat buyers slipping away: low P(alive), or no order for a while",
        ),
        Segment(
            name="lapsed",
            expression=(
                f"orders_count >= 1 and coalesce(p_alive < {t.lapsed_max_p_alive}, "
                f"days_since_last_order > {t.lapsed_days})"
            ),
            description="customers who have most likely stopped buying",
        ),
        Segment(
            name="cart_abandoners",
            expression="cart_abandon_count >= 1",
            description="left a cart since their last order",
        ),
        Segment(
            name="browsers_never_buy",
            expression="orders_count == 0 and browse_abandon_count >= 1",
            description="browse products but never ordered",
        ),
        Segment(
            name="discount_sensitive",
            expression=f"orders_count >= 2 and discount_order_share >= {t.discount_share}",
            description="most orders used a discount",
        ),
        Segment(
            name="high_returners",
            expression=f"orders_count >= 2 and return_rate >= {t.return_rate}",
            description="return a large share of what they buy",
        ),
    )
