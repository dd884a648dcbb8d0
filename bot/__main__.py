"""`confirmbot`: run the bot, the demo, import a roster, check a config, announce, report,
recount what `статус` reads (`doctor`).

What it prints is in Russian (bot/texts.py, the "command line" section), for the district's IT
person. Exit status: 0 done; 1 the input was refused (config not OK, roster rejected, a file
that cannot be written, counts to repair found by `doctor --check`); 2 usage or config errors;
3 the database cannot be used (a folder, damaged, or written by a newer confirmbot). systemd
does not restart the service on 2 or 3.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from bot import texts
from bot.actions import Incoming
from bot.campaign import describe_campaign, load_campaign
from bot.clock import SystemClock
from bot.config import (
    DEFAULT_TIMEZONE,
    Config,
    ConfigError,
    check_timezone,
    describe,
    load_config,
)
from bot.domain import Campaign, Person, School
from bot.orders import campaign_named
from bot.roster import (
    RosterError,
    collisions_with,
    parse_role,
    parse_roster,
    parse_vk_id,
    read_roster,
    roster_digest,
    school_key,
)
from bot.russian import counted, quoted
from storage.counts import CountsRepository
from storage.db import Database, DatabaseError, as_database_error
from storage.reports import ReportRepository
from storage.repositories import (
    CampaignRecord,
    CampaignRepository,
    RosterChanges,
    RosterRepository,
)

log = logging.getLogger("confirmbot")

REPORT_FORMATS = ("csv", "xlsx")
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3
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


class _Parser(argparse.ArgumentParser):
    """argparse, complaining in Russian (its help keeps its own headings)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, texts.CLI_ERROR.format(message=_argparse_message(message)) + "\n")


def _argparse_message(message: str) -> str:
    for pattern, russian in texts.CLI_ARGPARSE:
        match = re.fullmatch(pattern, message)
        if match is not None:
            return russian.format(*match.groups())
    return message


def _parser() -> argparse.ArgumentParser:
    h = texts.CLI_HELP
    parser = _Parser(prog="confirmbot", description=texts.CLI_DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help=h["verbose"])
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    run = commands.add_parser("run", help=h["run"], description=h["run"])
    run.add_argument("--config", type=Path, required=True, help=h["config"])

    demo = commands.add_parser("demo", help=h["demo"], description=h["demo"])
    demo.add_argument("--schools", type=int, default=12, help=h["demo.schools"])
    demo.add_argument("--messenger", choices=("vk", "max"), default="vk", help=h["demo.messenger"])

    roster = commands.add_parser("roster", help=h["roster"], description=h["roster"])
    roster_commands = roster.add_subparsers(
        dest="roster_command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    roster_import = roster_commands.add_parser(
        "import", help=h["roster.import"], description=h["roster.import"]
    )
    roster_import.add_argument("file", type=Path, help=h["roster.import.file"])
    roster_import.add_argument("--config", type=Path, required=True, help=h["config"])
    roster_import.add_argument(
        "--mode", choices=("replace", "merge"), default="replace", help=h["roster.import.mode"]
    )
    roster_import.add_argument("--dry-run", action="store_true", help=h["roster.import.dry-run"])
    roster_import.add_argument(
        "--close-missing", action="store_true", help=h["roster.import.close-missing"]
    )
    add_school = roster_commands.add_parser(
        "add-school", help=h["roster.add-school"], description=h["roster.add-school"]
    )
    rename_school = roster_commands.add_parser(
        "rename-school", help=h["roster.rename-school"], description=h["roster.rename-school"]
    )
    for command in (add_school, rename_school):
        command.add_argument("school_id", help=h["roster.school_id"])
        command.add_argument("name", help=h["roster.school_name"])
        command.add_argument("--config", type=Path, required=True, help=h["config"])
    add_person = roster_commands.add_parser(
        "add-person", help=h["roster.add-person"], description=h["roster.add-person"]
    )
    add_person.add_argument("school_id", help=h["roster.school_id"])
    add_person.add_argument("vk_id", help=h["roster.vk_id"])
    add_person.add_argument("full_name", help=h["roster.full_name"])
    add_person.add_argument("--role", default="head", help=h["roster.role"])
    add_person.add_argument("--config", type=Path, required=True, help=h["config"])
    remove_person = roster_commands.add_parser(
        "remove-person", help=h["roster.remove-person"], description=h["roster.remove-person"]
    )
    remove_person.add_argument("vk_id", help=h["roster.vk_id"])
    remove_person.add_argument("--school", metavar="SCHOOL_ID", help=h["roster.school"])
    remove_person.add_argument("--config", type=Path, required=True, help=h["config"])
    close_school = roster_commands.add_parser(
        "close-school", help=h["roster.close-school"], description=h["roster.close-school"]
    )
    reopen_school = roster_commands.add_parser(
        "reopen-school", help=h["roster.reopen-school"], description=h["roster.reopen-school"]
    )
    for command in (close_school, reopen_school):
        command.add_argument("school_id", help=h["roster.school_id"])
        command.add_argument("--config", type=Path, required=True, help=h["config"])
    close_school.add_argument("--reason", default="", metavar="TEXT", help=h["roster.reason"])
    roster_codes = roster_commands.add_parser(
        "codes", help=h["roster.codes"], description=h["roster.codes"]
    )
    roster_codes.add_argument("--config", type=Path, required=True, help=h["config"])
    roster_codes.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help=h["output"]
    )
    roster_codes.add_argument(
        "--regenerate", action="store_true", help=h["roster.codes.regenerate"]
    )
    roster_codes.add_argument(
        "--revoke", action="append", default=[], metavar="SCHOOL_ID", help=h["roster.codes.revoke"]
    )

    check = commands.add_parser(
        "check-config", help=h["check-config"], description=h["check-config"]
    )
    check.add_argument("--config", type=Path, required=True, help=h["config"])

    announce = commands.add_parser("announce", help=h["announce"], description=h["announce"])
    announce.add_argument("--config", type=Path, required=True, help=h["config"])

    doctor = commands.add_parser(
        "doctor", help=texts.CLI_HELP_DOCTOR, description=texts.CLI_HELP_DOCTOR
    )
    doctor.add_argument("--config", type=Path, required=True, help=h["config"])
    doctor.add_argument("--check", action="store_true", help=texts.CLI_HELP_DOCTOR_CHECK)

    report = commands.add_parser("report", help=h["report"], description=h["report"])
    report.add_argument("--config", type=Path, required=True, help=h["config"])
    report.add_argument("--format", choices=REPORT_FORMATS, help=h["report.format"])
    report.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help=h["output"]
    )
    report.add_argument("--bom", action="store_true", help=h["report.bom"])
    report.add_argument("--campaign", metavar="ID", help=h["report.campaign"])
    _add_campaign_parsers(commands)
    return parser


