"""Bringing a shop's data in: importers, the synthetic shop generator, DataFrame interop.

Importers stream their file row by row and write one store transaction per batch, so memory
does not grow with the file. Every record ends in one bucket of the returned
:class:`ImportReport` (imported, updated, unchanged, rejected, suppressed), and every
rejected record is listed with its file, line, column and reason. Importing the same file
twice changes nothing the second time: ids are derived from the file's own keys, writes
are upserts, and events carry content ids. People erased earlier stay erased.

Example:
    >>> import ecomcrm
    >>> from ecomcrm.io import ImportReport
    >>> ImportReport(source="orders.csv", kind="shopify_orders").ok
    True
"""

from ecomcrm.io._bigcommerce import (
    BIGCOMMERCE_ORDER_COLUMNS,
    import_bigcommerce_orders,
    parse_product_details,
)
from ecomcrm.io._frames import (
    LIFETIMES_COLUMNS,
    frame_to_feature_table,
    from_frame,
    summary_frame,
    to_columns,
    to_frame,
)
from ecomcrm.io._ga4 import GA4_EVENT_NAMES, ga4_to_segment, import_ga4_events
from ecomcrm.io._generic import GENERIC_FIELDS, import_generic
from ecomcrm.io._magento import MAGENTO_ORDER_COLUMNS, import_magento_orders
from ecomcrm.io._parallel import parallel_import_possible
from ecomcrm.io._progress import ProgressCallback, TextProgress, make_progress
from ecomcrm.io._report import MAX_REJECTION_DETAILS, ImportReport, RejectedRow, RowWarning
from ecomcrm.io._segment_events import import_segment_events
from ecomcrm.io._shop_store import GenerationSummary
from ecomcrm.io._shopify import (
    SHOPIFY_CUSTOMER_COLUMNS,
    SHOPIFY_ORDER_COLUMNS,
    handle_shopify_webhook,
    import_shopify_customers,
    import_shopify_orders,
    shopify_customer_redact,
    shopify_data_request,
)
from ecomcrm.io._synthetic import SyntheticShop, generate_shop
from ecomcrm.io._webhook_core import MAX_WEBHOOK_BODY, WebhookResult
from ecomcrm.io._webhook_shopify import SHOPIFY_WEBHOOK_TOPICS
from ecomcrm.io._webhook_woocommerce import WOOCOMMERCE_WEBHOOK_TOPICS
from ecomcrm.io._webhooks import (
    SECRET_HEADER,
    WEBHOOK_PLATFORMS,
    handle_webhook,
    handle_webhooks,
    sync_resource,
)
from ecomcrm.io._woocommerce import (
    WOOCOMMERCE_ORDER_COLUMNS,
    import_woocommerce_orders,
    parse_pipe_fields,
)

__all__ = [
    "BIGCOMMERCE_ORDER_COLUMNS",
    "GA4_EVENT_NAMES",
    "GENERIC_FIELDS",
    "LIFETIMES_COLUMNS",
    "MAGENTO_ORDER_COLUMNS",
    "MAX_REJECTION_DETAILS",
    "MAX_WEBHOOK_BODY",
    "SECRET_HEADER",
    "SHOPIFY_CUSTOMER_COLUMNS",
    "SHOPIFY_ORDER_COLUMNS",
    "SHOPIFY_WEBHOOK_TOPICS",
    "WEBHOOK_PLATFORMS",
    "WOOCOMMERCE_ORDER_COLUMNS",
    "WOOCOMMERCE_WEBHOOK_TOPICS",
    "GenerationSummary",
    "ImportReport",
    "ProgressCallback",
    "RejectedRow",
    "RowWarning",
    "SyntheticShop",
    "TextProgress",
    "WebhookResult",
    "frame_to_feature_table",
    "from_frame",
    "ga4_to_segment",
    "generate_shop",
    "handle_shopify_webhook",
    "handle_webhook",
    "handle_webhooks",
    "import_bigcommerce_orders",
    "import_ga4_events",
    "import_generic",
    "import_magento_orders",
    "import_segment_events",
    "import_shopify_customers",
    "import_shopify_orders",
    "import_woocommerce_orders",
    "make_progress",
    "parallel_import_possible",
    "parse_pipe_fields",
    "parse_product_details",
    "shopify_customer_redact",
    "shopify_data_request",
    "summary_frame",
    "sync_resource",
    "to_columns",
    "to_frame",
]
