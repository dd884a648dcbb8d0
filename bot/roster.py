"""The roster: which schools there are and who answers for each, from a CSV or Excel file.

The file is what the department keeps in Excel: the header
`school_id,school_name,vk_id,full_name,role`, then one row per person. Either the workbook
itself (.xlsx, its first sheet) or a CSV file: UTF-8 with or without BOM, `,` or `;` between
fields. A row with only `school_id` and `school_name` defines a school that has no people yet.
Other columns are allowed and ignored, and named in `Roster.ignored_columns` for a warning.

Import is all or nothing: every problem of the file is collected and reported with its line
(for a workbook, its row number), in Russian, for the district's IT person.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo

from bot.domain import Person, Role, School

COLUMNS = ("school_id", "school_name", "vk_id", "full_name", "role")
HEADER = ",".join(COLUMNS)
VK_ID_FORM = "123, id123, https://vk.com/id123 или короткий адрес https://vk.com/ivanov"
ROLE_FORM = "head или deputy (руководитель, директор, заместитель, зам)"
SAVE_AS = (
    "сохраните таблицу в Excel как «Книга Excel (.xlsx)» или как "
    "«CSV UTF-8 (разделитель — запятая)»"
)
# Peer ids from 2000000000 up are chats; a person's id is always below.
_CHAT_PEER_BASE = 2_000_000_000

_VK_ID = re.compile(r"(?:(?:https?://)?(?:www\.|m\.)?vk\.(?:com|ru)/)?(?:id)?(\d{1,10})/?", re.I)
_VK_LINK = re.compile(r"(?:https?://)?(?:www\.|m\.)?vk\.(?:com|ru)/\S+|@\w+", re.I)
_EXCEL_NUMBER = re.compile(r"\d+(?:[.,]\d+)?e\+?\d+", re.I)
_SEP_LINE = re.compile(r'"?sep=(.)"?', re.I)
_ZIP = b"PK\x03\x04"  # an .xlsx workbook is a ZIP archive
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls


class RosterProblem(NamedTuple):
    """One problem of a roster file; `line` is the physical line (0: the file as a whole)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"строка {self.line}: {self.message}" if self.line else self.message


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
            return f"список не загружен: {self.problems[0]}"
        return "\n".join(
            [
                f"список не загружен, ошибок: {len(self.problems)}",
                *(f"  {p}" for p in self.lines()),
            ]
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
    # Columns of the file that are none of COLUMNS: read past, and named in a warning.
    ignored_columns: tuple[str, ...] = ()
    # The line (or worksheet row) where each school first appears.
    school_lines: dict[str, int] = Field(default_factory=dict)

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


def school_key(school_id: str) -> str:
    """What two ids of one school share however Excel wrote them: `001`, `01` and `1` are
    one number to Excel, which drops the zeros unless the column is text; `С1` and `с1`
    differ only in case."""
    text = school_id.strip()
    if re.fullmatch(r"[0-9]+", text):
        return str(int(text))
    return text.casefold()


def _same_school_hint(school_id: str) -> str:
    if re.fullmatch(r"[0-9]+", school_id.strip()):
        return "если не считать нулей в начале (Excel убирает их у чисел)"
    return "если не считать заглавных и строчных букв"


def collisions_with(roster: Roster, existing: Iterable[str]) -> list[RosterProblem]:
    """Schools of the file that are not in the database under their own id but are under
    another way of writing it (`1` in the file, `001` in the database): importing would make
    a second school. Empty if there are none."""
    known: dict[str, str] = {}
    for school_id in existing:
        known.setdefault(school_key(school_id), school_id)
    problems: list[RosterProblem] = []
    ids = set(known.values())
    for school in roster.schools:
        if school.id in ids:
            continue
        other = known.get(school_key(school.id))
        if other is not None and other != school.id:
            problems.append(
                RosterProblem(
                    roster.school_lines.get(school.id, 0),
                    f"school_id «{_short(school.id)}» совпадает со школой «{_short(other)}», "
                    f"которая уже есть в базе, {_same_school_hint(school.id)}: загрузка "
                    "создала бы вторую школу. Впишите id так же, как в базе, и задайте "
                    "столбцу school_id в Excel формат «Текстовый»",
                )
            )
    return problems


@functools.lru_cache(maxsize=256)
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


def roster_digest(data: bytes) -> str:
    """What identifies a roster file as read by this code: its bytes and confirmbot's
    version (another version may read the same bytes otherwise)."""
    digest = hashlib.sha256(_CODE_VERSION.encode() + b"\0")
    digest.update(data)
    return digest.hexdigest()


def _code_version() -> str:
    try:
        return metadata.version("confirmbot")
    except metadata.PackageNotFoundError:  # run from a source tree
        return "source"


_CODE_VERSION = _code_version()


def read_roster(path: Path) -> Roster:
    """Read and parse a roster file; raise RosterError if it cannot be used as a whole."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise RosterError([(0, f"файл {path} не найден")]) from None
    except IsADirectoryError:
        raise RosterError([(0, f"{path} — папка, а не файл")]) from None
    except OSError as exc:
        raise RosterError([(0, f"не удаётся прочитать файл {path}: {exc.strerror}")]) from None
    return parse_roster(data)


def parse_roster(data: bytes) -> Roster:
    """Parse a roster, an .xlsx workbook or CSV bytes; raise RosterError with every problem
    found, or return it all."""
    if data.startswith(_ZIP):
        return _build(_xlsx_records(data), ",")
    if data.startswith(_OLE):
        raise RosterError([(0, f"это файл старого формата Excel 97–2003 (.xls); {SAVE_AS}")])
    text = _decode(data)
    if not text.strip():
        raise RosterError([(1, f"файл пуст; ожидается строка заголовка {HEADER}")])
    delimiter, text = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return _build(_records(reader), delimiter)


def _build(records: Iterator[tuple[int, list[str]]], delimiter: str) -> Roster:
    header_line, header = next(records, (0, []))
    if not header:
        raise RosterError([(1, f"файл пуст; ожидается строка заголовка {HEADER}")])
    columns, ignored = _columns(header_line, header, delimiter)
    builder = _RosterBuilder(columns, len(header))
    for line, fields in records:
        builder.add(line, fields)
    if not builder.problems and builder.rows == 0:
        builder.problems.append(
            RosterProblem(header_line, "после заголовка нет строк; ожидается строка на человека")
        )
    if builder.problems:
        raise RosterError(builder.problems)
    return Roster(
        schools=tuple(builder.schools.values()),
        people=tuple(builder.people),
        unresolved=tuple(builder.unresolved),
        ignored_columns=ignored,
        school_lines=dict(builder.school_lines),
    )


# --- reading a workbook ------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    """A cell as the text it shows: Excel's numbers without a `.0`, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _xlsx_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """`(row number, cells)` of each non-blank row of the workbook's first sheet."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # only for a workbook

    try:
        book = load_workbook(io.BytesIO(data), data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise RosterError(
            [
                (
                    0,
                    f"файл похож на книгу Excel, но не открывается "
                    f"({type(exc).__name__}); {SAVE_AS}",
                )
            ]
        ) from None
    try:
        sheet = book.worksheets[0]
        rows = [
            [_cell_text(value) for value in row]
            for row in sheet.iter_rows(min_row=1, max_row=sheet.max_row, values_only=True)
        ]
    finally:
        book.close()
    for number, cells in enumerate(rows, start=1):
        if any(cell.strip() for cell in cells):
            yield number, cells


# --- reading the text --------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RosterError([(1, f"текст файла в кодировке UTF-16; {SAVE_AS}")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RosterError(
            [(line, f"текст файла не в кодировке UTF-8 (вероятно, Windows-1251); {SAVE_AS}")]
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
            raise RosterError([(start, f"строку не удаётся прочитать как CSV: {exc}")]) from None
        line_num = getattr(reader, "line_num", start)
        if any(field.strip() for field in fields):
            yield start, fields


def _columns(
    line: int, header: list[str], delimiter: str
) -> tuple[dict[str, int], tuple[str, ...]]:
    """Where each column is, and the header's other columns (to be ignored, with a warning)."""
    names = [name.strip().strip("\ufeff").strip().lower() for name in header]
    problems: list[tuple[int, str]] = []
    for name in COLUMNS:
        if names.count(name) > 1:
            problems.append(
                (line, f"столбец {name} встречается в заголовке {names.count(name)} раза")
            )
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        found = delimiter.join(name for name in names if name) or "ничего"
        problems.append(
            (
                line or 1,
                f"{'нет столбцов' if len(missing) > 1 else 'нет столбца'} {', '.join(missing)}; "
                f"ожидается заголовок {HEADER} (найдено: {_short(found, 80)})",
            )
        )
    if problems:
        raise RosterError(problems)
    ignored = tuple(
        _short(" ".join(cell.split()), 40)
        for cell, name in zip(header, names, strict=True)
        if name and name not in COLUMNS
    )
    return {name: names.index(name) for name in COLUMNS}, ignored


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
        self.school_lines: dict[str, int] = {}
        self._school_keys: dict[str, str] = {}
        self._person_line: dict[tuple[str, int], int] = {}
        self._row_line: dict[tuple[str, ...], int] = {}

    def _problem(self, line: int, message: str) -> None:
        self.problems.append(RosterProblem(line, message))

    def add(self, line: int, fields: list[str]) -> None:
        self.rows += 1
        if any(field.strip() for field in fields[self.width :]):
            self._problem(
                line,
                f"в строке {len(fields)} полей, а в заголовке {self.width}; значение с "
                "запятой или точкой с запятой нужно заключить в двойные кавычки",
            )
            return
        cell = {
            name: _clean(fields[index]) if index < len(fields) else ""
            for name, index in self.columns.items()
        }
        before = len(self.problems)
        known = self.schools.get(cell["school_id"])
        if known is not None and known.name == cell["school_name"]:
            # A further row of a school already checked and kept (most rows of a region's
            # file): nothing about the school is new.
            school: School | None = known
        else:
            school = self._school(line, cell["school_id"], cell["school_name"])
        person = self._person(line, cell)
        if len(self.problems) > before:
            return
        key = tuple(cell[name] for name in COLUMNS)
        if person is not None:
            key = (*key[:2], str(person.person_id), key[3], person.role.value)
        if key in self._row_line:
            self._problem(line, f"повторяет строку {self._row_line[key]}")
            return
        self._row_line[key] = line
        if school is not None and school is not known:
            self._remember_school(line, school)
        if person is not None:
            self._remember_person(line, person)

    def _school(self, line: int, school_id: str, name: str) -> School | None:
        ok = True
        for column, value in (("school_id", school_id), ("school_name", name)):
            if not value:
                self._problem(line, f"столбец {column} пуст")
                ok = False
            elif len(value) > _LIMITS[column]:
                self._problem(
                    line,
                    f"{column}: символов {len(value)}, а допускается не больше {_LIMITS[column]}",
                )
                ok = False
        if not ok:
            return None
        try:
            return School(id=school_id, name=name)
        except ValidationError as exc:
            self._problem(line, f"школа «{_short(school_id)}» не подходит: {_first(exc)}")
            return None

    def _person(self, line: int, cell: dict[str, str]) -> Person | None:
        vk_text, full_name, role_text = cell["vk_id"], cell["full_name"], cell["role"]
        if not (vk_text or full_name or role_text):
            return None  # a school with no people yet
        person_id = parse_vk_id(vk_text) if vk_text else None
        screen_name = parse_screen_name(vk_text) if vk_text and person_id is None else None
        role = parse_role(role_text) if role_text else None
        if not vk_text:
            self._problem(line, f"столбец person_id пуст; ожидается {VK_ID_FORM}")
        elif person_id is None and screen_name is None:
            self._problem(line, _bad_vk_id(vk_text))
        if not full_name:
            self._problem(line, "столбец full_name пуст; ожидается фамилия, имя и отчество")
        elif len(full_name) > _LIMITS["full_name"]:
            self._problem(
                line,
                f"full_name: символов {len(full_name)}, а допускается не больше "
                f"{_LIMITS['full_name']}",
            )
            full_name = ""
        if not role_text:
            self._problem(line, f"столбец role пуст; ожидается {ROLE_FORM}")
        elif role is None:
            self._problem(line, f"role «{_short(role_text)}» — не роль; ожидается {ROLE_FORM}")
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
        if person_id is None or role is None or not full_name:
            return None
        try:
            return Person(
                person_id=person_id, school_id=cell["school_id"], full_name=full_name, role=role
            )
        except ValidationError as exc:
            self._problem(line, f"человек не подходит: {_first(exc)}")
            return None

    def _remember_school(self, line: int, school: School) -> None:
        known = self.schools.get(school.id)
        if known is None:
            key = school_key(school.id)
            other = self._school_keys.get(key)
            if other is not None:
                first = self.school_lines[other]
                self._problem(
                    line,
                    f"school_id «{_short(school.id)}» совпадает с «{_short(other)}» из строки "
                    f"{first}, {_same_school_hint(school.id)}: одна это школа или две? "
                    "Задайте столбцу school_id в Excel формат «Текстовый» и впишите id "
                    "одной школы одинаково, а разных — различимо",
                )
                return
            self._school_keys[key] = school.id
            self.schools[school.id] = school
            self.school_lines[school.id] = line
        elif known.name != school.name:
            first = self.school_lines[school.id]
            self._problem(
                line,
                f"школа «{_short(school.id)}» названа здесь «{_short(school.name, 60)}», а в "
                f"строке {first} — «{_short(known.name, 60)}»; у всех строк одной школы "
                "должно быть одно название",
            )

    def _remember_person(self, line: int, person: Person) -> None:
        key = (person.school_id, person.person_id)
        if key in self._person_line:
            self._problem(
                line,
                f"человек {person.person_id} уже указан для школы «{person.school_id}» в строке "
                f"{self._person_line[key]}; ожидается одна строка на человека и школу",
            )
            return
        self._person_line[key] = line
        self.people.append(person)


def _bad_vk_id(text: str) -> str:
    message = f"person_id «{_short(text)}» — не id ВКонтакте; ожидается {VK_ID_FORM}"
    if _EXCEL_NUMBER.fullmatch(text):
        return message + (
            " (Excel записал число в экспоненциальной форме: задайте столбцу формат «Текстовый»)"
        )
    digits = re.sub(r"\D", "", text)
    if digits and _VK_ID.fullmatch(text) and int(digits) >= _CHAT_PEER_BASE:
        return message + " (числа от 2000000000 — это беседы, а не люди)"
    if _VK_LINK.fullmatch(text):
        return message + (
            " (ссылка должна выглядеть как https://vk.com/id123 или https://vk.com/ivanov)"
        )
    return message


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
