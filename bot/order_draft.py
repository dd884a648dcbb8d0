"""A campaign file drafted from an order's own text, for a person to review.

An order reaches the department as a Word file or as text: a header (who issued it, the date and
number, «ПРИКАЗ», the title), a preamble, «ПРИКАЗЫВАЮ:» and numbered items, each under its
addressee («3. Руководителям общеобразовательных организаций в срок до 20.10.2023г:» and then
«3.1 …», «3.2 …»). Reading it is pure: blocks of text in (`read_blocks` turns a .txt or .docx
into them), an `OrderDraft` and the list of what could not be read out (`draft_order`), and the
campaign file's text (`write_draft`) in the form `bot/campaign.py` loads.

What is not in the order is never made up: an item is a step only where the order has it, its
title is the order's words (with the product names spelled as the bot spells them, bot/TEXTS.md);
only `short_title` is proposed, and the file says so.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import docx
from docx.document import Document as DocxDocument
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.table import Table
from docx.text.paragraph import Paragraph
from pydantic import BaseModel, ConfigDict

from bot import texts
from bot.campaign import state_word_in
from bot.config import DEFAULT_TIMEZONE
from bot.domain import CountPart, StepKind
from bot.russian import quoted, typeset

__all__ = [
    "Block",
    "DraftStep",
    "LeftOut",
    "OrderDraft",
    "OrderReadError",
    "draft_order",
    "read_blocks",
    "spell_products",
    "write_draft",
]

# A paragraph of the order, or a table row as its cells.
Block = str | tuple[str, ...]
Audience = Literal["heads", "staff"]

SHORT_TITLE_LIMIT = 60
END_OF_DAY = dt.time(23, 59)


class OrderReadError(Exception):
    """The order's file cannot be read at all; the message says why, in Russian."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DraftStep(_Frozen):
    """An item of the order that heads or staff confirm."""

    id: str
    title: str
    short_title: str
    kind: StepKind = StepKind.CONFIRM
    parts: tuple[CountPart, ...] = ()
    audience: Audience = "heads"
    # The item's own date in the order (local, naive), if it or its addressee gives one.
    deadline: dt.datetime | None = None
    deadline_words: str = ""
    # How the order numbers the item where the id had to differ («а)», a bullet).
    numbered_as: str = ""
    addressee: str = ""


class LeftOut(_Frozen):
    """An item the draft does not carry, and why."""

    id: str
    addressee: str
    text: str


class OrderDraft(_Frozen):
    id: str | None = None
    number: str | None = None
    date: dt.date | None = None
    title: str | None = None
    issuer: str | None = None
    deadline: dt.datetime | None = None
    # The words of the order the deadline comes from («в срок до 20.10.2023г»).
    deadline_words: str = ""
    timezone: str = DEFAULT_TIMEZONE
    steps: tuple[DraftStep, ...] = ()
    left_out: tuple[LeftOut, ...] = ()
    # What the draft did that a reviewer should know (per-item dates, spellings, ids given).
    notes: tuple[str, ...] = ()

    @property
    def deadlines_differ(self) -> bool:
        return len({s.deadline for s in self.steps if s.deadline is not None}) > 1


# --- reading a file into blocks ---------------------------------------------------------------


def read_blocks(path: Path) -> list[Block]:
    """The order's paragraphs and table rows, in the order the file has them."""
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".docx"):
        raise OrderReadError(texts.DRAFT_SUFFIX.format(path=path))
    if not path.exists():
        raise OrderReadError(texts.DRAFT_NO_FILE.format(path=path))
    if path.is_dir():
        raise OrderReadError(texts.DRAFT_IS_A_DIRECTORY.format(path=path))
    if suffix == ".txt":
        try:
            data = path.read_bytes()
        except OSError as error:
            raise OrderReadError(
                texts.DRAFT_UNREADABLE.format(path=path, reason=error.strerror or error)
            ) from error
        return list(_text_blocks(_decode(data, path)))
    return _docx_blocks(path)


