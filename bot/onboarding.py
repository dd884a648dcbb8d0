"""Onboarding without spreadsheets of VK ids, and step 3.3 checked by the bot itself.

A school gets a short code; a head or deputy writes `регистрация КОД` (or `/start КОД`, or opens
a vk.me link whose `ref` is the code) and says by button whether they are the head or a deputy.
Codes expire with the campaign, can be revoked and regenerated (which also cancels a
registration still waiting for its role button). Wrong codes are limited so that 27^6 ≈ 387
million codes cannot be walked through, and so that nobody else's guessing can keep a real head
with a valid code out:

- each person may type PER_PERSON_LIMIT wrong codes an hour; then their codes are not checked;
- once everybody together typed TOTAL_LIMIT wrong codes in the last hour, a wrong code uses up
  its sender's whole hour at once: throw-away accounts get one guess an hour each instead of
  five. A valid code is still checked and taken from anyone who has not used up their own hour.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import xlsxwriter  # type: ignore[import-untyped]

from bot import texts
from bot.chats import ChatDirectory
from bot.domain import Campaign, Person, Role, School
from bot.ports import Messenger
from bot.report import csv_text
from storage.accounts import AccountRepository
from storage.onboarding import (
    ChatRepository,
    Registered,
    RegistrationCode,
    RegistrationRepository,
)

log = logging.getLogger(__name__)

# No 0/O, 1/I/L, 5/S, 8/B: a code read aloud over the phone or copied from paper stays a code.
ALPHABET = "234679ACDEFGHJKMNPQRTUVWXYZ"
CODE_LENGTH = 6
PER_PERSON_LIMIT = 5  # wrong codes per person per window
TOTAL_LIMIT = 50  # wrong codes by everybody per window
WINDOW = dt.timedelta(hours=1)
PENDING_FOR = dt.timedelta(hours=1)  # a valid code waits this long for «руководитель/заместитель»
LINK_FOR = dt.timedelta(hours=1)  # a person's own code for their account on another messenger

# «max», «макс», «мах» (Cyrillic), «перейти в max», «ссылка для макс»: a person's own link.
_MAX_LINK = re.compile(
    r"^(?:(?:перейти|переход)\s+(?:в|на)\s+|ссылка\s+(?:на\s+|для\s+|в\s+)?)?(?:max|макс|мах)[.!]?$",
    re.IGNORECASE,
)


def wants_max_link(text: str) -> bool:
    """Does a (cleaned) private message ask for the person's own link to the bot on MAX?"""
    return _MAX_LINK.match(text.strip()) is not None


# Cyrillic letters typed for the Latin ones they look like (a code copied by hand).
_LOOKALIKES = str.maketrans("АСЕНКМРТХУЗ", "ACEHKMPTXY3")

# «регистрация K7M4PQ», «Регистрация: K7M4PQ», «регистрация, код K7M-4PQ», «/start K7M4PQ».
_REGISTER = re.compile(
    r"^(?:регистрация|регистрироваться|зарегистрироваться|register|start)"
    r"(?:\s*[:.,—–-]\s*|\s+)(?:код\s*[:.—–-]?\s*)?(\S+(?:[ -]\S+)?)$",
    re.IGNORECASE,
)
# A code alone, as copied from the letter: «K7M4PQ», «k7m-4pq», «К7М 4РQ».
_BARE = re.compile(r"^[«\"']?([^\W_]{3}[ -]?[^\W_]{3})[»\"']?[.!]?$")
_QUOTES = "«»\"'.!,;:"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """What people type: any case, spaces or dashes inside, a look-alike letter for a digit."""
    cleaned = re.sub(r"[\s\-–—_.]", "", text).upper()
    return cleaned.translate(_LOOKALIKES)


def registration_code(text: str) -> str | None:
    """`регистрация K7M4PQ`, `Регистрация: K7M4PQ`, `/start K7M4PQ` -> the code as typed;
    anything else -> None."""
    match = _REGISTER.match(text.strip())
    if match is None:
        return None
    return match.group(1).strip(_QUOTES) or None


def bare_code(text: str) -> str | None:
    """A message that is nothing but a code (`K7M4PQ`, `к7м-4рq`) -> the code as typed.

    A word of Cyrillic letters alone is never taken for a code, whatever it looks like.
    """
    match = _BARE.match(text.strip())
    if match is None:
        return None
    typed = match.group(1)
    code = normalise_code(typed)
    if len(code) != CODE_LENGTH or not set(code) <= set(ALPHABET):
        return None
    if not re.search(r"[0-9A-Za-z]", typed):
        return None
    return typed


