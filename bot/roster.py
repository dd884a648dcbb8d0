"""The roster: which schools there are and who answers for each, from a CSV file.

The file is what the department keeps in Excel: the header
`school_id,school_name,vk_id,full_name,role`, then one row per person; UTF-8 with or without BOM,
`,` or `;` between fields. A row with only `school_id` and `school_name` defines a school that has
no people yet.

Import is all or nothing: every problem of the file is collected and reported with its line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.fields import FieldInfo

from bot.domain import Person, Role, School

COLUMNS = ("school_id", "school_name", "vk_id", "full_name", "role")
HEADER = ",".join(COLUMNS)
VK_ID_FORM = "123, id123 or https://vk.com/id123"
ROLE_FORM = "head or deputy (руководитель, директор, заместитель, зам)"
# Peer ids from 2000000000 up are chats; a person's id is always below.
_CHAT_PEER_BASE = 2_000_000_000

_VK_ID = re.compile(r"(?:(?:https?://)?(?:www\.|m\.)?vk\.(?:com|ru)/)?(?:id)?(\d{1,10})/?", re.I)
_VK_LINK = re.compile(r"(?:https?://)?(?:www\.|m\.)?vk\.(?:com|ru)/\S+|@\w+", re.I)
_EXCEL_NUMBER = re.compile(r"\d+(?:[.,]\d+)?e\+?\d+", re.I)
_SEP_LINE = re.compile(r'"?sep=(.)"?', re.I)


class RosterProblem(NamedTuple):
    """One problem of a roster file; `line` is the physical line (0: the file as a whole)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class RosterError(Exception):
    """The roster file was rejected as a whole; `problems` lists every reason with its line."""

    def __init__(self, problems: Iterable[tuple[int, str]]) -> None:
        self.problems: tuple[RosterProblem, ...] = tuple(
            sorted(
                (RosterProblem(line, message) for line, message in problems), key=lambda p: p.line
            )
        )
        super().__init__(str(self))

    def lines(self) -> list[str]:
        return [str(problem) for problem in self.problems]

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"roster rejected: {self.problems[0]}"
        return "\n".join(
            [f"roster rejected, {len(self.problems)} problems:", *(f"  {p}" for p in self.lines())]
        )


class UnresolvedPerson(BaseModel):
    """A person given by a screen name (`https://vk.com/ivanov_ii`): the bot resolves it to an
    id through VK's API when it runs, and reports the ones it cannot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    screen_name: str
    school_id: str
    full_name: str
    role: Role
    line: int


class Roster(BaseModel):
    """The schools and their people, in the order of the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schools: tuple[School, ...]
    people: tuple[Person, ...]
    unresolved: tuple[UnresolvedPerson, ...] = ()

    @model_validator(mode="after")
    def _people_belong(self) -> Roster:
        ids = [school.id for school in self.schools]
        if len(set(ids)) != len(ids):
            raise ValueError("school ids repeat")
        known = set(ids)
        strangers = sorted({p.school_id for p in self.people if p.school_id not in known})
        if strangers:
            raise ValueError("people of unknown schools: " + ", ".join(strangers))
        return self

    def people_of(self, school_id: str) -> tuple[Person, ...]:
        return tuple(person for person in self.people if person.school_id == school_id)


def parse_vk_id(text: str) -> int | None:
    """`123`, `id123`, `https://vk.com/id123`, `m.vk.com/id123` -> 123; anything else -> None."""
    match = _VK_ID.fullmatch(text.strip())
    if match is None:
        return None
    value = int(match.group(1))
    return value if 0 < value < _CHAT_PEER_BASE else None


# VK screen names: letters, digits, `_` and `.`, 2..32 characters, not only digits.
_SCREEN_NAME = re.compile(
    r"(?:(?:https?://)?(?:www\.|m\.)?vk\.(?:com|ru)/|@)([a-z0-9_.]{2,32})/?", re.I
)


def parse_screen_name(text: str) -> str | None:
    """`https://vk.com/ivanov_ii` or `@ivanov_ii` -> `ivanov_ii`; ids and anything else -> None."""
    if parse_vk_id(text) is not None:
        return None
    match = _SCREEN_NAME.fullmatch(text.strip())
    if match is None or match.group(1).isdigit():
        return None
    return match.group(1).lower()


def parse_role(text: str) -> Role | None:
    """`head`/`deputy`, or the Russian words: руководитель, директор -> head; зам... -> deputy."""
    word = text.strip().casefold().replace("ё", "е")
    if word in {"head", "deputy"}:
        return Role(word)
    if word.startswith("зам"):
        return Role.DEPUTY
    if word.startswith(("руководител", "директор", "заведующ")):
        return Role.HEAD
    return None