def _decode(data: bytes, path: Path) -> str:
    if b"\x00" in data:
        raise OrderReadError(texts.DRAFT_NOT_TEXT.format(path=path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Word's «Обычный текст» on a Russian Windows writes Windows-1251.
        try:
            return data.decode("cp1251")
        except UnicodeDecodeError as error:
            raise OrderReadError(texts.DRAFT_NOT_TEXT.format(path=path)) from error


def _text_blocks(text: str) -> Iterable[Block]:
    return text.splitlines()


def _docx_blocks(path: Path) -> list[Block]:
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise OrderReadError(texts.DRAFT_BAD_DOCX.format(path=path)) from error
    except OSError as error:
        raise OrderReadError(
            texts.DRAFT_UNREADABLE.format(path=path, reason=error.strerror or error)
        ) from error
    numbering = _Numbering(document)
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            blocks.extend(_numbered(numbering, item).splitlines() or [""])
        elif isinstance(item, Table):
            blocks.append("")
            for row in item.rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(
                        " ".join(_numbered(numbering, p) for p in cell.paragraphs).split()
                    )
                    # A merged cell is repeated once per grid column it spans.
                    if not cells or text != cells[-1]:
                        cells.append(text)
                blocks.append(tuple(cells))
            blocks.append("")
    return blocks


def _numbered(numbering: _Numbering, paragraph: Paragraph) -> str:
    label = numbering.label(paragraph)
    return f"{label} {paragraph.text}" if label else paragraph.text


_RUSSIAN_LETTERS = "абвгдежзиклмнопрстуфхцчшщэюя"  # Word's «а, б, в…» skips ё, й, ъ, ы, ь
_ROMAN = (
    (1000, "m"),
    (900, "cm"),
    (500, "d"),
    (400, "cd"),
    (100, "c"),
    (90, "xc"),
    (50, "l"),
    (40, "xl"),
    (10, "x"),
    (9, "ix"),
    (5, "v"),
    (4, "iv"),
    (1, "i"),
)


def _format_number(number: int, form: str) -> str:
    if form in ("russianLower", "russianUpper", "lowerLetter", "upperLetter"):
        letters = _RUSSIAN_LETTERS if form.startswith("russian") else "abcdefghijklmnopqrstuvwxyz"
        letter = letters[(number - 1) % len(letters)] * ((number - 1) // len(letters) + 1)
        return letter.upper() if form.endswith("Upper") else letter
    if form in ("lowerRoman", "upperRoman"):
        roman = ""
        for value, digits in _ROMAN:
            while number >= value:
                roman, number = roman + digits, number - value
        return roman.upper() if form == "upperRoman" else roman
    if form == "none":
        return ""
    return str(number)


class _Numbering:
    """The numbers Word draws before list paragraphs («1.», «3.1.», «а)»): they are not in a
    paragraph's text, and an order's items are most often numbered so."""

    def __init__(self, document: DocxDocument) -> None:
        # abstract list -> level -> (number format, level text such as "%1.%2.", start)
        self._levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        self._abstract_of: dict[str, str] = {}
        self._counters: dict[str, dict[int, int]] = {}
        try:
            numbering = document.part.numbering_part.element
        except (KeyError, NotImplementedError):
            return  # a document without lists
        for num in numbering.findall(qn("w:num")):
            abstract = num.find(qn("w:abstractNumId"))
            if abstract is not None:
                self._abstract_of[str(num.get(qn("w:numId")))] = str(abstract.get(qn("w:val")))
        for abstract in numbering.findall(qn("w:abstractNum")):
            levels: dict[int, tuple[str, str, int]] = {}
            for level in abstract.findall(qn("w:lvl")):
                start = _value(level, "w:start", "1")
                levels[int(str(level.get(qn("w:ilvl"), "0")))] = (
                    _value(level, "w:numFmt", "decimal"),
                    _value(level, "w:lvlText", ""),
                    int(start) if start.isdigit() else 1,
                )
            self._levels[str(abstract.get(qn("w:abstractNumId")))] = levels

    def label(self, paragraph: Paragraph) -> str:
        """The paragraph's number as Word shows it, counting it; "" if it has none."""
        num_id, level = _list_of(paragraph)
        abstract = self._abstract_of.get(num_id or "")
        levels = self._levels.get(abstract or "")
        if abstract is None or not levels or level not in levels:
            return ""
        counters = self._counters.setdefault(abstract, {})
        counters[level] = counters.get(level, levels[level][2] - 1) + 1
        for deeper in [k for k in counters if k > level]:
            del counters[deeper]
        form, text, _ = levels[level]
        if form == "bullet":
            return "-"

        def number(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            form_, _, start = levels.get(index, ("decimal", "", 1))
            return _format_number(counters.get(index, start), form_)

        return re.sub(r"%([1-9])", number, text)


def _value(element: BaseOxmlElement, tag: str, default: str) -> str:
    child = element.find(qn(tag))
    return default if child is None else str(child.get(qn("w:val"), default))


def _list_of(paragraph: Paragraph) -> tuple[str | None, int]:
    """The list a paragraph is in and its level: its own, or its style's (List Number)."""
    p_pr = paragraph._p.pPr
    num_pr = p_pr.find(qn("w:numPr")) if p_pr is not None else None
    style = paragraph.style
    while num_pr is None and style is not None:
        style_pr = style.element.pPr
        num_pr = style_pr.find(qn("w:numPr")) if style_pr is not None else None
        style = style.base_style
    if num_pr is None:
        return None, 0
    num_id = _value(num_pr, "w:numId", "")
    level = _value(num_pr, "w:ilvl", "0")
    return num_id or None, int(level) if level.isdigit() else 0


# --- words of an order ------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, name in enumerate(
        [
            "января",
            "февраля",
            "марта",
            "апреля",
            "мая",
            "июня",
            "июля",
            "августа",
            "сентября",
            "октября",
            "ноября",
            "декабря",
        ],
        start=1,
    )
}
_MONTH_WORDS = "|".join(_MONTHS)
# «20.10.2023», «20.10.23», ««16». 10. 2023», «20 октября 2023», «"20" октября 2023 г.».
_DATE = (
    r"[«\"']?(?P<day>\d{1,2})[»\"']?\s*(?:\.\s*(?P<month>\d{1,2})\s*\.\s*|\s+(?P<word>"
    + _MONTH_WORDS
    + r")\s+)(?P<year>\d{4}|\d{2})(?!\d)(?:\s*(?:г\.|года|г)(?![а-яё]))?"
)
_TIME = r"(?P<hour>[01]?\d|2[0-3])[:.](?P<minute>[0-5]\d)(?:\s*ч(?:ас\w*)?\.?)?"
_DEADLINE = re.compile(
    r"(?:(?:в\s+)?срок(?:\s+исполнения)?\s*[:—–-]?\s*)?(?:до|не\s+позднее|не\s+позже)\s+"
    r"(?:" + _TIME.replace("?P<", "?P<t1") + r"\s+)?" + _DATE + r"(?:\s*(?:до\s+)?"
    r"(?:\(?\s*)" + _TIME.replace("?P<", "?P<t2") + r"\)?)?"
    r"|срок(?:\s+исполнения)?\s*[:—–-]\s*" + _DATE.replace("?P<", "?P<s"),
    re.IGNORECASE,
)
_DATE_ONLY = re.compile(_DATE, re.IGNORECASE)


def _date_of(match: re.Match[str], prefix: str = "") -> dt.date | None:
    day = match.group(prefix + "day")
    if day is None:
        return None
    word = match.group(prefix + "word")
    month = _MONTHS[word.casefold()] if word else int(match.group(prefix + "month"))
    year = int(match.group(prefix + "year"))
    if year < 100:
        year += 2000
    try:
        return dt.date(year, month, int(day))
    except ValueError:
        return None


def deadline_in(text: str) -> tuple[dt.datetime, str] | None:
    """The last deadline the text names, as local time (end of day unless a time is given),
    with the words it is written in."""
    found: tuple[dt.datetime, str] | None = None
    for match in _DEADLINE.finditer(text):
        day = _date_of(match) or _date_of(match, "s")
        if day is None:
            continue
        moment = END_OF_DAY
        for prefix in ("t1", "t2"):
            hour = match.group(prefix + "hour")
            if hour is not None:
                moment = dt.time(int(hour), int(match.group(prefix + "minute")))
        found = (dt.datetime.combine(day, moment), match.group(0).strip())
    return found


_PRODUCTS = (
    (re.compile(r"(?<![\w])(?:ВК|VK|Вк|Vk)\s*[Мм]ессенджер"), "VK Мессенджер"),
    (re.compile(r"(?<![\w])VK\s+Messenger"), "VK Мессенджер"),
    (re.compile(r"(?<![\w])Sferum"), "Сферум"),
)


def spell_products(text: str) -> str:
    """The order's words with Сферум and VK Мессенджер spelled the one way (bot/TEXTS.md)."""
    for pattern, spelling in _PRODUCTS:
        text = pattern.sub(spelling, text)
    return text


def _clean(line: str) -> str:
    # Markdown emphasis a text export leaves («**20.10.2023г:**»), no-break and odd spaces.
    line = re.sub(r"\*\*|__|[\x00-\x1f\x7f]", " ", line)
    return " ".join(line.replace("\u00a0", " ").split())


# --- who an item is for -----------------------------------------------------------------------

_HEADS = re.compile(
    r"^(?:руководител|директор|заведующ)\w*(?:\s+и\s+(?:их\s+)?заместител\w*)?"
    r"(?:\s+(?:\w+\s+)?(?:общеобразовательн|образовательн|подведомственн|муниципальн)\w*"
    r"|\s+(?:ОО|ОУ|МКОУ|МБОУ|МОУ|школ)\b)",
    re.IGNORECASE,
)
_STAFF = re.compile(
    r"^(?:сотрудник|специалист|работник)\w*\s+(?:\w+\s+)?"
    r"(?:управлени|комитет|отдел\w*\s+образовани|департамент|МКУ|УО\b|РУО\b)",
    re.IGNORECASE,
)
_DEPARTMENT = re.compile(
    r"^(?:отдел|сектор|управлени|комитет|департамент|бухгалтери|заместител|начальник|"
    r"главн|ведущ|методист|служб|центр|МКУ|МБУ|ИМЦ|РМК|специалист|инспектор|юрист|"
    r"ответственн)\w*",
    re.IGNORECASE,
)
# Where an addressee's words end: a verb's infinitive, the deadline, a colon or a comma.
_ADDRESSEE_END = re.compile(
    r"\s+(?=\S+(?:ть|ться|йти|тись|чь)(?:\s|[:,;.]|$)|(?:про|при|пере|от|)вести\b|внести\b)"
    r"|\s*(?=(?:в\s+)?срок\b|до\s+\d|не\s+позднее)"
    r"|\s*[:,]\s*",
    re.IGNORECASE,
)


def _audience(addressee: str) -> Audience | Literal["department"] | None:
    if _HEADS.match(addressee):
        return "heads"
    if _STAFF.match(addressee):
        return "staff"
    if _DEPARTMENT.match(addressee):
        return "department"
    return None


def _split_addressee(text: str) -> tuple[str, str]:
    """«Руководителям ОО в срок до 20.10.2023г: обеспечить …» → addressee, the item's words."""
    end = _ADDRESSEE_END.search(text)
    if end is None:
        return text.rstrip(":").strip(), ""
    addressee = text[: end.start()].strip()
    rest = text[end.end() :].strip()
    found = deadline_in(rest)
    if found is not None and rest.startswith(found[1]):
        rest = rest[len(found[1]) :]
    return addressee, rest.strip(" :,;—–-")


# --- short titles and counted people ----------------------------------------------------------

_WEAK_END = frozenset(
    [
        "в",
        "во",
        "на",
        "к",
        "ко",
        "с",
        "со",
        "по",
        "для",
        "и",
        "или",
        "а",
        "о",
        "об",
        "от",
        "из",
        "у",
        "за",
        "до",
        "при",
        "через",
        "между",
        "которые",
        "который",
        "которая",
        "что",
        "не",
        "их",
        "его",
        "её",
        "ее",
        "также",
        "VK",
    ]
)
_SHORTER = (
    (re.compile(r"^(?:обеспечить|организовать)\s+(?=\w+(?:ие|ия|ость)\b)"), ""),
    (re.compile(r"программного обеспечения", re.IGNORECASE), "ПО"),
    (re.compile(r"педагогических работников", re.IGNORECASE), "педагогов"),
    (re.compile(r"образовательн(?:ой|ых) организаци(?:и|й|ях)", re.IGNORECASE), "ОО"),
)


def propose_short_title(title: str) -> str | None:
    """A name for buttons and cards, under 60 characters, from the item's own words."""
    text = title
    while True:
        shorter = re.sub(r"\s*\([^()]*\)", "", text)
        if shorter == text:
            break
        text = shorter
    text = re.sub(r"\s*(?:[,—–-]\s*)?(?:в\s+)?(?:срок\s+)?(?:до|не позднее)\s+\d.*$", "", text)
    text = " ".join(text.split()).strip(" ;.,:—–-")
    # «руководителям и заместителям руководителя подключиться …»: who is said by the audience.
    text = re.sub(r"^\w+(?:ям|ам)\b[\w\s,]*?\s(?=\w+(?:ть|ться|йти|чь)\b)", "", text)
    for pattern, replacement in _SHORTER:
        text = pattern.sub(replacement, text)
    state = state_word_in(text)
    if state is not None:
        text = text[: text.lower().find(state.lower())]
    text = _cut(text.strip(" ;.,:—–-"))
    if len(text.split()) < 2 and len(title.split()) > 2:
        return None
    if not text:
        return None
    return text[0].upper() + text[1:]


def _fits(text: str) -> bool:
    return len(typeset(text)) <= SHORT_TITLE_LIMIT


def _cut(text: str) -> str:
    if not _fits(text):
        head = re.split(r"\s*(?:,|;|—|–| - )\s*", text)[0]
        if _fits(head) and len(head) >= 20:
            text = head
    words = text.split()
    while words and not _fits(" ".join(words)):
        words.pop()
    # Not «… к», «… Сферум и VK»: a cut ends on a word that carries meaning.
    while words and (
        words[-1].strip(",;:") in _WEAK_END or re.fullmatch(r"\d+(?:-\w+)?", words[-1])
    ):
        words.pop()
    return " ".join(words).strip(" ;.,:—–-")


_PEOPLE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "teachers",
        r"педагогическ\w*\s+работник\w*|педагог\w*|учител\w*|педработник\w*",
        "педагоги",
        ("учителя", "педагогов", "учителей", "педработники", "педработников", "teachers"),
    ),
    (
        "pupils",
        r"дет(?:ей|и)\b|обучающ\w+|учащ\w+|учени\w+|школьник\w*",
        "ученики",
        (
            "обучающиеся",
            "дети",
            "учеников",
            "детей",
            "обучающихся",
            "учащиеся",
            "школьники",
            "школьников",
            "pupils",
        ),
    ),
    (
        "parents",
        r"родител\w*|законн\w+\s+представител\w*",
        "родители",
        ("родителей", "законные представители", "законных представителей", "parents"),
    ),
    (
        "employees",
        r"сотрудник\w*|работник\w*",
        "сотрудники",
        ("сотрудников", "работники", "работников", "employees"),
    ),
)
_PEOPLE_RE = re.compile(
    "|".join(f"(?P<{key}>{pattern})" for key, pattern, _, _ in _PEOPLE), re.IGNORECASE
)
_PERCENT = re.compile(r"\d{1,3}(?:[.,]\d+)?\s*%\s*(?P<tail>[^;.()]{0,160})")


