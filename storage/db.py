"""One aiosqlite connection, explicit nesting transactions and numbered migrations.

The shape follows mautrix's async_db: `isolation_level=None`, `BEGIN IMMEDIATE` for the outermost
transaction and SAVEPOINTs inside it, each migration applied in a transaction together with the
bump of `PRAGMA user_version`, and a refusal to open a database written by newer code.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

SqlParams = Sequence[Any] | dict[str, Any]
_T = TypeVar("_T")


class DatabaseError(Exception):
    """The database cannot be used as it is: `reason` says why, for a message in the
    operator's words (see `bot.texts.cli_database_error`).

    - `directory`: the path is a folder;
    - `cannot_open`: the file or its folder cannot be created or opened (`detail` says why);
    - `corrupt`: the file is not an SQLite database, or is damaged;
    - `newer`: written by a newer confirmbot (`version` > `known`); upgrade, do not downgrade;
    - `broken`: anything else (a bad migration bundled with the code, a wrong setting).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "broken",
        path: str = "",
        detail: str = "",
        version: int = 0,
        known: int = 0,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.path = path
        self.detail = detail
        self.version = version
        self.known = known


def as_database_error(error: sqlite3.Error, path: str) -> DatabaseError:
    """SQLite's own error about the file, as a DatabaseError saying what to do about it."""
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return DatabaseError(
            f"database {path} is damaged or not an SQLite database ({text})",
            reason="corrupt",
            path=path,
            detail=text,
        )
    return DatabaseError(
        f"cannot open database {path}: {text}", reason="cannot_open", path=path, detail=text
    )


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """Read `storage/migrations/NNNN_name.sql`, ordered, with no gaps."""
    found: list[Migration] = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise DatabaseError(f"migration {migration.name}: expected number {expected:04d}")
    return found


