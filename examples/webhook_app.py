r"""A small ASGI app receiving Shopify and WooCommerce webhooks into SQLite, with the engine.

ecomcrm runs no server; this is the web endpoint an app puts in front of it, written with
Starlette (``pip install "ecomcrm[webhook-example]"``; ecomcrm itself does not depend on
it). One route per platform, ``POST /webhooks/shopify`` and ``POST /webhooks/woocommerce``:

- the raw body and the headers go to :func:`ecomcrm.io.handle_webhook` (the signature
  covers the exact bytes, so the body is never parsed first);
- the engine handles the returned events at once (``engine.handle_many``), so the
  abandoned-cart and post-purchase flows start in real time;
- the answer is what each platform expects: **200** when the delivery is taken (written,
  or a duplicate, stale or ignored one: a retry would change nothing), **401** when the
  signature does not match (Shopify asks for 401 on a bad HMAC), **400** for a body or
  topic that cannot be read (nothing was written). WooCommerce's ping when a webhook is
  saved (``webhook_id=12``, unsigned) gets a 200, or WooCommerce would not save it.

Run it with an ASGI server::

    ECOMCRM_DB=crm.db SHOPIFY_SECRET=... WOOCOMMERCE_SECRET=... \
        uvicorn --factory webhook_app:app_from_env

The work is synchronous (SQLite), so it runs in Starlette's thread pool, not on the event
loop. Send the emails the engine's actions ask for from a queue: Shopify waits 5 seconds
for the answer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import ecomcrm
from ecomcrm.errors import SignatureError, ValidationError
from ecomcrm.io import handle_webhook
from ecomcrm.rules import Engine, Flow, builtin_flow

PLATFORMS = ("shopify", "woocommerce")


def create_app(
    db_path: str, secrets: Mapping[str, str], *, flows: Sequence[Flow] | None = None
) -> Starlette:
    """The app: one SQLite store and one engine, shared by the requests.

    ``secrets`` holds each platform's webhook secret (Shopify: the app's client secret;
    WooCommerce: the webhook's *Secret*); a platform without one answers 404.
    """
    store = ecomcrm.open_store(f"sqlite:///{db_path}")
    engine = Engine(
        store,
        flows
        if flows is not None
        else [builtin_flow("post_purchase"), builtin_flow("abandoned_cart")],
    )

    def handle(
        platform: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        try:
            result = handle_webhook(platform, headers, body, secret=secrets[platform], store=store)
        except SignatureError as exc:
            return 401, {"error": "signature", "detail": str(exc)}
        except ValidationError as exc:
            return 400, {"error": "invalid", "detail": str(exc)}
        actions = engine.handle_many(result.events)
        return 200, {
            "status": result.status,
            "orders": list(result.orders),
            "events": [event.name for event in result.events],
            "actions": [action.id for action in actions],
        }

    async def receive(request: Request) -> JSONResponse:
        platform = request.path_params["platform"]
        if platform not in PLATFORMS or platform not in secrets:
            return JSONResponse({"error": "unknown platform"}, status_code=404)
        body = await request.body()
        status, answer = await run_in_threadpool(handle, platform, request.headers.items(), body)
        return JSONResponse(answer, status_code=status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(
        routes=[Route("/webhooks/{platform}", receive, methods=["POST"])], lifespan=lifespan
    )
    app.state.store = store
    app.state.engine = engine
    return app


def app_from_env() -> Starlette:
    """The app configured by ``ECOMCRM_DB``, ``SHOPIFY_SECRET`` and ``WOOCOMMERCE_SECRET``."""
    secrets = {
        platform: os.environ[f"{platform.upper()}_SECRET"]
        for platform in PLATFORMS
        if os.environ.get(f"{platform.upper()}_SECRET")
    }
    return create_app(os.environ.get("ECOMCRM_DB", "crm.db"), secrets)