def _add_campaign_parsers(commands: Any) -> None:
    """`confirmbot campaign add|list|close|announce` (issue 14)."""
    h = texts.CLI_HELP
    campaign = commands.add_parser("campaign", help=h["campaign"], description=h["campaign"])
    campaign_commands = campaign.add_subparsers(
        dest="campaign_command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    add = campaign_commands.add_parser(
        "add", help=h["campaign.add"], description=h["campaign.add"]
    )
    add.add_argument("file", type=Path, help=h["campaign.add.file"])
    add.add_argument("--update", action="store_true", help=h["campaign.add.update"])
    listing = campaign_commands.add_parser(
        "list", help=h["campaign.list"], description=h["campaign.list"]
    )
    close = campaign_commands.add_parser(
        "close", help=h["campaign.close"], description=h["campaign.close"]
    )
    announce = campaign_commands.add_parser(
        "announce", help=h["campaign.announce"], description=h["campaign.announce"]
    )
    for command in (close, announce):
        command.add_argument("campaign_id", metavar="ID", help=h["campaign.id"])
    for command in (add, listing, close, announce):
        command.add_argument("--config", type=Path, required=True, help=h["config"])
    _add_draft_parser(campaign_commands)


def _add_draft_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """`campaign draft ORDER -o FILE`: a campaign file drafted from the order's text."""
    draft = commands.add_parser(
        "draft", help=texts.CLI_HELP_DRAFT, description=texts.CLI_HELP_DRAFT
    )
    draft.add_argument("order", type=Path, help=texts.CLI_HELP_DRAFT_ORDER)
    draft.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help=texts.CLI_HELP["output"]
    )
    draft.add_argument("--force", action="store_true", help=texts.CLI_HELP_DRAFT_FORCE)
    draft.add_argument("--timezone", default=DEFAULT_TIMEZONE, help=texts.CLI_HELP_DRAFT_TIMEZONE)


def _error(message: str) -> None:
    print(texts.CLI_ERROR.format(message=message), file=sys.stderr)