def counted_parts(title: str) -> tuple[tuple[CountPart, ...], bool]:
    """The parts of a count step where the item asks for a percentage of people; and whether
    it names a percentage at all."""
    keys: list[str] = []
    percent = False
    for match in _PERCENT.finditer(title):
        percent = True
        tail = match.group("tail")
        # The people counted come straight after the figure: «100% педагогических работников
        # и детей к Сферуму» — not «к Сферуму» and what follows.
        head = re.split(r"\s(?:к|в|во|на|с|со|по|для|от|при)\s", tail, maxsplit=1)[0]
        for people in _PEOPLE_RE.finditer(head):
            key = people.lastgroup
            if key is not None and key not in keys:
                keys.append(key)
    parts = tuple(
        CountPart(key=key, title=title_, aliases=aliases)
        for key, _, title_, aliases in _PEOPLE
        if key in keys
    )
    return tuple(sorted(parts, key=lambda part: keys.index(part.key))), percent


# --- the header -------------------------------------------------------------------------------

_ORDERS = re.compile(
    r"^(?:ПРИКАЗЫВАЮ|ОБЯЗЫВАЮ|ПРЕДЛАГАЮ|РАСПОРЯЖАЮСЬ|ПОСТАНОВЛЯЮ|П\s*Р\s*И\s*К\s*А\s*З\s*Ы\s*В"
    r"\s*А\s*Ю)\b",
    re.IGNORECASE,
)
_KIND = re.compile(
    r"^(?:П\s*Р\s*И\s*К\s*А\s*З|Р\s*А\s*С\s*П\s*О\s*Р\s*Я\s*Ж\s*Е\s*Н\s*И\s*Е)\b",
    re.IGNORECASE,
)
_TITLE = re.compile(r"^(?:О|Об|Обо)\s+\S")
_NUMBER = re.compile(r"(?:№|N\b|No\.?)\s*(?P<number>\d[\w/-]*)")
_ISSUER_START = re.compile(
    r"\b(?:МКУ|МБУ|МАУ|ГКУ|ГБУ|УПРАВЛЕНИЕ|КОМИТЕТ|ОТДЕЛ|ДЕПАРТАМЕНТ|МИНИСТЕРСТВО|АДМИНИСТРАЦИЯ)\b",
    re.IGNORECASE,
)
_ABBREVIATIONS = frozenset(
    [
        "МКУ",
        "МБУ",
        "МАУ",
        "ГКУ",
        "ГБУ",
        "МО",
        "ГО",
        "РФ",
        "РД",
        "МР",
        "УО",
        "РУО",
        "МКОУ",
        "МБОУ",
        "ИКОП",
    ]
)


