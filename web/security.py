"""What guards every request of the page: headers, the session, the access log, the limiter."""

from __future__ import annotations

import collections
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("web.access")

SESSION_COOKIE = "confirmbot_session"
# Scripts, styles and pictures only from the bot itself; no inline script, no frames, no
# plug-ins; forms post only here. Inline <svg> markup is not a script and is allowed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A login link in the address bar must not travel to another site as a Referer.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Who a request is from, once the session says so (for the access log). aiohttp 3.14 asks for
# typed keys on a request; older releases take the plain name.
_RequestKey: Any = getattr(web, "RequestKey", None)
PERSON: Any = "person_id" if _RequestKey is None else _RequestKey("person_id", int)
SESSION: Any = "session" if _RequestKey is None else _RequestKey("session", object)


class RateLimiter:
    """At most `limit` wrong login links per client in `window`; then every link of that client
    is refused until the window has moved past its failures."""

    def __init__(
        self, now: Callable[[], dt.datetime], limit: int = 10, window: dt.timedelta | None = None
    ) -> None:
        self._now = now
        self.limit = limit
        self.window = window or dt.timedelta(minutes=5)
        self._failures: dict[str, collections.deque[dt.datetime]] = {}

    def _recent(self, client: str) -> collections.deque[dt.datetime]:
        failures = self._failures.setdefault(client, collections.deque())
        horizon = self._now() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def blocked(self, client: str) -> bool:
        return len(self._recent(client)) >= self.limit

    def failed(self, client: str) -> None:
        self._recent(client).append(self._now())
        if len(self._failures) > 10_000:  # a flood of addresses must not grow this forever
            self._failures = {k: v for k, v in self._failures.items() if v}


def client_of(request: web.Request) -> str:
    """Who is asking: behind the reverse proxy on this machine, the address it passes on."""
    remote = request.remote or ""
    if remote in ("127.0.0.1", "::1"):
        forwarded = request.headers.get("X-Real-IP", "").strip()
        if forwarded:
            return forwarded[:64]
    return remote


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        # School data and login pages are never kept by a browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
    if isinstance(response, web.HTTPException):
        raise response
    return response


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per request: who (once known), what, and the answer; never a token."""
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        path = "/login/…" if request.path.startswith("/login/") else request.path
        if not path.startswith("/static/"):
            person = request.get(PERSON)
            log.info(
                "%s %s %s person=%s -> %s",
                client_of(request),
                request.method,
                path,
                person if person is not None else "-",
                status,
            )
