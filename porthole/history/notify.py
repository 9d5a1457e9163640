"""Tell a webhook about drift: one JSON POST, retried with exponential backoff.

Contract: ``notify_webhook`` never raises for a delivery failure (refused connection,
timeout, HTTP error status); it returns a ``Delivery`` that says what happened, so the
caller can log it and carry on. The sweep it reports on is stored before it is called:
a receiver that is down costs a notification, never a sweep.
A 2xx status is delivered; 4xx other than 408/429 is permanent (retrying the same body
will not help); everything else is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porthole.redact import mask_credential_url

__all__ = ["Delivery", "notify_webhook"]

log = logging.getLogger("porthole.history.notify")

_RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    delivered: bool
    attempts: int
    #: the last HTTP status seen, if any response came back
    status: int | None = None
    #: why the last attempt failed ("HTTP 503", "connection refused", ...)
    error: str | None = None


async def notify_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    attempts: int = 5,
    initial_delay_s: float = 1.0,
    backoff_factor: float = 2.0,
    timeout_s: float = 10.0,
) -> Delivery:
    """POST ``payload`` as JSON to ``url``; wait initial_delay_s, ×backoff_factor, ... between tries."""
    delay = initial_delay_s
    status: int | None = None
    error: str | None = None
    import aiohttp  # imported on first use: most commands never notify

    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for attempt in range(1, attempts + 1):
            try:
                async with session.post(url, json=dict(payload), headers={"User-Agent": "porthole-watch"}) as response:
                    status = response.status
                    await response.read()
                if 200 <= status < 300:
                    return Delivery(delivered=True, attempts=attempt, status=status)
                error = f"HTTP {status}"
                if 400 <= status < 500 and status not in _RETRYABLE_CLIENT_STATUSES:
                    return Delivery(delivered=False, attempts=attempt, status=status, error=f"{error} (not retried)")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                error = error.replace(url, mask_credential_url(url))  # some client errors quote the URL
            log.warning("webhook %s: attempt %d of %d failed (%s)", mask_credential_url(url), attempt, attempts, error)
            if attempt < attempts:
                await asyncio.sleep(delay)
                delay *= backoff_factor
    return Delivery(delivered=False, attempts=attempts, status=status, error=error)