def _recase(text: str) -> str:
    """A heading in capitals («МКУ «УПРАВЛЕНИЕ ОБРАЗОВАНИЯ»») as a name is written."""
    if any(ch.islower() for ch in text):
        return text
    words = []
    capital_next = True
    for word in text.split():
        bare = word.strip('«»"()')
        lead = word[: len(word) - len(word.lstrip('«"('))]
        if bare in _ABBREVIATIONS:
            words.append(word)
            capital_next = False
            continue
        lower = word.lower()
        if capital_next or lead:
            index = len(lead)
            lower = lower[:index] + lower[index : index + 1].upper() + lower[index + 1 :]
        words.append(lower)
        capital_next = False
    return " ".join(words)


def _id_of(number: str) -> str:
    latin = dict(zip("абвгдеклмнопрстуфх", "abvgdeklmnoprstufh", strict=True))
    folded = "".join(latin.get(ch, ch) for ch in number.casefold())
    return "order_" + re.sub(r"[^a-z0-9]+", "_", folded).strip("_")


class _Header(_Frozen):
    number: str | None = None
    date: dt.date | None = None
    title: str | None = None
    issuer: str | None = None
    recased: bool = False


def _read_header(lines: Sequence[str]) -> _Header:
    kind_at = next((i for i, line in enumerate(lines) if _KIND.fullmatch(line)), None)
    title_at: int | None = None
    for index in range(0 if kind_at is None else kind_at + 1, len(lines)):
        if _TITLE.match(lines[index]):
            title_at = index
            break
    title: str | None = None
    if title_at is not None:
        joined = []
        for line in lines[title_at:]:
            if not line:
                break
            joined.append(line)
        title = " ".join(joined).rstrip(".")
    number: str | None = None
    date: dt.date | None = None
    end = title_at if title_at is not None else len(lines)
    short = [line for line in lines[:end] if line and len(line) <= 80]
    # «от 16.10.2023 № 47» on one line is the order's own; a «№» of an address is not.
    both = [line for line in short if _NUMBER.search(line) and _DATE_ONLY.search(line)]
    for line in both + short:
        if number is None and (found := _NUMBER.search(line)):
            number = found.group("number")
        if date is None and (when := _DATE_ONLY.search(line)):
            date = _date_of(when)
    issuer_lines: list[str] = []
    for line in lines[:end]:
        if issuer_lines and (not line or re.search(r"\d|@|тел", line, re.IGNORECASE)):
            break
        if issuer_lines or (line and _ISSUER_START.search(line) and not re.search(r"\d", line)):
            if _KIND.fullmatch(line):
                break
            issuer_lines.append(line)
    written = " ".join(issuer_lines)
    issuer = _recase(written) if issuer_lines else None
    return _Header(number=number, date=date, title=title, issuer=issuer, recased=issuer != written)


