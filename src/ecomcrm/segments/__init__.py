"""Segments: a safe condition language, the customer feature table, segments and stages.

One expression, two backends: :meth:`Expression.evaluate` checks one customer or event
(compiled Python, for the rules engine) and :meth:`Expression.mask` selects over a whole
:class:`FeatureTable` at once (numpy). Segments are named, versioned expressions;
lifecycle stages classify every customer in one vectorized pass.

Example:
    >>> import datetime as dt
    >>> from ecomcrm.segments import FeatureTable, compile_expression
    >>> schema = {"total_spent": "number", "tags": "tags", "consent_email": "bool"}
    >>> table = FeatureTable(
    ...     [1, 2, 3],
    ...     {"total_spent": [500.0, 20.0, None], "tags": [["vip"], [], ["vip"]],
    ...      "consent_email": [True, True, None]},
    ...     schema,
    ... )
    >>> expr = compile_expression("total_spent > 100 and 'vip' in tags and consent_email", schema)
    >>> expr.mask(table).tolist()
    [True, False, False]
"""

from __future__ import annotations

from ecomcrm.segments._builtin_segments import BuiltinThresholds, builtin_segments
from ecomcrm.segments._compile import Expression, compile_expression
from ecomcrm.segments._features import (
    FeatureTable,
    StringColumn,
    TagsColumn,
)
from ecomcrm.segments._fields import (
    CUSTOMER_FEATURES_SCHEMA,
    CUSTOMER_FIELD_REGISTRY,
    CustomerField,
    customer_record,
    order_fields,
    profile_fields,
)
from ecomcrm.segments._lifecycle import LifecycleConfig, LifecycleStage, classify_lifecycle
from ecomcrm.segments._segment import (
    Segment,
    SegmentChange,
    SegmentMembership,
    SegmentSet,
    evaluate_segments,
    segment_diff,
)
from ecomcrm.segments._store_features import (
    ModelCoverage,
    ValueModels,
    build_customer_features,
    fit_value_models,
    refresh_customer_features,
)
from ecomcrm.segments._types import FieldType, Schema

__all__ = [
    "CUSTOMER_FEATURES_SCHEMA",
    "CUSTOMER_FIELD_REGISTRY",
    "BuiltinThresholds",
    "CustomerField",
    "Expression",
    "FeatureTable",
    "FieldType",
    "LifecycleConfig",
    "LifecycleStage",
    "ModelCoverage",
    "Schema",
    "Segment",
    "SegmentChange",
    "SegmentMembership",
    "SegmentSet",
    "StringColumn",
    "TagsColumn",
    "ValueModels",
    "build_customer_features",
    "builtin_segments",
    "classify_lifecycle",
    "compile_expression",
    "customer_record",
    "evaluate_segments",
    "fit_value_models",
    "order_fields",
    "profile_fields",
    "refresh_customer_features",
    "segment_diff",
]
