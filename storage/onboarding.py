"""Repositories for onboarding: registration codes, self-registered people, chats and members."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager

from pydantic import BaseModel, ConfigDict

from bot.domain import Person, Role, School
from storage.db import Database


def _ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _parse(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class RegistrationCode(_Row):
    school: School
    code: str
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


class Registered(_Row):
    person: Person
    school_name: str
    registered_at: dt.datetime


class Removed(_Row):
    id: int
    person: Person
    school_name: str


class Unresolved(_Row):
    school_id: str
    screen_name: str
    full_name: str
    role: Role
    problem: str


class RegistrationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def atomic(self) -> AbstractAsyncContextManager[None]:
        """A check of a code and its count, as one."""
        return self._db.atomic()

    async def replace_codes(
        self, codes: dict[str, str], campaign_id: str, expires_at: dt.datetime, now: dt.datetime
    ) -> None:
        """Give each listed school a new code; the old one stops working, and whoever it let
        in is no longer waiting to choose a role."""
        async with self._db.atomic():
            await self._db.executemany(
                "DELETE FROM pending_registrations WHERE school_id = ?",
                [(school_id,) for school_id in codes],
            )
            await self._db.executemany(
                """
                INSERT INTO registration_codes
                    (school_id, code, campaign_id, expires_at, created_at, revoked_at)
                VALUES (?, ?, ?, ?, ?, NULL)
                ON CONFLICT (school_id) DO UPDATE SET
                    code = excluded.code, campaign_id = excluded.campaign_id,
                    expires_at = excluded.expires_at, created_at = excluded.created_at,
                    revoked_at = NULL
                """,
                [
                    (school_id, code, campaign_id, _ts(expires_at), _ts(now))
                    for school_id, code in codes.items()
                ],
            )

    async def codes(self) -> list[RegistrationCode]:
        rows = await self._db.fetchall(
            """
            SELECT s.id, s.name, c.code, c.expires_at, COALESCE(c.revoked_at, s.closed_at)
            FROM registration_codes c JOIN schools s ON s.id = c.school_id ORDER BY s.id
            """
        )
        return [
            RegistrationCode(
                school=School(id=r[0], name=r[1]),
                code=r[2],
                expires_at=dt.datetime.fromisoformat(r[3]),
                revoked_at=_parse(r[4]),
            )
            for r in rows
        ]

    async def by_code(self, code: str) -> RegistrationCode | None:
        row = await self._db.fetchone(
            """
            SELECT s.id, s.name, c.code, c.expires_at, COALESCE(c.revoked_at, s.closed_at)
            FROM registration_codes c JOIN schools s ON s.id = c.school_id WHERE c.code = ?
            """,
            (code,),
        )
        if row is None:
            return None
        return RegistrationCode(
            school=School(id=row[0], name=row[1]),
            code=row[2],
            expires_at=dt.datetime.fromisoformat(row[3]),
            revoked_at=_parse(row[4]),
        )

    async def revoke(self, school_id: str, now: dt.datetime) -> bool:
        """Stop a school's code; whoever it let in is no longer waiting to choose a role."""
        async with self._db.atomic():
            changed = await self._db.execute(
                "UPDATE registration_codes SET revoked_at = ? "
                "WHERE school_id = ? AND revoked_at IS NULL",
                (_ts(now), school_id),
            )
            await self._db.execute(
                "DELETE FROM pending_registrations WHERE school_id = ?", (school_id,)
            )
        return changed > 0

    async def record_attempt(
        self, person_id: int, ok: bool, now: dt.datetime, *, weight: int = 1
    ) -> None:
        await self._db.execute(
            "INSERT INTO registration_attempts (person_id, at, ok, weight) VALUES (?, ?, ?, ?)",
            (person_id, _ts(now), int(ok), weight),
        )

    async def wrong_codes(self, person_id: int, since: dt.datetime) -> tuple[int, int]:
        """Since a moment: how much of their allowance this person's wrong codes used up, and
        how many wrong codes everybody typed."""
        row = await self._db.fetchone(
            "SELECT COALESCE(SUM(CASE WHEN person_id = ? THEN weight END), 0), COUNT(*) "
            "FROM registration_attempts WHERE ok = 0 AND at >= ?",
            (person_id, _ts(since)),
        )
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    async def set_pending(self, person_id: int, school_id: str, now: dt.datetime) -> None:
        await self._db.execute(
            "INSERT INTO pending_registrations (person_id, school_id, created_at) "
            "VALUES (?, ?, ?) "
            "ON CONFLICT (person_id) DO UPDATE SET school_id = excluded.school_id, "
            "created_at = excluded.created_at",
            (person_id, school_id, _ts(now)),
        )

    async def pending(self, person_id: int) -> tuple[str, dt.datetime] | None:
        row = await self._db.fetchone(
            "SELECT school_id, created_at FROM pending_registrations WHERE person_id = ?",
            (person_id,),
        )
        return None if row is None else (row[0], dt.datetime.fromisoformat(row[1]))

    async def register(self, person: Person, now: dt.datetime) -> None:
        """Bind a person to a school (and forget the pending step), in one transaction."""
        async with self._db.atomic():
            await self._db.execute(
                """
                INSERT INTO people (person_id, school_id, full_name, role, source, registered_at)
                VALUES (?, ?, ?, ?, 'registration', ?)
                ON CONFLICT (person_id, school_id) DO UPDATE SET role = excluded.role
                """,
                (
                    person.person_id,
                    person.school_id,
                    person.full_name,
                    person.role.value,
                    _ts(now),
                ),
            )
            await self._db.execute(
                "DELETE FROM pending_registrations WHERE person_id = ?", (person.person_id,)
            )

    async def registered(self) -> list[Registered]:
        rows = await self._db.fetchall(
            """
            SELECT p.person_id, p.school_id, p.full_name, p.role, s.name, p.registered_at
            FROM people p JOIN schools s ON s.id = p.school_id
            WHERE p.source = 'registration' ORDER BY p.registered_at
            """
        )
        return [
            Registered(
                person=Person(person_id=r[0], school_id=r[1], full_name=r[2], role=Role(r[3])),
                school_name=r[4],
                registered_at=dt.datetime.fromisoformat(r[5]),
            )
            for r in rows
        ]

    async def unnoticed(self, limit: int) -> list[Registered]:
        """Registrations staff have not been told of yet, oldest first (migration 0012)."""
        rows = await self._db.fetchall(
            """
            SELECT p.person_id, p.school_id, p.full_name, p.role, s.name, p.registered_at
            FROM people p JOIN schools s ON s.id = p.school_id
            WHERE p.source = 'registration' AND p.registered_at IS NOT NULL
              AND NOT EXISTS (
                SELECT 1 FROM registration_notices n
                WHERE n.person_id = p.person_id AND n.school_id = p.school_id
                  AND n.registered_at = p.registered_at)
            ORDER BY p.registered_at, p.person_id LIMIT ?
            """,
            (limit,),
        )
        return [
            Registered(
                person=Person(person_id=r[0], school_id=r[1], full_name=r[2], role=Role(r[3])),
                school_name=r[4],
                registered_at=dt.datetime.fromisoformat(r[5]),
            )
            for r in rows
        ]

    async def removed_unnoticed(self, limit: int) -> list[Removed]:
        """People taken off a school's list that staff have not been told of, oldest first."""
        rows = await self._db.fetchall(
            """
            SELECT r.id, r.person_id, r.school_id, r.full_name, r.role,
                   COALESCE(s.name, r.school_id)
            FROM people_removed r LEFT JOIN schools s ON s.id = r.school_id
            WHERE r.noticed_at IS NULL ORDER BY r.id LIMIT ?
            """,
            (limit,),
        )
        return [
            Removed(
                id=r[0],
                person=Person(person_id=r[1], school_id=r[2], full_name=r[3], role=Role(r[4])),
                school_name=r[5],
            )
            for r in rows
        ]

    async def mark_removed_noticed(self, items: Sequence[Removed], now: dt.datetime) -> None:
        await self._db.executemany(
            "UPDATE people_removed SET noticed_at = ? WHERE id = ?",
            [(_ts(now), item.id) for item in items],
        )

    async def mark_noticed(self, items: Sequence[Registered], now: dt.datetime) -> None:
        await self._db.executemany(
            "INSERT OR IGNORE INTO registration_notices "
            "(person_id, school_id, registered_at, noticed_at) VALUES (?, ?, ?, ?)",
            [
                (r.person.person_id, r.person.school_id, _ts(r.registered_at), _ts(now))
                for r in items
            ],
        )

    async def unbind(self, person_id: int) -> int:
        """Remove a person from every school; their answers stay in the history."""
        return await self._db.execute("DELETE FROM people WHERE person_id = ?", (person_id,))

    async def unresolved(self) -> list[Unresolved]:
        rows = await self._db.fetchall(
            "SELECT school_id, screen_name, full_name, role, problem FROM unresolved_people "
            "ORDER BY school_id, screen_name"
        )
        return [
            Unresolved(
                school_id=r[0], screen_name=r[1], full_name=r[2], role=Role(r[3]), problem=r[4]
            )
            for r in rows
        ]

    async def resolve(self, item: Unresolved, person_id: int | None, problem: str = "") -> None:
        """A screen name resolved to an id becomes a roster person; otherwise note why not."""
        async with self._db.atomic():
            if person_id is None:
                await self._db.execute(
                    "UPDATE unresolved_people SET problem = ? "
                    "WHERE school_id = ? AND screen_name = ?",
                    (problem, item.school_id, item.screen_name),
                )
                return
            await self._db.execute(
                "INSERT INTO people (person_id, school_id, full_name, role) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (person_id, school_id) DO UPDATE SET full_name = excluded.full_name, "
                "role = excluded.role, source = 'roster'",
                (person_id, item.school_id, item.full_name, item.role.value),
            )
            await self._db.execute(
                "DELETE FROM unresolved_people WHERE school_id = ? AND screen_name = ?",
                (item.school_id, item.screen_name),
            )