def read_roster(path: Path) -> Roster:
    """Read and parse a roster file; raise RosterError if it cannot be used as a whole."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise RosterError([(0, f"roster file {path} not found")]) from None
    except IsADirectoryError:
        raise RosterError([(0, f"roster file {path} is a directory, not a file")]) from None
    except OSError as exc:
        raise RosterError([(0, f"cannot read roster file {path}: {exc.strerror}")]) from None
    return parse_roster(data)


def parse_roster(data: bytes) -> Roster:
    """Parse roster CSV bytes; raise RosterError with every problem found, or return it all."""
    text = _decode(data)
    if not text.strip():
        raise RosterError([(1, f"the file is empty; expected the header {HEADER}")])
    delimiter, text = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = _records(reader)
    header_line, header = next(records, (0, []))
    columns = _columns(header_line, header, delimiter)
    builder = _RosterBuilder(columns, len(header))
    for line, fields in records:
        builder.add(line, fields)
    if not builder.problems and builder.rows == 0:
        builder.problems.append(
            RosterProblem(header_line, "no rows after the header; expected one row per person")
        )
    if builder.problems:
        raise RosterError(builder.problems)
    return Roster(
        schools=tuple(builder.schools.values()),
        people=tuple(builder.people),
        unresolved=tuple(builder.unresolved),
    )


# --- reading the text --------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RosterError(
            [(1, "the file is UTF-16 text; save it from Excel as «CSV UTF-8 (comma delimited)»")]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RosterError(
            [
                (
                    line,
                    "the file is not UTF-8 text (probably Windows-1251); save it from Excel as "
                    "«CSV UTF-8 (comma delimited)» / «CSV UTF-8 (разделитель — запятая)»",
                )
            ]
        ) from None


def _delimiter(text: str) -> tuple[str, str]:
    """Pick `,` or `;` from the header line (or Excel's `sep=;` line, blanked out)."""
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    sep = _SEP_LINE.fullmatch(lines[first].strip())
    if sep is not None and sep.group(1) in ",;":
        # Keep the line, emptied, so that line numbers stay those of the file.
        lines[first] = lines[first][len(lines[first].rstrip("\r\n")) :]
        return sep.group(1), "".join(lines)
    header = re.sub(r'"[^"]*"', "", lines[first])
    return (";" if header.count(";") > header.count(",") else ","), text


def _records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """Yield `(first physical line, fields)` of each non-blank record."""
    line_num = getattr(reader, "line_num", 0)
    while True:
        start = line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RosterError([(start, f"cannot read this line as CSV: {exc}")]) from None
        line_num = getattr(reader, "line_num", start)
        if any(field.strip() for field in fields):
            yield start, fields


def _columns(line: int, header: list[str], delimiter: str) -> dict[str, int]:
    names = [name.strip().strip("\ufeff").strip().lower() for name in header]
    problems: list[tuple[int, str]] = []
    for name in COLUMNS:
        if names.count(name) > 1:
            problems.append((line, f"the column {name} appears {names.count(name)} times"))
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        found = delimiter.join(name for name in names if name) or "nothing"
        problems.append(
            (
                line or 1,
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                f"expected the header {HEADER} (found: {_short(found, 80)})",
            )
        )
    if problems:
        raise RosterError(problems)
    return {name: names.index(name) for name in COLUMNS}


# --- checking the rows -------------------------------------------------------------------------


def _max_length(field: FieldInfo) -> int:
    for item in field.metadata:
        limit = getattr(item, "max_length", None)
        if isinstance(limit, int):
            return limit
    raise LookupError("no max_length")


_LIMITS = {
    "school_id": _max_length(School.model_fields["id"]),
    "school_name": _max_length(School.model_fields["name"]),
    "full_name": _max_length(Person.model_fields["full_name"]),
}


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _clean(value: str) -> str:
    """Trim and collapse runs of spaces: Excel cells often carry stray ones."""
    return " ".join(value.split())


class _RosterBuilder:
    def __init__(self, columns: dict[str, int], width: int) -> None:
        self.columns = columns
        self.width = width
        self.problems: list[RosterProblem] = []
        self.rows = 0
        self.schools: dict[str, School] = {}
        self.people: list[Person] = []
        self.unresolved: list[UnresolvedPerson] = []
        self._school_line: dict[str, int] = {}
        self._person_line: dict[tuple[str, int], int] = {}
        self._row_line: dict[tuple[str, ...], int] = {}

    def _problem(self, line: int, message: str) -> None:
        self.problems.append(RosterProblem(line, message))

    def add(self, line: int, fields: list[str]) -> None:
        self.rows += 1
        if any(field.strip() for field in fields[self.width :]):
            self._problem(
                line,
                f"{len(fields)} fields but the header has {self.width}; "
                "a value with a comma or semicolon must be in double quotes",
            )
            return
        cell = {
            name: _clean(fields[index]) if index < len(fields) else ""
            for name, index in self.columns.items()
        }
        before = len(self.problems)
        school = self._school(line, cell["school_id"], cell["school_name"])
        person = self._person(line, cell)
        if len(self.problems) > before:
            return
        key = tuple(cell[name] for name in COLUMNS)
        if person is not None:
            key = (*key[:2], str(person.vk_id), key[3], person.role.value)
        if key in self._row_line:
            self._problem(line, f"repeats line {self._row_line[key]}")
            return
        self._row_line[key] = line
        if school is not None:
            self._remember_school(line, school)
        if person is not None:
            self._remember_person(line, person)

    def _school(self, line: int, school_id: str, name: str) -> School | None:
        ok = True
        for column, value in (("school_id", school_id), ("school_name", name)):
            if not value:
                self._problem(line, f"{column} is empty")
                ok = False
            elif len(value) > _LIMITS[column]:
                self._problem(
                    line,
                    f"{column} is {len(value)} characters long; expected at most "
                    f"{_LIMITS[column]}",
                )
                ok = False
        if not ok:
            return None
        try:
            return School(id=school_id, name=name)
        except ValidationError as exc:
            self._problem(line, f"school {_short(school_id)!r} is not valid: {_first(exc)}")
            return None

    def _person(self, line: int, cell: dict[str, str]) -> Person | None:
        vk_text, full_name, role_text = cell["vk_id"], cell["full_name"], cell["role"]
        if not (vk_text or full_name or role_text):
            return None  # a school with no people yet
        vk_id = parse_vk_id(vk_text) if vk_text else None
        screen_name = parse_screen_name(vk_text) if vk_text and vk_id is None else None
        role = parse_role(role_text) if role_text else None
        if not vk_text:
            self._problem(line, f"vk_id is empty; expected {VK_ID_FORM}")
        elif vk_id is None and screen_name is None:
            self._problem(line, _bad_vk_id(vk_text))
        if not full_name:
            self._problem(line, "full_name is empty; expected the person's name")
        elif len(full_name) > _LIMITS["full_name"]:
            self._problem(
                line,
                f"full_name is {len(full_name)} characters long; expected at most "
                f"{_LIMITS['full_name']}",
            )
            full_name = ""
        if not role_text:
            self._problem(line, f"role is empty; expected {ROLE_FORM}")
        elif role is None:
            self._problem(line, f"role {_short(role_text)!r} is not a role; expected {ROLE_FORM}")
        if screen_name is not None and role is not None and full_name:
            self.unresolved.append(
                UnresolvedPerson(
                    screen_name=screen_name,
                    school_id=cell["school_id"],
                    full_name=full_name,
                    role=role,
                    line=line,
                )
            )
            return None
        if vk_id is None or role is None or not full_name:
            return None
        try:
            return Person(vk_id=vk_id, school_id=cell["school_id"], full_name=full_name, role=role)
        except ValidationError as exc:
            self._problem(line, f"the person is not valid: {_first(exc)}")
            return None

    def _remember_school(self, line: int, school: School) -> None:
        known = self.schools.get(school.id)
        if known is None:
            self.schools[school.id] = school
            self._school_line[school.id] = line
        elif known.name != school.name:
            first = self._school_line[school.id]
            self._problem(
                line,
                f"school {_short(school.id)!r} is named {_short(school.name, 60)!r} here but "
                f"{_short(known.name, 60)!r} on line {first}; expected the same name on every "
                "row of a school",
            )

    def _remember_person(self, line: int, person: Person) -> None:
        key = (person.school_id, person.vk_id)
        if key in self._person_line:
            self._problem(
                line,
                f"person {person.vk_id} is already listed for school {person.school_id!r} "
                f"on line {self._person_line[key]}; expected one row per person and school",
            )
            return
        self._person_line[key] = line
        self.people.append(person)


def _bad_vk_id(text: str) -> str:
    message = f"vk_id {_short(text)!r} is not a VK id; expected {VK_ID_FORM}"
    if _EXCEL_NUMBER.fullmatch(text):
        return (
            message + " (Excel turned it into a number in E-notation: format the column as text)"
        )
    digits = re.sub(r"\D", "", text)
    if digits and _VK_ID.fullmatch(text) and int(digits) >= _CHAT_PEER_BASE:
        return message + " (numbers from 2000000000 up are chats, not people)"
    if _VK_LINK.fullmatch(text):
        return message + " (a link must look like https://vk.com/id123 or https://vk.com/name)"
    return message


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
