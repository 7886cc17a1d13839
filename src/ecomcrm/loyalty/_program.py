"""The loyalty program definition: earn rules, tiers, redemption, expiry."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from ecomcrm.errors import ConfigurationError

TierPeriod = Literal["rolling", "calendar_year"]
Downgrade = Literal["immediate", "after_next_period"]
_PERIODS = ("rolling", "calendar_year")
_DOWNGRADES = ("immediate", "after_next_period")


def _fail(field: str, message: str, value: Any) -> None:
    raise ConfigurationError(message, entity="LoyaltyProgram", field=field, value=value)


def _sorted_points(m: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(dict(m).items()))


@attrs.frozen(kw_only=True)
class Tier:
    """A tier: reached when qualifying points in the period reach ``threshold``.

    Attributes:
        name: Tier name, unique within the program.
        threshold: Qualifying points needed (the first tier must have 0).
        multiplier: Factor applied to points earned on orders while in this tier.

    Example:
        >>> Tier(name="gold", threshold=1000, multiplier=1.5).multiplier
        1.5
    """

    name: str
    threshold: int
    multiplier: float = 1.0


@attrs.frozen(kw_only=True)
class LoyaltyProgram:
    """A points-and-tiers loyalty program, JSON round-trippable via :meth:`to_dict`.

    Attributes:
        name: Program name.
        currency: ISO code the earn rate and redemption value are expressed in.
        points_per_unit: Points per currency unit spent (before the tier multiplier;
            fractions are floored per order).
        event_points: Points per event type, e.g. ``{"review_written": 50, "referral": 200}``
            (not multiplied by the tier).
        tiers: Tiers from lowest to highest; thresholds strictly increasing, the first 0.
        redemption_value: Currency value of one point when redeemed.
        min_redemption: Least points per redemption.
        expiry_days: Earned points expire this many days after being earned, oldest
            first (FIFO); None for points that never expire.
        tier_period: ``"rolling"`` (the last ``tier_window_days`` days) or
            ``"calendar_year"`` (since 1 January, UTC) for qualifying points.
        tier_window_days: Length of the rolling window.
        downgrade: ``"immediate"`` (the tier follows the current period) or, with
            ``tier_period="calendar_year"``, ``"after_next_period"`` (a tier reached in one
            year is kept through the next: the better of this year and last year).

    Example:
        >>> p = LoyaltyProgram(currency="EUR", points_per_unit=2,
        ...                    tiers=(Tier(name="member", threshold=0), Tier(name="gold", threshold=500, multiplier=1.5)))
        >>> LoyaltyProgram.from_dict(p.to_dict()) == p
        True
        >>> p.tier_names
        ('member', 'gold')
    """

    name: str = "default"
    currency: str = "USD"
    points_per_unit: float = 1.0
    event_points: Mapping[str, int] = attrs.field(factory=dict, converter=_sorted_points)
    tiers: tuple[Tier, ...] = attrs.field(
        default=(Tier(name="member", threshold=0),), converter=tuple
    )
    redemption_value: float = 0.01
    min_redemption: int = 1
    expiry_days: int | None = 365
    tier_period: TierPeriod = "rolling"
    tier_window_days: int = 365
    downgrade: Downgrade = "immediate"

    def __attrs_post_init__(self) -> None:
        if not self.name:
            _fail("name", "must not be empty", self.name)
        if not (
            isinstance(self.currency, str) and len(self.currency) == 3 and self.currency.isalpha()
        ):
            _fail("currency", "must be a 3-letter ISO code", self.currency)
        if not self.points_per_unit >= 0:
            _fail("points_per_unit", "must not be negative", self.points_per_unit)
        for key, pts in self.event_points.items():
            if not key or not isinstance(pts, int) or isinstance(pts, bool) or pts <= 0:
                _fail("event_points", f"points for {key!r} must be a positive integer", pts)
        if not self.tiers:
            _fail("tiers", "need at least one tier", ())
        if self.tiers[0].threshold != 0:
            _fail("tiers", "the first tier must have threshold 0", self.tiers[0].threshold)
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names) or not all(names):
            _fail("tiers", "tier names must be unique and non-empty", names)
        th = [t.threshold for t in self.tiers]
        if any(b <= a for a, b in itertools.pairwise(th)):
            _fail("tiers", "thresholds must increase strictly", th)
        if any(not t.multiplier >= 0 for t in self.tiers):
            _fail("tiers", "multipliers must not be negative", [t.multiplier for t in self.tiers])
        if not self.redemption_value >= 0:
            _fail("redemption_value", "must not be negative", self.redemption_value)
        if self.min_redemption < 1:
            _fail("min_redemption", "must be >= 1", self.min_redemption)
        if self.expiry_days is not None and self.expiry_days < 1:
            _fail("expiry_days", "must be >= 1 or None", self.expiry_days)
        if self.tier_period not in _PERIODS:
            _fail("tier_period", f"must be one of {', '.join(_PERIODS)}", self.tier_period)
        if self.tier_window_days < 1:
            _fail("tier_window_days", "must be >= 1", self.tier_window_days)
        if self.downgrade not in _DOWNGRADES:
            _fail("downgrade", f"must be one of {', '.join(_DOWNGRADES)}", self.downgrade)
        if self.downgrade == "after_next_period" and self.tier_period != "calendar_year":
            _fail(
                "downgrade",
                "'after_next_period' needs tier_period='calendar_year' (a rolling window "
                "downgrades as soon as the window falls below the threshold)",
                self.downgrade,
            )

    @property
    def tier_names(self) -> tuple[str, ...]:
        """Tier names, lowest first.

        Example:
            >>> LoyaltyProgram().tier_names
            ('member',)
        """
        return tuple(t.name for t in self.tiers)

    def tier_index(self, name: str | None) -> int:
        """Position of a tier by name (0, the base tier, for None).

        Example:
            >>> LoyaltyProgram().tier_index("member")
            0
        """
        if name is None:
            return 0
        try:
            return self.tier_names.index(name)
        except ValueError:
            raise ConfigurationError(
                f"unknown tier; tiers are {', '.join(self.tier_names)}",
                entity="LoyaltyProgram",
                field="tier",
                value=name,
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict; :meth:`from_dict` restores an equal program.

        Example:
            >>> LoyaltyProgram().to_dict()["tiers"]
            [{'name': 'member', 'threshold': 0, 'multiplier': 1.0}]
        """
        out = attrs.asdict(self, recurse=True)
        out["tiers"] = [attrs.asdict(t) for t in self.tiers]
        out["event_points"] = dict(self.event_points)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoyaltyProgram:
        """Build a program from :meth:`to_dict` output; unknown keys raise ConfigurationError.

        Example:
            >>> LoyaltyProgram.from_dict({"currency": "EUR"}).currency
            'EUR'
        """
        known = {f.name for f in attrs.fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigurationError(
                "unknown keys", entity="LoyaltyProgram", field=extra[0], value=extra
            )
        kwargs = dict(data)
        if "tiers" in kwargs:
            tiers = []
            for raw in kwargs["tiers"]:
                try:
                    tiers.append(raw if isinstance(raw, Tier) else Tier(**raw))
                except TypeError as exc:
                    raise ConfigurationError(
                        str(exc), entity="LoyaltyProgram", field="tiers", value=raw
                    ) from None
            kwargs["tiers"] = tuple(tiers)
        return cls(**kwargs)