# --- the items --------------------------------------------------------------------------------

_TOP = re.compile(r"^(?P<id>\d{1,2})\s*[.)]\s*(?!\d)(?P<text>\S.*)$")
_SUB = re.compile(r"^(?:[-–—•*·]\s*)?(?P<id>\d{1,2}(?:\.\d{1,2})+)\.?\)?\s*(?P<text>[^\d\s].*)$")
_LETTER = re.compile(r"^(?:[-–—•*·]\s*)?(?P<id>[а-яё])\)\s*(?P<text>\S.*)$")
_BULLET = re.compile(r"^[-–—•*·]\s+(?P<text>\S.*)$")
_ID_CELL = re.compile(r"^(?P<id>\d{1,2}(?:\.\d{1,2})*)\s*[.)]?$|^(?P<letter>[а-яё])\)$")


class _Child(BaseModel):
    id: str
    numbered_as: str = ""
    text: str
    deadline: tuple[dt.datetime, str] | None = None
    # Set by a table row that names its own addressee.
    addressee: str = ""
    audience: Audience | Literal["department"] | None = None
    own_audience: bool = False


class _Item(BaseModel):
    """An item being read: a numbered item of the order and what is under it."""

    id: str
    addressee: str
    audience: Audience | Literal["department"] | None
    deadline: tuple[dt.datetime, str] | None = None
    text: str = ""
    children: list[_Child] = []
    # Whether the next plain line continues the item's own text.
    open: bool = True


