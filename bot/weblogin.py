"""Logins to the department's web page: one-time links the bot sends, sessions they begin.

A token is 256 random bits in URL-safe base64; only its SHA-256 is stored (storage/web.py), so
the database alone opens no session. A link works once, for ten minutes; the session it begins
lasts a working day (`[web] session`) or until its owner logs out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from storage.web import LinkRefusal, WebAuthRepository, WebSession

LINK_LIFETIME = dt.timedelta(minutes=10)
# What `secrets.token_urlsafe(32)` gives: 43 characters of URL-safe base64.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A session begun by a link: the cookie's token and the session's CSRF token."""

    person_id: int
    token: str
    csrf: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class WebLogin:
    repo: WebAuthRepository
    public_url: str
    session_lifetime: dt.timedelta = dt.timedelta(hours=10)

    async def issue_link(self, person_id: int, now: dt.datetime) -> str:
        """A new one-time link for a staff member (the caller has checked who asks)."""
        token = new_token()
        await self.repo.add_link(token_hash(token), person_id, now, now + LINK_LIFETIME)
        return f"{self.public_url}/login/{token}"

    async def check(self, link_token: str, now: dt.datetime) -> LinkRefusal | None:
        """Whether a link would still open a session, without spending it."""
        if TOKEN_SHAPE.fullmatch(link_token) is None:
            return LinkRefusal.UNKNOWN
        return await self.repo.check_link(token_hash(link_token), now)

    async def open(self, link_token: str, now: dt.datetime) -> Opened | LinkRefusal:
        """Spend a link: the new session, or why the link opens nothing."""
        if TOKEN_SHAPE.fullmatch(link_token) is None:
            return LinkRefusal.UNKNOWN
        session, csrf = new_token(), new_token()
        expires_at = now + self.session_lifetime
        found = await self.repo.open_session(
            token_hash(link_token), token_hash(session), csrf, now, expires_at
        )
        if isinstance(found, LinkRefusal):
            return found
        return Opened(found, session, csrf, expires_at)

    async def session(self, token: str, now: dt.datetime) -> WebSession | None:
        if TOKEN_SHAPE.fullmatch(token) is None:
            return None
        return await self.repo.session(token_hash(token), now)

    async def end(self, token: str, now: dt.datetime) -> bool:
        if TOKEN_SHAPE.fullmatch(token) is None:
            return False
        return await self.repo.end_session(token_hash(token), now)

    async def end_all(self, person_id: int, now: dt.datetime) -> int:
        """«выйти» in the bot: every session of the person ends, every unused link dies."""
        return await self.repo.end_sessions_of(person_id, now)
