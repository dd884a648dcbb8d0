"""`confirmbot`: run the bot, the demo, import a roster, check a config, announce, report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.actions import Incoming
from bot.campaign import describe_campaign, load_campaign
from bot.clock import SystemClock
from bot.config import Config, ConfigError, describe, load_config
from bot.domain import Campaign
from bot.roster import RosterError, read_roster
from storage.db import Database, DatabaseError
from storage.reports import ReportRepository
from storage.repositories import RosterRepository

log = logging.getLogger("confirmbot")

REPORT_FORMATS = ("csv", "xlsx")
# `run` when VK refuses the token: sysexits' EX_CONFIG, which the systemd unit does not restart.
EXIT_TOKEN_REJECTED = 78


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # vkbottle logs every request at DEBUG; one line per event worth knowing is ours to write.
    logging.getLogger("vkbottle").setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="confirmbot",
        description="VK bot that collects confirmations of an order's steps from every school.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (VK long poll)")
    run.add_argument("--config", type=Path, required=True)

    demo = commands.add_parser("demo", help="the whole flow on the built-in VK API emulator")
    demo.add_argument("--schools", type=int, default=12, help="schools in the district (>= 3)")

    roster = commands.add_parser("roster", help="the list of schools and people")
    roster_commands = roster.add_subparsers(dest="roster_command", required=True)
    roster_import = roster_commands.add_parser("import", help="load schools and people (CSV)")
    roster_import.add_argument("file", type=Path)
    roster_import.add_argument("--config", type=Path, required=True)
    roster_codes = roster_commands.add_parser(
        "codes", help="registration codes for schools (CSV or XLSX by the file name)"
    )
    roster_codes.add_argument("--config", type=Path, required=True)
    roster_codes.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    roster_codes.add_argument(
        "--regenerate", action="store_true", help="new codes for every school (old ones stop)"
    )
    roster_codes.add_argument(
        "--revoke", action="append", default=[], metavar="SCHOOL_ID", help="revoke a code"
    )

    check = commands.add_parser("check-config", help="validate a config and explain it")
    check.add_argument("--config", type=Path, required=True)

    announce = commands.add_parser("announce", help="post the order to the heads chats")
    announce.add_argument("--config", type=Path, required=True)

    report = commands.add_parser("report", help="export every school's answers (CSV or Excel)")
    report.add_argument("--config", type=Path, required=True)
    report.add_argument(
        "--format", choices=REPORT_FORMATS, help="csv or xlsx (default: from the file's suffix)"
    )
    report.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    report.add_argument(
        "--bom", action="store_true", help="CSV only: start with a UTF-8 BOM, for Excel"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        if args.command == "run":
            return asyncio.run(_run(load_config(args.config)))
        if args.command == "demo":
            from bot.demo import run_demo  # the emulator is only needed here

            if args.schools < 3 or args.schools > 5000:
                print("error: --schools must be between 3 and 5000", file=sys.stderr)
                return 2
            return asyncio.run(run_demo(schools=args.schools))
        if args.command == "roster":
            if args.roster_command == "codes":
                return asyncio.run(
                    _roster_codes(
                        load_config(args.config), args.output, args.regenerate, args.revoke
                    )
                )
            return asyncio.run(_roster_import(load_config(args.config), args.file))
        if args.command == "check-config":
            return asyncio.run(_check_config(args.config))
        if args.command == "announce":
            return asyncio.run(_announce(load_config(args.config)))
        if args.command == "report":
            fmt = args.format or args.output.suffix.lower().lstrip(".")
            if fmt not in REPORT_FORMATS:
                print("error: say --format csv or --format xlsx", file=sys.stderr)
                return 2
            return asyncio.run(_report(load_config(args.config), fmt, args.output, bom=args.bom))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DatabaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


async def _run(config: Config) -> int:
    from bot.app import TokenRejected, build_app, serve

    app = await build_app(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    log.info("confirmbot started: community %s, campaign %s", config.vk.group_id, app.campaign.id)
    try:
        await serve(app, stop)
    except TokenRejected as error:
        log.error("%s", error)
        return EXIT_TOKEN_REJECTED
    finally:
        await app.close()
        log.info("confirmbot stopped")
    return 0


async def _roster_codes(config: Config, out: Path, regenerate: bool, revoke: list[str]) -> int:
    from bot.onboarding import Onboarding, codes_rows, write_codes
    from storage.onboarding import ChatRepository, RegistrationRepository

    if out.suffix.lower() not in (".csv", ".xlsx"):
        print(f"error: {out}: expected a .csv or .xlsx file name", file=sys.stderr)
        return 2
    if not _exists(out.parent):
        print(f"error: {out.parent} does not exist", file=sys.stderr)
        return 2
    campaign = load_campaign(config.campaign.file)
    db = await Database.open(config.storage.path)
    try:
        now = SystemClock().now()
        registrations = RegistrationRepository(db)
        onboarding = Onboarding(campaign, registrations, ChatRepository(db))
        schools = [s.id for s in await RosterRepository(db).schools()]
        unknown = [s for s in revoke if s not in schools]
        if unknown:
            print(f"error: no such school: {', '.join(unknown)}", file=sys.stderr)
            return 2
        await onboarding.issue_codes(schools, now, regenerate=regenerate)
        for school_id in revoke:
            await registrations.revoke(school_id, now)
        rows = codes_rows(await registrations.codes(), config.vk.group_id, campaign.timezone)
    finally:
        await db.close()
    try:
        write_codes(list(rows), out)
    except OSError as error:
        print(f"error: cannot write {out}: {error.strerror}", file=sys.stderr)
        return 1
    revoked = f", {len(revoke)} revoked" if revoke else ""
    print(f"registration codes for {len(rows)} schools written to {out}{revoked}")
    return 0


async def _roster_import(config: Config, file: Path) -> int:
    try:
        roster = read_roster(file)
    except RosterError as error:
        print(f"error: {file}: {error}", file=sys.stderr)
        print("nothing was changed", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot read {file}: {error.strerror}", file=sys.stderr)
        return 1
    db = await Database.open(config.storage.path)
    try:
        changes = await RosterRepository(db).apply(
            roster.schools, roster.people, SystemClock().now(), roster.unresolved
        )
    finally:
        await db.close()
    print(
        f"roster imported from {file}: "
        f"schools added {changes.schools_added}, updated {changes.schools_updated}, "
        f"unchanged {changes.schools_unchanged}; "
        f"people added {changes.people_added}, updated {changes.people_updated}, "
        f"removed {changes.people_removed}"
    )
    if changes.people_unresolved:
        print(
            f"{changes.people_unresolved} person(s) given by a screen name (vk.com/name) will "
            "be resolved to VK ids when the bot starts; unresolved ones are listed by the "
            "admin command «регистрации»"
        )
    if changes.schools_not_in_file:
        print(
            f"{changes.schools_not_in_file} school(s) in the database are not in the file; "
            "they were kept with their answers"
        )
    return 0


async def _check_config(path: Path) -> int:
    problems: list[str] = []
    try:
        config = load_config(path)
    except ConfigError as error:
        print(f"{path}: NOT OK", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    try:
        campaign = load_campaign(config.campaign.file)
    except ConfigError as error:
        problems += [f"campaign.file: {p}" for p in error.problems]
        campaign = None
    schools = "no database yet (import the roster first)"
    if _exists(config.storage.path):
        try:
            db = await Database.open(config.storage.path)
        except DatabaseError as error:
            problems.append(f"storage.path: {error}")
        else:
            try:
                schools = f"{await RosterRepository(db).count_schools()} in the roster"
            finally:
                await db.close()
    if not config.bot.admins:
        problems.append("bot.admins: no admins; expected at least one VK user id, e.g. [12345]")
    if problems:
        print(f"{path}: NOT OK", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("OK")
    for line in describe(config):
        print(f"  {line}")
    if campaign is not None:
        for line in describe_campaign(campaign):
            print(f"  {line}")
    print(f"  schools: {schools}")
    for warning in _warnings(config, campaign):
        print(f"  warning: {warning}")
    return 0


def _warnings(config: Config, campaign: Campaign | None) -> list[str]:
    """Things that are valid but probably not meant."""
    warnings: list[str] = []
    if campaign is None:
        return warnings
    if campaign.deadline <= SystemClock().now():
        warnings.append(
            f"the campaign's deadline {campaign.deadline:%d.%m.%Y %H:%M} has passed: on start "
            "the bot sends the final summary and escalates overdue schools; "
            "for a new order, point [campaign] file at a new campaign file"
        )
    if campaign.timezone != config.bot.timezone:
        warnings.append(
            f"bot.timezone is {config.bot.timezone} but the campaign's deadline is in "
            f"{campaign.timezone}; reminders follow the campaign's zone"
        )
    return warnings


def _exists(path: Path) -> bool:
    return path.exists()


async def _announce(config: Config) -> int:
    from bot.app import build_app

    app = await build_app(config)
    try:
        if not config.bot.heads_chats:
            print("error: bot.heads_chats is empty: nowhere to announce", file=sys.stderr)
            return 1
        # Not an answer to anybody: every action of an announcement names its own chat.
        async with app.db.transaction():
            await app.pipeline.respond(Incoming(user_id=0, peer_id=0), await app.flow.announce())
        await app.sender.drain()
        print(f"announced in {len(config.bot.heads_chats)} heads chat(s)")
    finally:
        await app.close()
    return 0


async def _report(config: Config, fmt: str, out: Path, *, bom: bool = False) -> int:
    from bot.report import write_csv, write_xlsx

    campaign = load_campaign(config.campaign.file)
    if not _exists(config.storage.path):
        print(
            f"error: no database at {config.storage.path}; run the bot or import a roster first",
            file=sys.stderr,
        )
        return 1
    problem = _unwritable(out)
    if problem:
        print(f"error: cannot write {out}: {problem}", file=sys.stderr)
        return 1
    try:
        db = await Database.open(config.storage.path)
    except sqlite3.Error as error:
        print(f"error: cannot open {config.storage.path}: {error}", file=sys.stderr)
        return 1
    try:
        repo = ReportRepository(db)
        members = await _heads_chat_members(config, db)
        if fmt == "csv":
            summary = await write_csv(
                repo, campaign, campaign.timezone, out, bom=bom, members=members
            )
        else:
            now = SystemClock().now()
            summary = await write_xlsx(
                repo, campaign, campaign.timezone, out, now, members=members
            )
    except OSError as error:
        print(f"error: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return 1
    except sqlite3.Error as error:
        print(f"error: cannot read {config.storage.path}: {error}", file=sys.stderr)
        return 1
    finally:
        await db.close()
    line = (
        f"report written to {out}: {summary.schools} schools x {summary.steps} steps, "
        f"{summary.finished} finished every step"
    )
    if fmt == "xlsx":
        line += f", {summary.answers} answers in the history"
    print(line)
    return 0


async def _heads_chat_members(config: Config, db: Database) -> frozenset[int] | None:
    """Who the bot last saw in the heads chats it can read (None: it can read none)."""
    from bot.chats import ChatDirectory
    from storage.onboarding import ChatRepository

    chats = ChatDirectory(
        tuple(config.bot.admin_chats), tuple(config.bot.heads_chats), ChatRepository(db)
    )
    readable = await chats.repo.readable(list(await chats.heads_chats()))
    if not readable:
        return None
    return frozenset(await chats.repo.members_in(readable))


def _unwritable(out: Path) -> str | None:
    """Why a report cannot go to `out`, found before any work is done."""
    if out.is_dir():
        return "it is a directory"
    if not out.parent.is_dir():
        return f"no directory {out.parent}"
    return None


if __name__ == "__main__":
    sys.exit(main())