def _is_table_header(cells: tuple[str, ...]) -> bool:
    joined = " ".join(cells).casefold()
    return not any(_ID_CELL.match(c) for c in cells) and any(
        word in joined for word in ("№", "п/п", "срок", "мероприяти", "наименование", "ответствен")
    )


def draft_order(
    blocks: Sequence[Block], *, timezone: str = DEFAULT_TIMEZONE
) -> tuple[OrderDraft, list[str]]:
    """Read an order: the draft, and every thing in it that could not be read out."""
    problems: list[str] = []
    notes: list[str] = []
    cleaned: list[Block] = [
        _clean(b) if isinstance(b, str) else tuple(_clean(c) for c in b) for b in blocks
    ]
    lines = [b if isinstance(b, str) else "" for b in cleaned]
    orders_at = next((i for i, line in enumerate(lines) if _ORDERS.match(line)), None)
    if orders_at is None:
        first_item = next(
            (i for i, b in enumerate(cleaned) if isinstance(b, str) and _TOP.match(b)), None
        )
        problems.append(texts.DRAFT_NO_ORDERS_WORD)
        header_end = body_start = len(cleaned) if first_item is None else first_item
    else:
        header_end, body_start = orders_at, orders_at + 1
    header = _read_header(lines[:header_end])
    items = _read_items(cleaned[body_start:], problems)

    steps: list[DraftStep] = []
    left_out: list[LeftOut] = []
    renumbered: list[str] = []
    for item in items:
        entries = item.children or (
            [_Child(id=item.id, text=item.text, deadline=item.deadline)] if item.text else []
        )
        if not entries and item.audience in ("heads", "staff"):
            problems.append(texts.DRAFT_EMPTY_ITEM.format(id=item.id, text=item.addressee))
            continue
        if not entries:
            # «4. Контроль за исполнением … оставляю за …»: not an item anyone confirms.
            left_out.append(LeftOut(id=item.id, addressee="", text=item.addressee))
            continue
        for child in entries:
            audience = child.audience if child.own_audience else item.audience
            addressee = child.addressee if child.own_audience else item.addressee
            if audience not in ("heads", "staff"):
                left_out.append(LeftOut(id=child.id, addressee=addressee, text=child.text))
                continue
            step = _step(child, audience, addressee, child.deadline or item.deadline, problems)
            if step is not None:
                steps.append(step)
                if step.numbered_as:
                    renumbered.append(f"{step.id} ({step.numbered_as})")
    seen: set[str] = set()
    for step in list(steps):
        if step.id in seen:
            problems.append(texts.DRAFT_REPEATED_ID.format(id=step.id))
            steps.remove(step)
        seen.add(step.id)
    for entry in left_out:
        notes.append(
            texts.DRAFT_LEFT_OUT.format(
                id=entry.id, addressee=entry.addressee or texts.DRAFT_NO_ADDRESSEE
            )
        )
    if renumbered:
        notes.append(texts.DRAFT_RENUMBERED.format(ids=", ".join(renumbered)))

    deadline, words = _campaign_deadline(steps, cleaned, problems, notes)
    spelled = [s.id for s in steps if s.title != spell_products(s.title)]
    steps = [
        s.model_copy(update={"title": spell_products(s.title)}) if s.id in spelled else s
        for s in steps
    ]
    title = header.title
    if title is not None and title != spell_products(title):
        spelled.insert(0, texts.DRAFT_THE_TITLE)
        title = spell_products(title)
    if header.recased:
        notes.append(texts.DRAFT_RECASED)
    if spelled:
        notes.append(texts.DRAFT_SPELLED.format(where=", ".join(spelled)))
    for what, value in (
        (texts.DRAFT_WHAT_NUMBER, header.number),
        (texts.DRAFT_WHAT_DATE, header.date),
        (texts.DRAFT_WHAT_TITLE, header.title),
        (texts.DRAFT_WHAT_ISSUER, header.issuer),
    ):
        if value is None:
            problems.append(texts.DRAFT_NOT_FOUND.format(what=what))
    if not steps:
        problems.append(texts.DRAFT_NO_STEPS)
    draft = OrderDraft(
        id=_id_of(header.number) if header.number else None,
        number=header.number,
        date=header.date,
        title=title,
        issuer=header.issuer,
        deadline=deadline,
        deadline_words=words,
        timezone=timezone,
        steps=tuple(steps),
        left_out=tuple(left_out),
        notes=tuple(notes),
    )
    return draft, problems


def _read_items(blocks: Sequence[Block], problems: list[str]) -> list[_Item]:
    items: list[_Item] = []
    current: _Item | None = None
    last: _Item | _Child | None = None  # what a plain line right after continues
    for block in blocks:
        if isinstance(block, tuple):
            last = None
            cells = tuple(c for c in block if c)
            if not cells:
                continue
            if len(cells) > 1:
                if not _is_table_header(cells):
                    _read_row(cells, current, items, problems)
                continue
            block = cells[0]
        line = block
        if not line:
            last = None
            continue
        if top := _TOP.match(line):
            addressee, rest = _split_addressee(top.group("text"))
            current = _Item(
                id=top.group("id"),
                addressee=addressee,
                audience=_audience(addressee),
                deadline=deadline_in(top.group("text")),
                text=rest,
            )
            items.append(current)
            last = current
            continue
        below = current.children[-1] if current is not None and current.children else None
        if (
            below is not None
            and not below.numbered_as
            and not _SUB.match(line)
            and (_LETTER.match(line) or _BULLET.match(line))
        ):
            # «а)» under «3.2»: a part of item 3.2's words, not an item of its own.
            below.text = f"{below.text} {line}"
            last = below
            continue
        child = _child_of(line, current, problems)
        if child is not None:
            if current is not None:
                current.children.append(child)
            last = child
            continue
        if last is not None and not _looks_like_end(line):
            last.text = f"{last.text} {line}".strip()
            if last.deadline is None:
                last.deadline = deadline_in(last.text)
    return items