class ChatRepository:
    """Chats bound by admins, and who the bot saw in each (for step 3.3)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def bind(self, peer_id: int, kind: str, by: int, now: dt.datetime) -> None:
        await self._db.execute(
            "INSERT INTO chats (peer_id, kind, bound_by, bound_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (peer_id) DO UPDATE SET kind = excluded.kind, "
            "bound_by = excluded.bound_by, bound_at = excluded.bound_at",
            (peer_id, kind, by, _ts(now)),
        )

    async def bound(self, kind: str) -> list[int]:
        return [peer for peer, bound_kind in (await self.kinds()).items() if bound_kind == kind]

    async def kinds(self) -> dict[int, str]:
        """Every chat an admin bound, and as what."""
        rows = await self._db.fetchall("SELECT peer_id, kind FROM chats ORDER BY peer_id")
        return {row[0]: row[1] for row in rows}

    async def replace_members(
        self, peer_id: int, members: Iterable[int] | None, now: dt.datetime
    ) -> None:
        """What the bot read from a chat; `None` when VK would not show the members."""
        async with self._db.atomic():
            await self._db.execute(
                "INSERT INTO chat_checks (peer_id, readable, checked_at) VALUES (?, ?, ?) "
                "ON CONFLICT (peer_id) DO UPDATE SET readable = excluded.readable, "
                "checked_at = excluded.checked_at",
                (peer_id, int(members is not None), _ts(now)),
            )
            await self._db.execute("DELETE FROM chat_members WHERE peer_id = ?", (peer_id,))
            if members is not None:
                await self._db.executemany(
                    "INSERT INTO chat_members (peer_id, person_id) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING",
                    [(peer_id, member) for member in members],
                )

    async def joined(self, peer_id: int, person_id: int) -> None:
        await self._db.execute(
            "INSERT INTO chat_members (peer_id, person_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (peer_id, person_id),
        )

    async def left(self, peer_id: int, person_id: int) -> None:
        await self._db.execute(
            "DELETE FROM chat_members WHERE peer_id = ? AND person_id = ?", (peer_id, person_id)
        )

    async def readable(self, peer_ids: Sequence[int]) -> list[int]:
        """Which of these chats the bot could list the members of."""
        if not peer_ids:
            return []
        marks = ",".join("?" * len(peer_ids))
        rows = await self._db.fetchall(
            f"SELECT peer_id FROM chat_checks WHERE readable = 1 "  # noqa: S608
            f"AND peer_id IN ({marks})",
            list(peer_ids),
        )
        return [row[0] for row in rows]

    async def members_in(self, peer_ids: Sequence[int]) -> set[int]:
        """Everybody the bot saw in any of these chats."""
        if not peer_ids:
            return set()
        marks = ",".join("?" * len(peer_ids))
        rows = await self._db.fetchall(
            f"SELECT DISTINCT person_id FROM chat_members WHERE peer_id IN ({marks})",  # noqa: S608
            list(peer_ids),
        )
        return {row[0] for row in rows}
