"""The one path every VK API call takes: a rate limit, and retries where a retry can help.

VK allows a community token about 20 API requests per second and answers error 6 above that
(VK docs, "API requests limits": https://dev.vk.com/ru/api/api-requests#Ограничения и
рекомендации). Transient failures (6 too many requests, 9 flood control, 10 internal error,
HTTP 5xx, time-outs, dropped connections, a body that is not JSON) are retried with exponential
back-off and jitter. Errors that will not change (5 auth, 15 access, 100 parameters, 901 not
allowed, 917 no access to the chat, ...) are raised at once for the caller to handle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

from aiohttp import ClientError, ClientTimeout
from vkbottle import API
from vkbottle.http import ABCHTTPClient

from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset({6, 9, 10})
# The token is wrong or was revoked: nothing will work until an operator replaces it.
AUTH_FAILED = 5
DEFAULT_RATE = 20.0
DEFAULT_ATTEMPTS = 6
DEFAULT_TIMEOUT = 30.0


class TransientError(Exception):
    """A failure that is worth trying again (HTTP 5xx, a body that is not JSON)."""


class ResilientAPI(API):
    """vkbottle's `API` whose `request` is rate-limited and retries transient failures."""

    def __init__(
        self,
        token: str,
        *,
        http_client: ABCHTTPClient,
        rate: float = DEFAULT_RATE,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        timeout: float = DEFAULT_TIMEOUT,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(token, http_client=http_client)
        self.limiter = RateLimiter(rate)
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self._jitter = jitter
        self.retries = 0  # how many retries this process made, for the logs and benchmarks
        # Set by the first answer that refuses the token, whichever call it was: the bot stops.
        self.token_rejected = asyncio.Event()

    async def request(
        self, method: str, data: dict[str, Any], version: str | None = None
    ) -> dict[str, Any]:
        data = await self.validate_request(data)
        attempt = 1
        while True:
            await self.limiter.acquire()
            try:
                body = await self._post(method, data, version)
                code = _error_code(body)
                if code == AUTH_FAILED:
                    self.token_rejected.set()
                if code not in RETRYABLE_CODES:
                    # vkbottle's validators raise VKAPIError[code] for every other error.
                    return await self.validate_response(method, data, body)  # type: ignore[no-any-return]
                reason = f"VK error {code}"
            except (ClientError, TimeoutError) as error:
                # Only the type: aiohttp's messages may carry the request URL.
                reason = f"VK unreachable ({type(error).__name__})"
            except TransientError as error:
                reason = str(error)
            if attempt >= self.attempts:
                log.warning("%s failed after %d attempts (%s)", method, attempt, reason)
                raise TransientError(f"{method}: {reason}")
            delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
            delay *= 0.5 + self._jitter()
            self.retries += 1
            log.log(
                logging.WARNING if reason.startswith("VK unreachable") else logging.INFO,
                "%s: %s; retry %d in %.2f s",
                method,
                reason,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
            attempt += 1

    async def _post(self, method: str, data: dict[str, Any], version: str | None) -> Any:
        async with self.token_generator as token:
            # The token travels in the form body, never in a URL that could reach a log.
            form = {**data, "access_token": token, "v": version or self.API_VERSION}
            response = await self.http_client.request_raw(
                self.API_URL + method,
                method="POST",
                data=form_urlencode(form),  # type: ignore[arg-type]
                headers=FORM_HEADERS,
                timeout=ClientTimeout(total=self.timeout),
            )
        if response.status >= 500:
            raise TransientError(f"HTTP {response.status}")
        text = await response.text(encoding="utf-8")
        try:
            return json.loads(text)
        except ValueError:
            raise TransientError(f"HTTP {response.status}, not JSON") from None


# Every byte's form-urlencoded spelling, as urllib's `quote_plus` writes it: unreserved
# characters as they are, a space as «+», everything else as %XX.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_BYTE = [
    chr(b) if b in _UNRESERVED else "+" if b == 0x20 else f"%{b:02X}" for b in range(256)
]


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def form_urlencode(form: dict[str, Any]) -> bytes:
    """`urllib.parse.urlencode(form)` (UTF-8), several times faster on the long VKScript of an
    `execute`: urllib quotes byte by byte through a Python function call, this maps each byte
    through a table in C. An `execute` of 25 Cyrillic messages is ~25 KB to encode."""
    spell = _FORM_BYTE.__getitem__
    return "&".join(
        "".join(map(spell, str(key).encode())) + "=" + "".join(map(spell, str(value).encode()))
        for key, value in form.items()
    ).encode("ascii")


def _error_code(body: Any) -> int | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("error_code")
        return code if isinstance(code, int) else None
    return None