def _config_error(error: ConfigError) -> None:
    """Every problem of a config or campaign file, one per line, under the file's name."""
    source = error.source if error.source is not None else ""
    if len(error.problems) == 1:
        head = f"{source}: " if source else ""
        _error(head + error.problems[0])
        return
    _error(texts.CLI_CONFIG_PROBLEMS.format(source=source, count=len(error.problems)))
    for problem in error.problems:
        print(f"  - {problem}", file=sys.stderr)


def database_message(error: DatabaseError) -> str:
    """What is wrong with the database and what to do, in Russian."""
    template = texts.CLI_DATABASE.get(error.reason, texts.CLI_DATABASE["broken"])
    return template.format(
        path=error.path,
        detail=error.detail or str(error),
        version=error.version,
        known=error.known,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    config: Config | None = None
    try:
        if args.command == "run":
            return asyncio.run(_run(load_config(args.config)))
        if args.command == "demo":
            from bot.demo import run_demo  # the emulator is only needed here

            if args.schools < 3 or args.schools > 5000:
                _error(texts.CLI_DEMO_SCHOOLS)
                return EXIT_USAGE
            return asyncio.run(run_demo(schools=args.schools, messenger=args.messenger))
        if args.command == "check-config":
            return asyncio.run(_check_config(args.config))
        if args.command == "campaign" and args.campaign_command == "draft":
            return _campaign_draft(args.order, args.output, args.timezone, force=args.force)
        if args.command == "report":
            fmt = args.format or args.output.suffix.lower().lstrip(".")
            if fmt not in REPORT_FORMATS:
                _error(texts.CLI_REPORT_FORMAT)
                return EXIT_USAGE
        # Only announcing (and `run`) talks to VK: the others need no token.
        announcing = args.command == "announce" or (
            args.command == "campaign" and args.campaign_command == "announce"
        )
        config = load_config(args.config, need_token=announcing)
        if args.command == "campaign":
            return asyncio.run(_campaign(config, args))
        if args.command == "roster" and args.roster_command == "codes":
            return asyncio.run(_roster_codes(config, args.output, args.regenerate, args.revoke))
        if args.command == "roster" and args.roster_command == "import":
            if args.close_missing and args.mode == "merge":
                _error(texts.CLI_CLOSE_MISSING_MERGE)
                return EXIT_USAGE
            return asyncio.run(
                _roster_import(
                    config,
                    args.file,
                    merge=args.mode == "merge",
                    dry=args.dry_run,
                    close_missing=args.close_missing,
                )
            )
        if args.command == "roster" and args.roster_command in ("close-school", "reopen-school"):
            return asyncio.run(_roster_closing(config, args))
        if args.command == "roster":
            return asyncio.run(_roster_edit(config, args))
        if args.command == "announce":
            return asyncio.run(_announce(config))
        if args.command == "doctor":
            return asyncio.run(_doctor(config, repair=not args.check))
        if args.command == "report":
            return asyncio.run(
                _report(config, fmt, args.output, bom=args.bom, campaign_ref=args.campaign)
            )
    except ConfigError as error:
        _config_error(error)
        return EXIT_USAGE
    except DatabaseError as error:
        _error(database_message(error))
        return EXIT_DATABASE
    except sqlite3.Error as error:  # the file opened but a page of it is damaged
        path = str(config.storage.path) if config is not None else ""
        _error(database_message(as_database_error(error, path)))
        return EXIT_DATABASE
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE


async def _run(config: Config) -> int:
    from bot.app import TokenRejected, build_app, serve

    try:
        app = await build_app(config)
    except DatabaseError as error:
        # One line in the journal, and an exit code systemd does not restart on
        # (RestartPreventExitStatus in deploy/confirmbot.service): a restart cannot mend it.
        log.error(texts.CLI_DATABASE_STOP.format(message=database_message(error), english=error))
        return EXIT_DATABASE
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
        _error(texts.CLI_CODES_SUFFIX.format(path=out))
        return EXIT_USAGE
    problem = _unwritable(out)
    if problem:
        _error(texts.CLI_CANNOT_WRITE.format(path=out, reason=problem))
        return EXIT_REFUSED
    db = await Database.open(config.storage.path)
    try:
        now = SystemClock().now()
        # Codes follow the newest open order (issue 14), else the config's.
        known = await _campaigns(config, db)
        records = [r for r in known if r.closed_at is None]
        campaign = records[0].campaign if records else load_campaign(config.campaign.file)
        registrations = RegistrationRepository(db)
        onboarding = Onboarding(campaign, registrations, ChatRepository(db))
        schools = [s.id for s in await RosterRepository(db).schools()]
        unknown = [s for s in revoke if s not in schools]
        if unknown:
            _error(texts.CLI_CODES_NO_SCHOOL.format(ids=", ".join(unknown)))
            return EXIT_USAGE
        await onboarding.issue_codes(schools, now, regenerate=regenerate)
        for school_id in revoke:
            await registrations.revoke(school_id, now)
        rows = codes_rows(await registrations.codes(), config.vk.group_id, campaign.timezone)
    finally:
        await db.close()
    try:
        write_codes(list(rows), out)
    except OSError as error:
        _error(texts.CLI_CANNOT_WRITE.format(path=out, reason=error.strerror or error))
        return EXIT_REFUSED
    line = texts.CLI_CODES_WRITTEN.format(path=out, count=len(rows))
    if revoke:
        line += texts.CLI_CODES_REVOKED.format(count=len(revoke))
    print(line)
    return 0


def _roster_rejected(file: Path, error: RosterError) -> int:
    _error(texts.CLI_ROSTER_REJECTED.format(file=file, count=len(error.problems)))
    for line in error.lines():
        print(f"  {line}", file=sys.stderr)
    print(texts.CLI_NOTHING_CHANGED, file=sys.stderr)
    return EXIT_REFUSED


class _Preview(Exception):
    """Rolls a dry run's import back, carrying what it would have changed."""

    def __init__(self, changes: RosterChanges) -> None:
        super().__init__("dry run")
        self.changes = changes


async def _roster_import(
    config: Config,
    file: Path,
    *,
    merge: bool = False,
    dry: bool = False,
    close_missing: bool = False,
) -> int:
    try:
        data: bytes | None = await asyncio.to_thread(file.read_bytes)
    except OSError:
        data = None  # read_roster says why, in the operator's words
    digest = roster_digest(data) if data is not None else ""
    # With --close-missing the schools to close are looked for even if the file is the same.
    if digest and not merge and not close_missing and config.storage.path.is_file():
        # The same file again, with nothing changed since: nothing to read or write.
        db = await Database.open(config.storage.path)
        try:
            known = await RosterRepository(db).unchanged_import(digest)
        finally:
            await db.close()
        if known is not None:
            _roster_imported(file, *known)
            return 0
    try:
        roster = read_roster(file) if data is None else parse_roster(data)
    except RosterError as error:
        return _roster_rejected(file, error)
    db = await Database.open(config.storage.path)
    try:
        repo = RosterRepository(db)
        clashes = collisions_with(roster, await repo.school_ids())
        if clashes:
            return _roster_rejected(file, RosterError(clashes))
        ignored = ", ".join(roster.ignored_columns)
        now = SystemClock().now()
        reason = texts.close_missing_reason(file.name, now, config.bot.timezone)
        try:
            async with db.transaction():
                changes = await repo.apply(
                    roster.schools,
                    roster.people,
                    now,
                    roster.unresolved,
                    digest="" if merge else digest,
                    ignored=ignored,
                    merge=merge,
                    close_missing=reason if close_missing else None,
                )
                if dry:
                    raise _Preview(changes)
        except _Preview as preview:
            changes = preview.changes
    finally:
        await db.close()
    _roster_imported(file, changes, ignored)
    if dry:
        print(texts.CLI_ROSTER_PREVIEW)
    return 0


async def _roster_edit(config: Config, args: argparse.Namespace) -> int:
    """add-school, rename-school, add-person, remove-person: one change, said in words."""
    now = SystemClock().now()
    db = await Database.open(config.storage.path)
    try:
        repo = RosterRepository(db)
        if args.roster_command in ("add-school", "rename-school"):
            try:
                school = School(id=args.school_id.strip(), name=" ".join(args.name.split()))
            except ValidationError as exc:
                _error(texts.CLI_BAD_SCHOOL.format(problem=_first_error(exc)))
                return EXIT_REFUSED
            if args.roster_command == "rename-school":
                if not await repo.rename_school(school.id, school.name, now):
                    _error(texts.CLI_NO_SCHOOL.format(id=school.id))
                    return EXIT_REFUSED
                print(texts.CLI_SCHOOL_RENAMED.format(id=school.id, name=quoted(school.name)))
                return 0
            existing = await repo.school_ids()
            other = {school_key(i): i for i in existing}.get(school_key(school.id))
            if other is not None and other != school.id:
                _error(texts.CLI_SCHOOL_CLASH.format(id=school.id, other=other))
                return EXIT_REFUSED
            if not await repo.add_school(school, now):
                _error(texts.CLI_SCHOOL_EXISTS.format(id=school.id))
                return EXIT_REFUSED
            print(texts.CLI_SCHOOL_ADDED.format(id=school.id, name=quoted(school.name)))
            return 0
        person_id = parse_vk_id(args.vk_id)
        if person_id is None:
            _error(texts.CLI_BAD_VK_ID.format(text=args.vk_id))
            return EXIT_REFUSED
        if args.roster_command == "remove-person":
            school_id = args.school.strip() if args.school else None
            count = await repo.remove_person(person_id, school_id)
            if not count:
                where = f" школы {school_id}" if school_id else ""
                _error(texts.CLI_PERSON_NOT_FOUND.format(id=person_id, where=where))
                return EXIT_REFUSED
            print(
                texts.CLI_PERSON_REMOVED.format(
                    id=person_id, count=counted(count, "школа", "школы", "школ")
                )
            )
            return 0
        role = parse_role(args.role)
        if role is None:
            _error(texts.CLI_BAD_ROLE.format(text=args.role))
            return EXIT_REFUSED
        try:
            person = Person(
                person_id=person_id,
                school_id=args.school_id.strip(),
                full_name=" ".join(args.full_name.split()),
                role=role,
            )
        except ValidationError as exc:
            _error(texts.CLI_BAD_PERSON.format(problem=_first_error(exc)))
            return EXIT_REFUSED
        if not await repo.add_person(person):
            _error(texts.CLI_NO_SCHOOL.format(id=person.school_id))
            return EXIT_REFUSED
        if await repo.closure(person.school_id) is not None:
            print(texts.CLI_PERSON_IN_CLOSED.format(school=person.school_id), file=sys.stderr)
        print(
            texts.CLI_PERSON_ADDED.format(
                id=person.person_id,
                name=person.full_name,
                role=texts.ROLE_NAME[person.role],
                school=person.school_id,
            )
        )
        return 0
    finally:
        await db.close()


async def _roster_closing(config: Config, args: argparse.Namespace) -> int:
    """close-school, reopen-school: the school leaves every total, or comes back to them."""
    now = SystemClock().now()
    school_id = args.school_id.strip()
    db = await Database.open(config.storage.path)
    try:
        repo = RosterRepository(db)
        school = await repo.school(school_id)
        if school is None:
            _error(texts.CLI_NO_SCHOOL.format(id=school_id))
            return EXIT_REFUSED
        name = quoted(school.name)
        if args.roster_command == "reopen-school":
            if await repo.reopen_school(school.id, now) != "reopened":
                _error(texts.CLI_SCHOOL_NOT_CLOSED.format(id=school.id))
                return EXIT_REFUSED
            print(texts.CLI_SCHOOL_REOPENED.format(id=school.id, name=name))
            return 0
        reason = " ".join(args.reason.split())[:500]
        if await repo.close_school(school.id, reason, now) != "closed":
            closure = await repo.closure(school.id)
            when = texts.fmt_moment(closure.closed_at, config.bot.timezone) if closure else ""
            _error(
                texts.CLI_SCHOOL_ALREADY_CLOSED.format(
                    id=school.id,
                    when=when,
                    reason=texts.cli_reason(closure.reason if closure else ""),
                )
            )
            return EXIT_REFUSED
        print(
            texts.CLI_SCHOOL_CLOSED.format(
                id=school.id, name=name, reason=texts.cli_reason(reason)
            )
        )
        return 0
    finally:
        await db.close()


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _roster_imported(file: Path, changes: RosterChanges, ignored: str) -> None:
    if ignored:
        print(texts.CLI_ROSTER_IGNORED.format(columns=ignored), file=sys.stderr)
    print(
        texts.CLI_ROSTER_IMPORTED.format(
            file=file,
            schools_added=changes.schools_added,
            schools_updated=changes.schools_updated,
            schools_unchanged=changes.schools_unchanged,
            people_added=changes.people_added,
            people_updated=changes.people_updated,
            people_removed=changes.people_removed,
        )
    )
    if changes.people_unresolved:
        print(texts.CLI_ROSTER_UNRESOLVED.format(count=changes.people_unresolved))
    if changes.schools_not_in_file:
        print(texts.CLI_ROSTER_KEPT.format(count=changes.schools_not_in_file))
    if changes.closed_missing:
        print(
            texts.CLI_ROSTER_CLOSED_MISSING.format(
                count=len(changes.closed_missing), ids=texts.cli_ids(changes.closed_missing)
            )
        )
    if changes.closed_in_file:
        print(
            texts.CLI_ROSTER_CLOSED_IN_FILE.format(
                count=len(changes.closed_in_file), ids=texts.cli_ids(changes.closed_in_file)
            )
        )


async def _doctor(config: Config, *, repair: bool) -> int:
    """Recount what `статус` reads from the base tables; repair unless only checking."""
    db = await Database.open(config.storage.path)
    try:
        drifts = await CountsRepository(db).recount(repair=repair)
    finally:
        await db.close()
    if not drifts:
        print(texts.CLI_DOCTOR_OK)
        return 0
    for drift in drifts:
        print(
            texts.CLI_DOCTOR_DRIFT.format(
                table=drift.table,
                key="/".join(drift.key),
                kept="/".join(map(str, drift.kept)),
                counted="/".join(map(str, drift.counted)),
            )
        )
    if repair:
        print(texts.CLI_DOCTOR_REPAIRED.format(count=len(drifts)))
        return 0
    print(texts.CLI_DOCTOR_FOUND.format(count=len(drifts)))
    return EXIT_REFUSED


async def _check_config(path: Path) -> int:
    problems: list[str] = []
    try:
        config = load_config(path)
    except ConfigError as error:
        print(texts.CLI_CHECK_NOT_OK.format(path=path), file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        campaign = load_campaign(config.campaign.file)
    except ConfigError as error:
        problems += [f"campaign.file: {p}" for p in error.problems]
        campaign = None
    schools = texts.CLI_CHECK_NO_DATABASE
    if _exists(config.storage.path):
        try:
            db = await Database.open(config.storage.path)
            try:
                count = await RosterRepository(db).count_schools()
            finally:
                await db.close()
        except DatabaseError as error:
            problems.append(f"storage.path: {database_message(error)}")
        except sqlite3.Error as error:
            message = database_message(as_database_error(error, str(config.storage.path)))
            problems.append(f"storage.path: {message}")
        else:
            schools = texts.CLI_CHECK_SCHOOLS.format(count=count)
    if not config.bot.admins:
        problems.append(texts.CLI_CHECK_NO_ADMINS)
    if problems:
        print(texts.CLI_CHECK_NOT_OK.format(path=path), file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_REFUSED
    print(texts.CLI_CHECK_OK.format(path=path))
    for line in describe(config):
        print(f"  {line}")
    if campaign is not None:
        for line in describe_campaign(campaign):
            print(f"  {line}")
    print(f"  {schools}")
    for warning in _warnings(config, campaign):
        print("  " + texts.CLI_CHECK_WARNING.format(warning=warning))
    return 0


def _warnings(config: Config, campaign: Campaign | None) -> list[str]:
    """Things that are valid but probably not meant, or still to be done."""
    warnings: list[str] = []
    for kind, chats in (("admin", config.bot.admin_chats), ("heads", config.bot.heads_chats)):
        if not chats:
            name, word = texts.CLI_CHECK_CHAT_KIND[kind]
            warnings.append(texts.CLI_CHECK_NO_CHATS.format(kind=name, word=word))
    if campaign is None:
        return warnings
    if campaign.deadline <= SystemClock().now():
        deadline = texts.fmt_deadline(campaign)
        warnings.append(texts.CLI_CHECK_DEADLINE_PASSED.format(deadline=deadline))
    if campaign.timezone != config.bot.timezone:
        warnings.append(
            texts.CLI_CHECK_TIMEZONES.format(bot=config.bot.timezone, campaign=campaign.timezone)
        )
    return warnings


def _exists(path: Path) -> bool:
    return path.exists()


async def _report(
    config: Config, fmt: str, out: Path, *, bom: bool = False, campaign_ref: str | None = None
) -> int:
    from bot.report import write_csv, write_xlsx

    if not _exists(config.storage.path):
        _error(texts.CLI_REPORT_NO_DATABASE.format(path=config.storage.path))
        return EXIT_REFUSED
    problem = _unwritable(out)
    if problem:
        _error(texts.CLI_CANNOT_WRITE.format(path=out, reason=problem))
        return EXIT_REFUSED
    db = await Database.open(config.storage.path)
    try:
        found = _campaign_named(await _campaigns(config, db), campaign_ref)
        if found is None:
            return EXIT_USAGE
        campaign = found.campaign
        # One row per school and item: the schools' items (the staff's are not a school's).
        campaign = campaign.for_heads()
        repo = ReportRepository(db)
        members = await _heads_chat_members(config, db)
        closed = tuple(c.school.id for c in await RosterRepository(db).closed_schools())
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
        _error(texts.CLI_CANNOT_WRITE.format(path=out, reason=error.strerror or error))
        return EXIT_REFUSED
    finally:
        await db.close()
    line = texts.CLI_REPORT_WRITTEN.format(
        path=out, schools=summary.schools, steps=summary.steps, finished=summary.finished
    )
    if fmt == "xlsx":
        line += texts.CLI_REPORT_HISTORY.format(answers=summary.answers)
    if closed:
        line += texts.CLI_REPORT_CLOSED.format(ids=texts.cli_ids(closed))
    print(line)
    return 0


async def _campaigns(config: Config, db: Database) -> list[CampaignRecord]:
    """Every campaign of the database, the config's first one among them: stored here as the
    bot stores it when it starts, so the command line knows it before the bot ever ran."""
    repo = CampaignRepository(db)
    await repo.save(load_campaign(config.campaign.file), SystemClock().now())
    return await repo.listing()


def _campaign_named(records: Sequence[CampaignRecord], ref: str | None) -> CampaignRecord | None:
    """The campaign a command names by id or number; none named: the only one there is. Says
    what is wrong (and returns None) otherwise."""
    known = ", ".join(f"{r.campaign.id} (№ {r.campaign.number})" for r in records)
    if ref is None:
        if len(records) == 1:
            return records[0]
        _error(texts.CLI_CAMPAIGN_WHICH.format(known=known))
        return None
    found = campaign_named(records, ref)
    if found is None:
        _error(texts.CLI_CAMPAIGN_UNKNOWN.format(ref=ref, known=known or "—"))
    return found


async def _campaign(config: Config, args: argparse.Namespace) -> int:
    if args.campaign_command == "add":
        return await _campaign_add(config, args.file, update=args.update)
    if args.campaign_command == "announce":
        return await _announce(config, args.campaign_id)
    db = await Database.open(config.storage.path)
    try:
        repo = CampaignRepository(db)
        records = await _campaigns(config, db)
        if args.campaign_command == "list":
            return await _campaign_list(db, records)
        found = _campaign_named(records, args.campaign_id)
        if found is None:
            return EXIT_REFUSED
        campaign = found.campaign
        if found.closed_at is not None:
            when = texts.fmt_moment(found.closed_at, campaign.timezone)
            _error(texts.CLI_CAMPAIGN_NOT_OPEN.format(id=campaign.id, when=when))
            return EXIT_REFUSED
        await repo.close(campaign.id, SystemClock().now())
        print(texts.CLI_CAMPAIGN_CLOSED.format(number=campaign.number, id=campaign.id))
        return 0
    finally:
        await db.close()


async def _campaign_add(config: Config, file: Path, *, update: bool) -> int:
    campaign = load_campaign(file)
    db = await Database.open(config.storage.path)
    try:
        repo = CampaignRepository(db)
        known = await _campaigns(config, db)
        existing = next((r for r in known if r.campaign.id == campaign.id), None)
        if existing is not None and existing.closed_at is not None:
            when = texts.fmt_moment(existing.closed_at, campaign.timezone)
            _error(texts.CLI_CAMPAIGN_CLOSED_ALREADY.format(id=campaign.id, when=when))
            return EXIT_REFUSED
        if existing is not None and not update:
            _error(texts.CLI_CAMPAIGN_EXISTS.format(id=campaign.id))
            return EXIT_REFUSED
        await repo.save(campaign, SystemClock().now())
    finally:
        await db.close()
    template = texts.CLI_CAMPAIGN_UPDATED if existing is not None else texts.CLI_CAMPAIGN_ADDED
    print(
        template.format(
            number=campaign.number,
            id=campaign.id,
            steps=len(campaign.steps),
            deadline=texts.fmt_deadline(campaign),
        )
    )
    if campaign.deadline <= SystemClock().now():
        print(texts.CLI_CAMPAIGN_PAST_DEADLINE.format(deadline=texts.fmt_deadline(campaign)))
    return 0


async def _campaign_list(db: Database, records: Sequence[CampaignRecord]) -> int:
    if not records:
        print(texts.CLI_CAMPAIGN_NONE)
        return 0
    counts = CountsRepository(db)
    for record in records:
        campaign = record.campaign
        district = await counts.district(campaign.id, [s.id for s in campaign.steps])
        state = (
            texts.CLI_CAMPAIGN_OPEN
            if record.closed_at is None
            else texts.CLI_CAMPAIGN_CLOSED_AT.format(
                when=texts.fmt_moment(record.closed_at, campaign.timezone)
            )
        )
        print(
            texts.CLI_CAMPAIGN_ROW.format(
                id=campaign.id,
                number=campaign.number,
                date=f"{campaign.date:%d.%m.%Y}",
                deadline=texts.fmt_deadline(campaign),
                state=state,
                finished=district.finished,
                schools=district.schools,
                title=campaign.title,
            )
        )
    return 0


async def _announce(config: Config, ref: str | None = None) -> int:
    """Post an order (the one named, or the config's) to the heads chats and send it now."""
    from bot.app import build_app

    app = await build_app(config)
    try:
        # None: the config's order; refused as any other once it is closed.
        found = _campaign_named(app.orders.records(), ref or app.campaign.id)
        desk = None if found is None else app.orders.get(found.campaign.id)
        if found is None or desk is None:
            return EXIT_REFUSED
        if found.closed_at is not None:
            when = texts.fmt_moment(found.closed_at, found.campaign.timezone)
            _error(texts.CLI_CAMPAIGN_NOT_OPEN.format(id=found.campaign.id, when=when))
            return EXIT_REFUSED
        # The chats of the config and those bound with «привязать» since.
        heads_chats = await app.flow.settings.chats.heads_chats()
        if not heads_chats:
            _error(texts.CLI_ANNOUNCE_NOWHERE)
            return EXIT_REFUSED
        # Not an answer to anybody: every action of an announcement names its own chat.
        async with app.db.transaction():
            await app.pipeline.respond(Incoming(user_id=0, peer_id=0), await desk.staff.announce())
        await app.sender.drain()
        print(texts.CLI_ANNOUNCED.format(count=len(heads_chats)))
    finally:
        await app.close()
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


def _campaign_draft(order: Path, out: Path, timezone: str, *, force: bool) -> int:
    """Write a campaign file drafted from the order; say what was read and what was not."""
    import tomllib

    from bot.campaign import CampaignError, parse_campaign
    from bot.order_draft import OrderReadError, draft_order, read_blocks, write_draft

    try:
        check_timezone(timezone)
    except ValueError as error:
        _error(f"--timezone: {error}")
        return EXIT_USAGE
    if out.exists() and not out.is_dir() and not force:
        _error(texts.CLI_DRAFT_EXISTS.format(path=out))
        return EXIT_REFUSED
    problem = _unwritable(out)
    if problem:
        _error(texts.CLI_CANNOT_WRITE.format(path=out, reason=problem))
        return EXIT_REFUSED
    try:
        blocks = read_blocks(order)
    except OrderReadError as error:
        _error(str(error))
        return EXIT_REFUSED
    draft, problems = draft_order(blocks, timezone=timezone)
    if not draft.steps:
        _error(texts.CLI_DRAFT_NOTHING.format(path=out))
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        return EXIT_REFUSED
    text = write_draft(draft, source=order.name)
    # Written beside the target and moved over it: never a half-written campaign file.
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        _error(texts.CLI_CANNOT_WRITE.format(path=out, reason=error.strerror or error))
        return EXIT_REFUSED
    heads = sum(step.audience == "heads" for step in draft.steps)
    print(
        texts.CLI_DRAFT_WRITTEN.format(
            path=out, count=len(draft.steps), heads=heads, staff=len(draft.steps) - heads
        )
    )
    if draft.notes:
        print(texts.CLI_DRAFT_NOTES)
        print("\n".join(f"  - {note}" for note in draft.notes))
    if problems:
        print(texts.CLI_DRAFT_PROBLEMS)
        print("\n".join(f"  - {line}" for line in problems))
    try:
        parse_campaign(tomllib.loads(text), source=out)
    except CampaignError as error:
        print(texts.CLI_DRAFT_DOES_NOT_LOAD)
        print("\n".join(f"  - {line}" for line in error.problems))
        return EXIT_REFUSED
    print(texts.CLI_DRAFT_LOADS)
    return 0


def _unwritable(out: Path) -> str | None:
    """Why a file cannot go to `out`, found before any work is done."""
    if out.is_dir():
        return texts.CLI_IS_A_DIRECTORY
    if not out.parent.is_dir():
        return texts.CLI_NO_DIRECTORY.format(path=out.parent)
    return None


if __name__ == "__main__":
    sys.exit(main())
