"""Messenger accounts and the product's person ids (storage/migrations/0008_people_accounts.sql).

A VK-born person's id is their VK user id (below 2^40); an account on another messenger gets a
person id of its own from 2^40 on, allocated the first time it is seen and never changed.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable
from enum import StrEnum

from storage.db import Database

# Person ids from here on are not VK ids: they were allocated for another messenger's account.
FIRST_OTHER_PERSON = 2**40

_ALLOCATE = """
INSERT INTO accounts (platform, external_id, person_id)
SELECT ?, ?, COALESCE(MAX(person_id) + 1, ?) FROM accounts WHERE person_id >= ?
ON CONFLICT (platform, external_id) DO NOTHING
"""
_FIND = "SELECT person_id FROM accounts WHERE platform = ? AND external_id = ?"


class Linked(StrEnum):
    """What became of an account presented with a link code (migration 0021)."""

    LINKED = "linked"  # the account is now the code's person's
    ALREADY = "already"  # it was theirs already
    UNKNOWN = "unknown"  # no such code, expired, or taken by another account
    REGISTERED = "registered"  # the account is a person of a school of its own: not moved


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


class AccountRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self, platform: str) -> dict[str, int]:
        """Every account of a messenger: external id -> person id (to cache at start)."""
        rows = await self._db.fetchall(
            "SELECT external_id, person_id FROM accounts WHERE platform = ?", (platform,)
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def persons_of(self, platform: str, external_ids: Iterable[str]) -> dict[str, int]:
        """The person id of each account, allocating one from 2^40 on for an account never
        seen; in one transaction of its own or the caller's."""
        wanted = list(dict.fromkeys(external_ids))

        def work(conn: sqlite3.Connection) -> dict[str, int]:
            found: dict[str, int] = {}
            for external in wanted:
                conn.execute(
                    _ALLOCATE, (platform, external, FIRST_OTHER_PERSON, FIRST_OTHER_PERSON)
                )
                row = conn.execute(_FIND, (platform, external)).fetchone()
                found[external] = int(row[0])
            return found

        if not wanted:
            return {}
        async with self._db.atomic():
            return await self._db.run(work)

    async def dialogs(self, platform: str) -> dict[str, int]:
        """Every known dialog of a messenger: external id -> the dialog's chat id."""
        rows = await self._db.fetchall(
            "SELECT external_id, chat_id FROM account_dialogs WHERE platform = ?", (platform,)
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def save_dialogs(self, platform: str, dialogs: dict[str, int]) -> None:
        if dialogs:
            await self._db.executemany(
                "INSERT INTO account_dialogs (platform, external_id, chat_id) VALUES (?, ?, ?) "
                "ON CONFLICT (platform, external_id) DO UPDATE SET chat_id = excluded.chat_id",
                [(platform, external, chat) for external, chat in dialogs.items()],
            )

    async def create_link(
        self, code: str, person_id: int, now: dt.datetime, expires_at: dt.datetime
    ) -> None:
        await self._db.execute(
            "INSERT INTO account_links (code, person_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?)",
            (code, person_id, _ts(now), _ts(expires_at)),
        )

    async def link_codes_taken(self) -> set[str]:
        rows = await self._db.fetchall("SELECT code FROM account_links")
        return {str(row[0]) for row in rows}

    async def link(
        self, platform: str, external_id: str, code: str, now: dt.datetime
    ) -> tuple[Linked, int | None]:
        """Give an account to the person whose code it presents, once, within the code's hour.

        An account whose own person is in the roster is not moved (that would take a school's
        person away from it): staff sort such a case out. Returns what happened and the person
        the account belongs to now."""

        def work(conn: sqlite3.Connection) -> tuple[Linked, int | None]:
            row = conn.execute(
                "SELECT person_id, expires_at, linked_platform, linked_external_id "
                "FROM account_links WHERE code = ?",
                (code,),
            ).fetchone()
            if row is None:
                return Linked.UNKNOWN, None
            person_id, expires_at = int(row[0]), dt.datetime.fromisoformat(row[1])
            if row[2] is not None:
                taken_by_this = (row[2], row[3]) == (platform, external_id)
                return (Linked.ALREADY, person_id) if taken_by_this else (Linked.UNKNOWN, None)
            if now > expires_at:
                return Linked.UNKNOWN, None
            current = conn.execute(_FIND, (platform, external_id)).fetchone()
            if current is not None and int(current[0]) == person_id:
                outcome = Linked.ALREADY
            else:
                if (
                    current is not None
                    and conn.execute(
                        "SELECT 1 FROM people WHERE person_id = ?", (int(current[0]),)
                    ).fetchone()
                ):
                    return Linked.REGISTERED, int(current[0])
                conn.execute(
                    "INSERT INTO accounts (platform, external_id, person_id) VALUES (?, ?, ?) "
                    "ON CONFLICT (platform, external_id) "
                    "DO UPDATE SET person_id = excluded.person_id",
                    (platform, external_id, person_id),
                )
                outcome = Linked.LINKED
            conn.execute(
                "UPDATE account_links SET linked_platform = ?, linked_external_id = ?, "
                "linked_at = ? WHERE code = ?",
                (platform, external_id, _ts(now), code),
            )
            return outcome, person_id

        async with self._db.atomic():
            return await self._db.run(work)

    async def link_owner(self, code: str, now: dt.datetime) -> int | None:
        """Whose link code this is, while it can still be used (not linked, not expired)."""
        row = await self._db.fetchone(
            "SELECT person_id FROM account_links WHERE code = ? AND linked_at IS NULL "
            "AND expires_at >= ?",
            (code, _ts(now)),
        )
        return None if row is None else int(row[0])

    async def linked_by(self, person_id: int, code: str) -> bool:
        """Did this person's code link an account (the rules greet the account so)?"""
        row = await self._db.fetchone(
            "SELECT 1 FROM account_links WHERE code = ? AND person_id = ? "
            "AND linked_at IS NOT NULL",
            (code, person_id),
        )
        return row is not None
