"""Messenger accounts and the product's person ids (storage/migrations/0008_people_accounts.sql).

A VK-born person's id is their VK user id (below 2^40); an account on another messenger gets a
person id of its own from 2^40 on, allocated the first time it is seen and never changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from storage.db import Database

# Person ids from here on are not VK ids: they were allocated for another messenger's account.
FIRST_OTHER_PERSON = 2**40

_ALLOCATE = """
INSERT INTO accounts (platform, external_id, person_id)
SELECT ?, ?, COALESCE(MAX(person_id) + 1, ?) FROM accounts WHERE person_id >= ?
ON CONFLICT (platform, external_id) DO NOTHING
"""
_FIND = "SELECT person_id FROM accounts WHERE platform = ? AND external_id = ?"


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