def _looks_like_end(line: str) -> bool:
    return bool(re.match(r"^(?:Начальник|Руководитель|Директор|Исполнитель|И\.\s*о\.)", line))


def _child_of(line: str, current: _Item | None, problems: list[str]) -> _Child | None:
    """An item under the current numbered item: «3.1», «3.1.», «3.1)», «а)» or a bullet."""
    sub = _SUB.match(line)
    if sub is not None:
        step_id = sub.group("id")
        if current is None or step_id.split(".")[0] != current.id:
            problems.append(texts.DRAFT_UNPLACED.format(line=_shorten(line)))
            return None
        text = sub.group("text")
        return _Child(id=step_id, text=text, deadline=deadline_in(text))
    letter = _LETTER.match(line)
    found = letter or _BULLET.match(line)
    if found is None:
        return None
    if current is None:
        if letter is not None:
            problems.append(texts.DRAFT_UNPLACED.format(line=_shorten(line)))
        return None
    text = found.group("text")
    return _Child(
        # Ids are what heads type: «а)» of item 3 becomes 3.1, and the file says so.
        id=f"{current.id}.{len(current.children) + 1}",
        numbered_as=f"{letter.group('id')})" if letter is not None else texts.DRAFT_BULLET,
        text=text,
        deadline=deadline_in(text),
    )


def _read_row(
    cells: tuple[str, ...], current: _Item | None, items: list[_Item], problems: list[str]
) -> None:
    id_index = next((i for i, c in enumerate(cells) if _ID_CELL.match(c)), None)
    deadline: tuple[dt.datetime, str] | None = None
    words: list[str] = []
    for index, cell in enumerate(cells):
        if index == id_index:
            continue
        found = deadline_in(cell) or _bare_date(cell)
        if found is not None and len(cell) <= len(found[1]) + 12:
            deadline = found
        else:
            words.append(cell)
    if not words:
        problems.append(texts.DRAFT_UNPLACED.format(line=_shorten(" | ".join(cells))))
        return
    # The item's words are the longest cell; a short one beside it may say who does it.
    text = max(words, key=len)
    addressee = ""
    audience: Audience | Literal["department"] | None = None
    for cell in words:
        who = _audience(cell) if cell is not text else None
        if who is not None and len(cell) <= 120:
            addressee, audience = cell, who
            break
    if deadline is None:
        deadline = deadline_in(text)
    numbered_as = ""
    if id_index is None:
        problems.append(texts.DRAFT_UNPLACED.format(line=_shorten(" | ".join(cells))))
        return
    raw = cells[id_index]
    number = re.sub(r"\s*[.)]$", "", raw)
    if raw[0].isdigit():
        step_id = number
        if "." not in step_id and current is not None and not addressee:
            numbered_as, step_id = raw, f"{current.id}.{step_id}"
    else:
        if current is None:
            problems.append(texts.DRAFT_UNPLACED.format(line=_shorten(" | ".join(cells))))
            return
        numbered_as = raw
        step_id = f"{current.id}.{len(current.children) + 1}"
    if current is None and not addressee:
        problems.append(texts.DRAFT_UNPLACED.format(line=_shorten(" | ".join(cells))))
        return
    child = _Child(
        id=step_id,
        numbered_as=numbered_as,
        text=text,
        deadline=deadline,
        addressee=addressee,
        audience=audience,
        own_audience=bool(addressee),
    )
    if current is None:
        current = _Item(id=step_id.split(".")[0], addressee="", audience=None)
        items.append(current)
    current.children.append(child)


def _bare_date(cell: str) -> tuple[dt.datetime, str] | None:
    match = _DATE_ONLY.fullmatch(cell.strip(" .;"))
    if match is None:
        return None
    day = _date_of(match)
    return None if day is None else (dt.datetime.combine(day, END_OF_DAY), cell)


def _shorten(line: str, limit: int = 100) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _step(
    child: _Child,
    audience: Audience,
    addressee: str,
    deadline: tuple[dt.datetime, str] | None,
    problems: list[str],
) -> DraftStep | None:
    # The item's closing «;» or «.», but not the one of «2023 г.».
    title = re.sub(r"(?<!\sг)\.$", "", child.text.strip().rstrip(";,")).strip()
    if not title:
        problems.append(texts.DRAFT_EMPTY_ITEM.format(id=child.id, text=addressee))
        return None
    if len(title) > 1000:
        problems.append(texts.DRAFT_TOO_LONG.format(id=child.id))
        return None
    parts, percent = counted_parts(title)
    if percent and not parts:
        problems.append(texts.DRAFT_PERCENT_OF_WHAT.format(id=child.id))
    short = propose_short_title(spell_products(title))
    if short is None:
        problems.append(texts.DRAFT_NO_SHORT_TITLE.format(id=child.id))
        short = texts.DRAFT_SHORT_TITLE_FALLBACK.format(id=child.id)
    return DraftStep(
        id=child.id,
        title=title,
        short_title=short,
        kind=StepKind.COUNT if parts else StepKind.CONFIRM,
        parts=parts,
        audience=audience,
        deadline=deadline[0] if deadline else None,
        deadline_words=deadline[1] if deadline else "",
        numbered_as=child.numbered_as,
        addressee=addressee,
    )