class Database:
    """The single connection of the process; every statement goes through it."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        # Work for the connection's thread asked for in this turn of the loop (`_in_thread`).
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        # Which task owns the open transaction and how deep its savepoints go.
        self._depth: contextvars.ContextVar[int] = contextvars.ContextVar(
            f"db_depth_{id(self)}", default=0
        )

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        migrations: Iterable[Migration] | None = None,
        synchronous: str = "FULL",
    ) -> Database:
        """Open (creating if needed), set the PRAGMAs and bring the schema up to date.

        `synchronous=FULL` in WAL mode makes a committed answer survive a power cut, which is
        what we promise a head once we have acknowledged it.
        """
        target = str(path)
        if target != ":memory:":
            _create_private(Path(target))
        try:
            conn = await aiosqlite.connect(target, isolation_level=None)
        except sqlite3.Error as error:
            raise as_database_error(error, target) from None
        db = cls(conn, target)
        try:
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA journal_mode = WAL")
            if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
                raise DatabaseError(f"unsupported synchronous mode {synchronous!r}")
            await conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            await conn.execute("PRAGMA busy_timeout = 5000")
            await db.upgrade(bundled_migrations() if migrations is None else list(migrations))
        except sqlite3.Error as error:
            await conn.close()
            raise as_database_error(error, target) from None
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        self._flush()
        await self._conn.close()

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def upgrade(self, migrations: Sequence[Migration]) -> None:
        current = await self.schema_version()
        latest = migrations[-1].version if migrations else 0
        if current > latest:
            raise DatabaseError(
                f"database {self.path} has schema version {current}, newer than this "
                f"confirmbot knows ({latest}); upgrade confirmbot instead of opening it",
                reason="newer",
                path=self.path,
                version=current,
                known=latest,
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            log.info("applying migration %s", migration.name)
            async with self.transaction():
                for statement in _split_statements(migration.sql):
                    await self._sql(statement)
                await self._sql(f"PRAGMA user_version = {migration.version:d}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block atomically; nested calls in the same task become savepoints."""
        depth = self._depth.get()
        if depth == 0:
            async with self._lock:
                token = self._depth.set(1)
                try:
                    try:
                        await self._sql("BEGIN IMMEDIATE")
                        yield
                    except BaseException:
                        # Also when cancelled while BEGIN was on its way: the connection's
                        # thread runs statements in order, so this ROLLBACK follows it.
                        await asyncio.shield(self._rollback())
                        raise
                    try:
                        await self._sql("COMMIT")
                    except asyncio.CancelledError:
                        # The COMMIT still runs in the connection's thread; wait for it so the
                        # next transaction does not begin inside this one.
                        await asyncio.shield(self._sql("SELECT 1"))
                        raise
                finally:
                    self._depth.reset(token)
            return
        name = f"sp{depth}"
        token = self._depth.set(depth + 1)
        try:
            await self._sql(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                await self._sql(f"ROLLBACK TO {name}")
                await self._sql(f"RELEASE {name}")
                raise
            await self._sql(f"RELEASE {name}")
        finally:
            self._depth.reset(token)

    async def _rollback(self) -> None:
        # No transaction may be open (BEGIN itself failed).
        with contextlib.suppress(sqlite3.OperationalError):
            await self._sql("ROLLBACK")

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """All of the block or none of it: a transaction of its own, or, inside a caller's,
        simply part of that one (no savepoint: an exception rolls the caller back too).

        Repositories use this for their multi-statement writes; a unit of work (an update,
        a scheduled slot) opens `transaction()` around them, and saves two round trips to
        the connection's thread per write that a savepoint would cost.
        """
        if self._depth.get() > 0:
            yield
            return
        async with self.transaction():
            yield

    @asynccontextmanager
    async def _statement_guard(self) -> AsyncIterator[None]:
        # A statement outside any transaction must not land inside another task's transaction.
        if self._depth.get() > 0:
            yield
        else:
            async with self._lock:
                yield

    async def _in_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` on the connection's thread: one round trip for a statement and its
        results, instead of one for the statement, one for the rows and one to close.

        Work asked for in the same turn of the event loop (the updates of a group run side
        by side, each waiting for its own statement) goes to the thread in one hand-off, in
        the order asked: each hand-off costs the thread the GIL twice and the loop a wake-up,
        more than most of our statements."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)
        result: _T = await future
        return result

    def _flush(self) -> None:
        """Hand the work asked for so far to the connection's thread, as one call."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        conn = self._conn
        if not conn._running:
            for _, future in batch:
                if not future.done():
                    future.set_exception(ValueError("Connection closed"))
            return

        def run_all() -> list[tuple[bool, Any]]:
            raw = conn._conn
            outcomes: list[tuple[bool, Any]] = []
            for work, _ in batch:
                try:
                    outcomes.append((True, work(raw)))
                except Exception as error:
                    outcomes.append((False, error))
            return outcomes

        def deliver(done: asyncio.Future[list[tuple[bool, Any]]]) -> None:
            failure = None if done.cancelled() else done.exception()
            for index, (_, future) in enumerate(batch):
                if future.done():
                    continue  # its caller was cancelled; the work ran all the same
                if done.cancelled():
                    future.cancel()
                elif failure is not None:
                    future.set_exception(failure)
                else:
                    ok, value = done.result()[index]
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)

        handed: asyncio.Future[list[tuple[bool, Any]]] = asyncio.get_running_loop().create_future()
        handed.add_done_callback(deliver)
        conn._tx.put_nowait((handed, run_all))

    async def _sql(self, sql: str) -> None:
        """A statement with no parameters and no rows (BEGIN, COMMIT, SAVEPOINT, PRAGMA)."""

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(sql).close()

        await self._in_thread(run)

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run several statements in one round trip: `work` runs on the connection's thread
        and may only use the connection it is given (no awaiting, no other state). Wrap it in
        `atomic()` if its statements must stand or fall together."""
        async with self._statement_guard():
            return await self._in_thread(work)

    async def write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """`work` as a transaction of its own in one round trip to the connection's thread
        (BEGIN IMMEDIATE, `work`, COMMIT; ROLLBACK if either raises); inside a caller's
        transaction, simply part of that one. The same rules for `work` as for `run`.

        A cancelled caller does not cut it in half: the thread runs all of it or none."""
        if self._depth.get() > 0:
            return await self._in_thread(work)

        def whole(conn: sqlite3.Connection) -> _T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.OperationalError):
                    conn.execute("ROLLBACK")
                raise
            return result

        async with self._lock:
            return await self._in_thread(whole)

    async def execute(self, sql: str, params: SqlParams = ()) -> int:
        """Run one statement; returns the number of changed rows."""

        def run(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(sql, params)
            try:
                return cursor.rowcount
            finally:
                cursor.close()

        async with self._statement_guard():
            return await self._in_thread(run)

    async def insert(self, sql: str, params: SqlParams = ()) -> int:
        """Run an INSERT; returns the new row id."""

        def run(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(sql, params)
            try:
                return int(cursor.lastrowid or 0)
            finally:
                cursor.close()

        async with self._statement_guard():
            return await self._in_thread(run)

    async def executemany(self, sql: str, rows: Iterable[SqlParams]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(sql, rows).close()

        async with self._statement_guard():
            await self._in_thread(run)

    async def fetchall(self, sql: str, params: SqlParams = ()) -> list[aiosqlite.Row]:
        def run(conn: sqlite3.Connection) -> list[aiosqlite.Row]:
            cursor = conn.execute(sql, params)
            try:
                return list(cursor.fetchall())
            finally:
                cursor.close()

        async with self._statement_guard():
            return await self._in_thread(run)

    async def fetch_many(
        self, queries: Sequence[tuple[str, SqlParams]]
    ) -> list[list[aiosqlite.Row]]:
        """Several reads in one round trip to the connection's thread, results in order."""

        def run(conn: sqlite3.Connection) -> list[list[aiosqlite.Row]]:
            results = []
            for sql, params in queries:
                cursor = conn.execute(sql, params)
                try:
                    results.append(list(cursor.fetchall()))
                finally:
                    cursor.close()
            return results

        async with self._statement_guard():
            return await self._in_thread(run)

    async def fetchone(self, sql: str, params: SqlParams = ()) -> aiosqlite.Row | None:
        def run(conn: sqlite3.Connection) -> aiosqlite.Row | None:
            cursor = conn.execute(sql, params)
            try:
                row: aiosqlite.Row | None = cursor.fetchone()
                return row
            finally:
                cursor.close()

        async with self._statement_guard():
            return await self._in_thread(run)

    async def fetchval(self, sql: str, params: SqlParams = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    @asynccontextmanager
    async def iterate(self, sql: str, params: SqlParams = ()) -> AsyncIterator[aiosqlite.Cursor]:
        """Stream rows (for reports over thousands of schools) without loading them all."""
        async with self._statement_guard():
            self._flush()  # what was asked before runs before
            cursor = await self._conn.execute(sql, params)
            try:
                yield cursor
            finally:
                await cursor.close()


def _create_private(file: Path) -> None:
    """Create the database file owner-only: the roster holds people's names and VK ids."""
    target = str(file)
    if file.is_dir():
        raise DatabaseError(
            f"database path {target} is a directory, not a file",
            reason="directory",
            path=target,
        )
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        if not file.exists():
            os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as error:
        detail = error.strerror or str(error)
        raise DatabaseError(
            f"cannot create database {target}: {detail}",
            reason="cannot_open",
            path=target,
            detail=detail,
        ) from None


def _split_statements(sql: str) -> list[str]:
    """Split a migration into statements.

    `--` comments are dropped first (they may hold `;`); our migrations keep `;` and `--`
    out of string literals. A trigger's body holds `;` too: pieces are joined until SQLite
    says the statement is complete.
    """
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    statements: list[str] = []
    pending = ""
    for part in code.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip().removesuffix(";").strip())
            pending = ""
    if pending.strip(" \n\t;"):
        statements.append(pending.strip().removesuffix(";").strip())
    return [statement for statement in statements if statement]