def generate_codes(school_ids: list[str], taken: set[str]) -> dict[str, str]:
    """A fresh code for each school, unique among themselves and the ones still in use."""
    codes: dict[str, str] = {}
    used = set(taken)
    for school_id in school_ids:
        code = new_code()
        while code in used:
            code = new_code()
        used.add(code)
        codes[school_id] = code
    return codes


class CodeCheck(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    TOO_MANY = "too_many"


@dataclass(frozen=True)
class CodeResult:
    check: CodeCheck
    school: School | None = None


class Onboarding:
    def __init__(
        self,
        campaign: Campaign,
        registrations: RegistrationRepository,
        chats: ChatRepository,
        accounts: AccountRepository | None = None,
    ) -> None:
        self.campaign = campaign
        self.registrations = registrations
        self.chats = chats
        # Linking a person's account on another messenger (migration 0021); None: no linking.
        self.accounts = accounts

    async def new_link(self, person_id: int, now: dt.datetime) -> str | None:
        """A person's own one-time code, an hour long, for their account on another messenger
        (never one of the schools' codes, so the two are never mistaken)."""
        if self.accounts is None:
            return None
        taken = await self.accounts.link_codes_taken()
        taken |= {c.code for c in await self.registrations.codes()}
        code = new_code()
        while code in taken:
            code = new_code()
        await self.accounts.create_link(code, person_id, now, now + LINK_FOR)
        return code

    async def may_try_code(self, person_id: int, now: dt.datetime) -> bool:
        """Has this person wrong codes left this hour (a link code is checked only then)?"""
        spent, _ = await self.registrations.wrong_codes(person_id, now - WINDOW)
        return spent < PER_PERSON_LIMIT

    async def link_refused(self, person_id: int, typed: str, now: dt.datetime) -> bool:
        """Is this someone else's link code, still usable, that the adapter did not use for this
        account (it is a person of a school of its own)?"""
        if self.accounts is None:
            return False
        owner = await self.accounts.link_owner(normalise_code(typed)[:16], now)
        return owner is not None and owner != person_id

    async def linked(self, person_id: int, typed: str) -> bool:
        """Did this code of the person's just link the account it came from (the adapter links
        it before the rules see the update: bot/app.py MaxRunner)?"""
        if self.accounts is None:
            return False
        return await self.accounts.linked_by(person_id, normalise_code(typed)[:16])

    async def issue_codes(
        self, school_ids: list[str], now: dt.datetime, *, regenerate: bool = False
    ) -> None:
        """Codes for schools that have none (or, with `regenerate`, new ones for all)."""
        existing = {c.school.id: c for c in await self.registrations.codes()}
        wanted = [
            s for s in school_ids if regenerate or s not in existing or existing[s].revoked_at
        ]
        if not wanted:
            return
        taken = {c.code for c in existing.values()}
        codes = generate_codes(wanted, taken)
        await self.registrations.replace_codes(
            codes, self.campaign.id, self.campaign.deadline, now
        )

    async def check_code(self, person_id: int, typed: str, now: dt.datetime) -> CodeResult:
        """Check a code, counting wrong ones; a good code waits for the person's role.

        The count and the check are one: a person's codes are checked one after another against
        the count their earlier ones left, however many arrive at once.
        """
        async with self.registrations.atomic():
            spent, everybody = await self.registrations.wrong_codes(person_id, now - WINDOW)
            if spent >= PER_PERSON_LIMIT:
                return CodeResult(CodeCheck.TOO_MANY)
            found = await self.registrations.by_code(normalise_code(typed)[:16])
            if found is None:
                result = CodeResult(CodeCheck.UNKNOWN)
            elif found.revoked_at is not None:
                result = CodeResult(CodeCheck.REVOKED)
            # A code lasts while any order is open: `campaign` is the newest open one.
            elif now > max(found.expires_at, self.campaign.deadline):
                result = CodeResult(CodeCheck.EXPIRED)
            else:
                result = CodeResult(CodeCheck.OK, found.school)
            ok = result.check is CodeCheck.OK
            weight = 1
            if not ok and everybody >= TOTAL_LIMIT:
                weight = PER_PERSON_LIMIT
                log.warning(
                    "registration: %d wrong codes in the last hour; a wrong one from %s uses "
                    "up their hour",
                    everybody,
                    person_id,
                )
            await self.registrations.record_attempt(person_id, ok, now, weight=weight)
            if result.school is not None:
                await self.registrations.set_pending(person_id, result.school.id, now)
        return result

    async def choose_role(
        self, person_id: int, role: Role, full_name: str, now: dt.datetime
    ) -> str | None:
        """Finish a registration; the school id comes from our record, never from the button."""
        pending = await self.registrations.pending(person_id)
        if pending is None or now - pending[1] > PENDING_FOR:
            return None
        school_id = pending[0]
        person = Person(
            person_id=person_id, school_id=school_id, full_name=full_name[:200], role=role
        )
        await self.registrations.register(person, now)
        return school_id

    async def registered(self) -> list[Registered]:
        return await self.registrations.registered()

    async def unbind(self, person_id: int) -> int:
        return await self.registrations.unbind(person_id)


@dataclass(frozen=True)
class Verification:
    """Step 3.3 as the bot sees it: None where it cannot read any heads chat's members."""

    checked: bool
    missing: tuple[Person, ...] = ()

    @property
    def verified(self) -> bool | None:
        return None if not self.checked else not self.missing


async def verify_school(
    chats: ChatRepository, heads_chats: list[int], people: list[Person]
) -> Verification:
    """Are the school's head and deputies members of a heads chat the bot can read?"""
    readable = await chats.readable(heads_chats)
    if not readable or not people:
        return Verification(checked=False)
    members = await chats.members_in(readable)
    return Verification(
        checked=True, missing=tuple(p for p in people if p.person_id not in members)
    )


async def refresh(
    messenger: Messenger,
    chats: ChatDirectory,
    registrations: RegistrationRepository,
    now: dt.datetime,
) -> None:
    """At start: read who is in our chats (step 3.3) and resolve the roster's screen names."""
    for peer in await chats.all():
        members = await messenger.chat_members(peer)
        await chats.repo.replace_members(peer, members, now)
        if members is None:
            log.warning(
                "cannot read the members of chat %s: make the community an admin of it "
                "so that the bot can check step 3.3 itself",
                peer,
            )
    for item in await registrations.unresolved():
        person_id = await messenger.resolve_screen_name(item.screen_name)
        await registrations.resolve(
            item, person_id, "" if person_id else texts.SCREEN_NAME_UNKNOWN
        )
        if person_id is None:
            log.warning(
                "roster: vk.com/%s (school %s) is nobody", item.screen_name, item.school_id
            )
        else:
            log.info("roster: vk.com/%s is id%s", item.screen_name, person_id)


CODES_HEADER = ("school_id", "school_name", "code", "link", "valid_until", "revoked")


def codes_rows(
    codes: list[RegistrationCode], group_id: int, timezone: str
) -> list[tuple[str, str, str, str, str, str]]:
    """One row per school: its code and the vk.me link that carries the code as `ref`."""
    zone = ZoneInfo(timezone)
    return [
        (
            c.school.id,
            c.school.name,
            c.code,
            f"https://vk.me/club{group_id}?ref={c.code}",
            c.expires_at.astimezone(zone).strftime("%d.%m.%Y %H:%M"),
            "yes" if c.revoked_at else "",
        )
        for c in codes
    ]


def write_codes(rows: list[tuple[str, ...]], path: Path) -> None:
    """CSV or XLSX by the file's suffix, written beside it and renamed when complete."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ValueError(f"{path.name}: expected a .csv or .xlsx file name")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if suffix == ".csv":
            with open(temp, "w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(CODES_HEADER)
                # A school's id and name are the roster's text: never a formula.
                writer.writerows(
                    (csv_text(school_id), csv_text(name), *rest) for school_id, name, *rest in rows
                )
        else:
            # Strings are written as strings: `=...` in a school's name is not a formula.
            book = xlsxwriter.Workbook(temp, {"strings_to_formulas": False})
            sheet = book.add_worksheet(texts.CODES_SHEET)
            bold = book.add_format({"bold": True})
            sheet.write_row(0, 0, CODES_HEADER, bold)
            for index, row in enumerate(rows, start=1):
                sheet.write_row(index, 0, row)
            sheet.set_column(0, 0, 12)
            sheet.set_column(1, 1, 45)
            sheet.set_column(2, 2, 10)
            sheet.set_column(3, 3, 45)
            sheet.set_column(4, 5, 18)
            book.close()
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