def _campaign_deadline(
    steps: Sequence[DraftStep], blocks: Sequence[Block], problems: list[str], notes: list[str]
) -> tuple[dt.datetime | None, str]:
    dated = [(s.deadline, s.deadline_words) for s in steps if s.deadline is not None]
    if dated:
        latest, words = max(dated)
        if len({moment for moment, _ in dated}) > 1:
            notes.append(texts.DRAFT_DEADLINES_DIFFER.format(deadline=latest))
        undated = [s.id for s in steps if s.deadline is None]
        if undated:
            notes.append(texts.DRAFT_UNDATED.format(ids=", ".join(undated)))
        return latest, words
    # No item names a date: a deadline written elsewhere («Срок исполнения: …») is the order's.
    found: tuple[dt.datetime, str] | None = None
    for block in blocks:
        for text in [block] if isinstance(block, str) else block:
            candidate = deadline_in(text)
            if candidate is not None and (found is None or candidate[0] > found[0]):
                found = candidate
    if found is None:
        problems.append(texts.DRAFT_NOT_FOUND.format(what=texts.DRAFT_WHAT_DEADLINE))
        return None, ""
    notes.append(texts.DRAFT_DEADLINE_ELSEWHERE.format(words=found[1]))
    return found[0], found[1]


# --- writing the campaign file ----------------------------------------------------------------


def _toml(value: str) -> str:
    # A JSON string is a TOML basic string: the same escapes.
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str) -> str:
    # A TOML comment cannot hold control characters.
    return "# " + " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split())


def write_draft(draft: OrderDraft, *, source: str) -> str:
    """The campaign file's text: `bot/campaign.py` loads it as it is, once every field was
    found; what was not found is a comment saying so, and the loader names it too."""
    out: list[str] = [_comment(texts.DRAFT_TOML_HEAD.format(source=source))]
    out += [_comment(line) for line in texts.DRAFT_TOML_REVIEW]
    out += ["", "[campaign]"]
    fields: list[tuple[str, str | None, str]] = [
        ("id", _toml(draft.id) if draft.id else None, texts.DRAFT_WHAT_NUMBER),
        ("title", _toml(draft.title) if draft.title else None, texts.DRAFT_WHAT_TITLE),
        ("number", _toml(draft.number) if draft.number else None, texts.DRAFT_WHAT_NUMBER),
        ("date", draft.date.isoformat() if draft.date else None, texts.DRAFT_WHAT_DATE),
        ("issuer", _toml(draft.issuer) if draft.issuer else None, texts.DRAFT_WHAT_ISSUER),
    ]
    for key, value, what in fields:
        if value is None:
            out.append(_comment(texts.DRAFT_TOML_MISSING.format(key=key, what=what)))
        else:
            out.append(f"{key} = {value}")
    if draft.deadline is None:
        out.append(_comment(texts.DRAFT_TOML_MISSING.format(key="deadline", what="срок")))
    else:
        if draft.deadlines_differ:
            out.append(_comment(texts.DRAFT_TOML_LATEST))
        elif draft.deadline_words:
            out.append(
                _comment(
                    texts.DRAFT_TOML_DEADLINE_WORDS.format(words=quoted(draft.deadline_words))
                )
            )
        out.append(f"deadline = {draft.deadline.isoformat(timespec='seconds')}")
    out.append(f"timezone = {_toml(draft.timezone)}")
    addressee: str | None = None
    for step in draft.steps:
        out.append("")
        if step.addressee != addressee:
            addressee = step.addressee
            out.append(
                _comment(
                    texts.DRAFT_TOML_ADDRESSEE.format(
                        addressee=step.addressee, audience=texts.DRAFT_AUDIENCE[step.audience]
                    )
                )
            )
        if draft.deadlines_differ and step.deadline is not None:
            out.append(_comment(texts.DRAFT_TOML_STEP_DEADLINE.format(deadline=step.deadline)))
        if step.numbered_as:
            out.append(_comment(texts.DRAFT_TOML_NUMBERED_AS.format(numbered_as=step.numbered_as)))
        out += [
            "[[steps]]",
            f"id = {_toml(step.id)}",
            f"title = {_toml(step.title)}",
            _comment(texts.DRAFT_TOML_SHORT_TITLE),
            f"short_title = {_toml(step.short_title)}",
            f"kind = {_toml(step.kind.value)}",
        ]
        if step.audience != "heads":
            out.append(f"audience = {_toml(step.audience)}")
        for part in step.parts:
            out += [
                "",
                "  [[steps.parts]]",
                f"  key = {_toml(part.key)}",
                f"  title = {_toml(part.title)}",
                "  aliases = [" + ", ".join(_toml(a) for a in part.aliases) + "]",
            ]
    if draft.left_out:
        out += ["", _comment(texts.DRAFT_TOML_LEFT_OUT)]
        for entry in draft.left_out:
            who = entry.addressee or texts.DRAFT_NO_ADDRESSEE
            out.append(_comment(f"{entry.id} ({who}): {entry.text}"))
    return "\n".join(out) + "\n"
