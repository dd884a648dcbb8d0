"""Turn what people type into commands and answers. Pure functions, no I/O.

In chats VK shows a community bot only messages that mention it or start with `/`, so every
command works with a leading slash and with the bot's mention (`[club123|@bot] статус`).

Answers are read as heads type them on a phone, from the campaign's data alone: its step ids
(`3.1`, `3,1`, `п. 3.1`, `пункт 3.1`, `3.1выполнено`), the words of each state with their
negations and the question words (`Campaign.words`), and the names of a count step's parts. A
message is cut into groups of steps (`3.1, 3.3 и 3.4`, `3.1-3.5`), each with the words that
say its state (after it, or before it when the message puts the state first); a negation
turns «выполнено» into "not done", which is never stored as done.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field, replace
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain import AnswerWords, Campaign, Count, Step, StepKind, StepState

MAX_INPUT_LENGTH = 2000
MAX_REASON_LENGTH = 500
# A message gets at most this many replies about steps not understood or asked about.
MAX_STEPS_SAID = 5

_MENTION = re.compile(r"^\s*\[(?:club|public)\d+\|[^\]]*\]\s*[,:]?\s*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
# What a phone's keyboard or a copy from a document slips in: invisible characters (zero-width
# space, joiners, word joiner, byte order mark, soft hyphen, direction marks), and the
# full-width forms of ASCII (`３．１`, `４５／５０`), read as the ASCII they look like.
_TYPED: dict[int, int | None] = dict.fromkeys(
    (0x00AD, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF)
)
_TYPED |= {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_TYPED[0x3000] = 0x20  # ideographic space


class AdminCommand(StrEnum):
    STATUS = "status"
    PENDING = "pending"
    REPORT = "report"
    REMIND = "remind"
    HELP = "help"
    ANNOUNCE = "announce"
    PAUSE = "pause"
    RESUME = "resume"
    SCHEDULE = "schedule"
    BIND = "bind"
    REGISTRATIONS = "registrations"
    UNBIND = "unbind"
    MARK = "mark"  # an answer on a school's behalf (issue 17)
    NOT_REQUIRED = "not_required"  # «не требуется 009 3.2 причина»
    REQUIRED = "required"  # «требуется 009 3.2»: «не требуется» undone
    EXTEND = "extend"  # «продлить 009 25.10», «продлить 009 3.2 25.10», «продлить 009 отменить»
    SCHOOL = "school"  # «школа 009»: its people and how far each got with registering
    ORDERS = "orders"  # «приказы»: the open orders with their progress (issue 14)
    LOGIN = "login"  # «войти»: a one-time link to the department's web page (issue 18)
    LOGOUT = "logout"  # «выйти»: end every session of the page


_ADMIN_WORDS: dict[str, AdminCommand] = {
    "статус": AdminCommand.STATUS,
    "status": AdminCommand.STATUS,
    "должники": AdminCommand.PENDING,
    "pending": AdminCommand.PENDING,
    "отчет": AdminCommand.REPORT,
    "отчёт": AdminCommand.REPORT,
    "report": AdminCommand.REPORT,
    "напомнить": AdminCommand.REMIND,
    "remind": AdminCommand.REMIND,
    "помощь": AdminCommand.HELP,
    "help": AdminCommand.HELP,
    "start": AdminCommand.HELP,
    "начать": AdminCommand.HELP,
    "объявить": AdminCommand.ANNOUNCE,
    "announce": AdminCommand.ANNOUNCE,
    "пауза": AdminCommand.PAUSE,
    "pause": AdminCommand.PAUSE,
    "продолжить": AdminCommand.RESUME,
    "resume": AdminCommand.RESUME,
    "расписание": AdminCommand.SCHEDULE,
    "schedule": AdminCommand.SCHEDULE,
    "привязать": AdminCommand.BIND,
    "bind": AdminCommand.BIND,
    "регистрации": AdminCommand.REGISTRATIONS,
    "registrations": AdminCommand.REGISTRATIONS,
    "отвязать": AdminCommand.UNBIND,
    "unbind": AdminCommand.UNBIND,
    "отметить": AdminCommand.MARK,
    "mark": AdminCommand.MARK,
    "требуется": AdminCommand.REQUIRED,
    "required": AdminCommand.REQUIRED,
    "продлить": AdminCommand.EXTEND,
    "extend": AdminCommand.EXTEND,
    "школа": AdminCommand.SCHOOL,
    "school": AdminCommand.SCHOOL,
    "приказы": AdminCommand.ORDERS,
    "orders": AdminCommand.ORDERS,
    "войти": AdminCommand.LOGIN,
    "login": AdminCommand.LOGIN,
    "выйти": AdminCommand.LOGOUT,
    "logout": AdminCommand.LOGOUT,
}
# «продлить 009 отменить»: the school's extension (or one step's) is taken back.
CANCEL_WORDS = frozenset({"отменить", "отмена", "отменить продление", "cancel"})
_DAY = re.compile(
    r"^(?P<day>\d{1,2})[./](?P<month>\d{1,2})(?:[./](?P<year>\d{4}|\d{2}))?"
    r"(?:\s+(?:в\s+)?(?P<hour>\d{1,2})[:.](?P<minute>\d{2}))?$"
)


def parse_new_deadline(text: str, campaign: Campaign) -> dt.datetime | None:
    """«25.10», «25.10.2023», «25.10.23 18:00» in the campaign's time zone; None if it is not
    a date. Without a year, the deadline's year (the next one if the day would fall before the
    order's date); without a time, the time of day of the order's deadline."""
    found = _DAY.match(" ".join(text.split()))
    if found is None:
        return None
    zone = ZoneInfo(campaign.timezone)
    local_deadline = campaign.deadline.astimezone(zone)
    year_text = found["year"]
    year = local_deadline.year if year_text is None else int(year_text)
    if year_text is not None and len(year_text) == 2:
        year += 2000
    hour = local_deadline.hour if found["hour"] is None else int(found["hour"])
    minute = local_deadline.minute if found["minute"] is None else int(found["minute"])
    try:
        day = dt.date(year, int(found["month"]), int(found["day"]))
        if year_text is None and day < campaign.date:
            day = day.replace(year=year + 1)
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)
    except ValueError:
        return None


# Staff operations that read like ordinary words: from anyone else they are not commands
# («Требуется помощь по 3.2» is a head's message).
# Words a head may well begin an ordinary message with («Школа выполнила…», «Требуется
# помощь…»): a command only from staff.
STAFF_ONLY = frozenset(
    {
        AdminCommand.REQUIRED,
        AdminCommand.NOT_REQUIRED,
        AdminCommand.SCHOOL,
        AdminCommand.ORDERS,
        AdminCommand.LOGIN,
        AdminCommand.LOGOUT,
    }
)
_NOT = ("не", "not")


def clean(text: str) -> str:
    """Drop invisible characters, the bot's mention and a leading slash; full-width ASCII as
    ASCII; squeeze spaces."""
    text = _MENTION.sub("", text[:MAX_INPUT_LENGTH].translate(_TYPED))
    text = text.strip()
    if text.startswith("/"):
        text = text[1:]
    return _SPACES.sub(" ", text).strip()


_LINE_BREAKS = re.compile(r"\s*\n\s*")
_BLANKS = re.compile(r"[^\S\n]+")


def _clean_lines(text: str) -> str:
    """As `clean`, but a line break stays one: it ends what a line says about its step."""
    text = _MENTION.sub("", text[:MAX_INPUT_LENGTH]).strip()
    if text.startswith("/"):
        text = text[1:]
    return _BLANKS.sub(" ", _LINE_BREAKS.sub("\n", text)).strip()


@dataclass(frozen=True)
class ParsedAdminCommand:
    command: AdminCommand
    argument: str = ""


_NOTE = re.compile(r"[\s.,;]*\b(?:примечание|комментарий|note)\s*:\s*", re.IGNORECASE)


def split_note(text: str) -> tuple[str, str]:
    """«3.1 выполнено, примечание: со слов директора» → the answer and the staff's note."""
    found = _NOTE.search(text)
    if found is None:
        return text, ""
    return text[: found.start()], text[found.end() :].strip()


def step_token(token: str) -> str:
    """A step as staff type it in a command: «3.2», «3,2», «п.3.2» → «3.2»."""
    folded = token.strip().casefold().replace(",", ".")
    for prefix in ("пункт", "п."):
        folded = folded.removeprefix(prefix)
    return folded.strip(" .")


def parse_admin_command(text: str) -> ParsedAdminCommand | None:
    cleaned = clean(text)
    if not cleaned:
        return None
    word, _, rest = cleaned.partition(" ")
    if word.casefold() in _NOT:
        second, _, after = rest.partition(" ")
        if _ADMIN_WORDS.get(second.casefold()) is AdminCommand.REQUIRED:
            return ParsedAdminCommand(AdminCommand.NOT_REQUIRED, after.strip())
    command = _ADMIN_WORDS.get(word.casefold())
    if command is None:
        return None
    return ParsedAdminCommand(command, rest.strip())


class AnswerError(StrEnum):
    """Why a typed answer could not be taken; each has its Russian explanation in texts."""

    UNKNOWN_STEP = "unknown_step"
    NO_STATE = "no_state"
    COUNT_FORMAT = "count_format"
    COUNT_OVER_TOTAL = "count_over_total"
    COUNT_NEGATIVE = "count_negative"
    COUNT_MISSING_PART = "count_missing_part"
    COUNT_TOO_LARGE = "count_too_large"
    REASON_TOO_LONG = "reason_too_long"
    # «не выполнено», «ещё не сделали», «нет»: not done, and not saying what instead.
    NOT_DONE = "not_done"


@dataclass(frozen=True)
class ParsedAnswer:
    step_id: str
    state: StepState
    counts: dict[str, Count] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class AnswerProblem:
    error: AnswerError
    step_id: str = ""
    detail: str = ""
    # What the person wrote about the step, folded («выполнено»), for an example in the reply.
    said: str = ""


@dataclass(frozen=True)
class Reading:
    """What one message says: answers to store, steps not understood, questions.

    `answers` and `problems` are in the order the message names the steps; a step the message
    asks about (`что нужно сделать по 3.2?`) is in `questions` and nothing is stored for it.
    """

    answers: tuple[ParsedAnswer, ...] = ()
    problems: tuple[AnswerProblem, ...] = ()
    questions: tuple[str, ...] = ()
    # No step named: the state the words say («Выполнено»), whether it asks or negates.
    state_alone: StepState | None = None
    said: str = ""  # the words that say it («готово»), folded
    asks: bool = False

    @property
    def names_steps(self) -> bool:
        return bool(self.answers or self.problems or self.questions)

    @property
    def names_known_steps(self) -> bool:
        """It names a step the campaign has (not only steps it does not have): which of
        several open orders a message is for."""
        return bool(
            self.answers
            or self.questions
            or any(p.error is not AnswerError.UNKNOWN_STEP for p in self.problems)
        )

    @property
    def needs_school(self) -> bool:
        """Something to store or to ask numbers for: it belongs to one school."""
        return bool(self.answers) or any(
            p.error in (AnswerError.COUNT_FORMAT, AnswerError.NOT_DONE) for p in self.problems
        )


_MAX_COUNT = 10_000_000

# Characters that carry nothing a head meant: zero-width spaces and joiners, direction marks,
# the soft hyphen, the byte-order mark, emoji variation selectors.
_INVISIBLE = frozenset(
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufe0e\ufe0f\ufeff"
)


def fold(text: str) -> tuple[str, str]:
    """`(shown, folded)` of the same length: NFKC per character (full-width `３．１` -> `3.1`)
    with invisible characters dropped; `folded` is lower case with «ё» as «е». A character
    whose NFKC or lower case is longer (`№` -> `No`) stays as it is, so that a position in
    `folded` is the same position in `shown`."""
    if text.isascii():
        return text, text.lower()
    if unicodedata.is_normalized("NFKC", text) and _INVISIBLE.isdisjoint(text):
        lower = text.lower()
        if len(lower) == len(text):
            return text, lower.replace("ё", "е")
    shown: list[str] = []
    folded: list[str] = []
    for char in text:
        if char in _INVISIBLE:
            continue
        if not char.isascii():
            normal = unicodedata.normalize("NFKC", char)
            if len(normal) == 1:
                char = normal
        lower = char.lower()
        if len(lower) != 1:
            lower = char
        shown.append(char)
        folded.append("е" if lower == "ё" else lower)
    return "".join(shown), "".join(folded)


# --- the campaign's vocabulary, compiled once per campaign -------------------------------------

# A token: a number, a run of letters, or one of the symbols a state may be written with.
_TOKEN = re.compile(r"\d+|[^\W\d_]+|[✅✔☑⏳⚠?]")
# A step-like number that is not the campaign's: `3.9`, `4,1`.
_ANY_REF = re.compile(r"(?<!\d)(?<!\d\.)\d{1,3}[.,]\d{1,3}(?!\d)(?!\.\d)")
# Words that introduce a step: «п.», «пп.», «пункт», «по пункту», «шаг», «№».
_REF_WORDS = re.compile(r"^(?:п|пп|пункт\w*|шаг\w*|по)$")
# What may stand between two steps of one group: «3.1, 3.3 и 3.4», «3.1 и п. 3.3».
_JOINERS = frozenset({"и", "а", "также", "так", "же", "and"})
# The end of a sentence or a line between two steps; «п.» ends nothing.
_BREAK = re.compile(r"[\n;!?]|\.(?:\s|$)")
_ABBREVIATED = re.compile(r"(?<![^\W\d_])пп?\.")
_RANGE = re.compile(r"^\s*(?:-|–|—|по|до)\s*$")
# «3.4 тоже»: the state of the group before.
_SAME = frozenset({"тоже", "также", "аналогично", "то", "же", "самое"})
# Between a negation and its word: «ещё не сделали», «пока не готово», «не совсем выполнено».
_FILLERS = frozenset(
    {"еще", "пока", "совсем", "мы", "у", "нас", "это", "было", "был", "была", "были", "все", "вс"}
)
# A count: «45/50», «45 из 50», «45 педагогов из 50».
_COUNT = re.compile(r"(-?\d+)\s*(?:([^\W\d_]+)\s+)?(?:/|\\|из|of)\s*(-?\d+)", re.IGNORECASE)
# Words that name a state rather than say anything about it.
_STATE_LABELS = frozenset({"проблема", "problem", "⚠"})
_PUNCT_EDGES = " \t\n:;,.!-—–()«»\"'"


@dataclass(frozen=True)
class _Entry:
    """One word or phrase of a state: its tokens, each exact or a prefix (`выполн*`)."""

    state: StepState
    tokens: tuple[tuple[str, bool], ...]  # (text, is_prefix)
    weight: int  # longer phrases and longer prefixes win

    def match(self, tokens: list[str], at: int) -> bool:
        if at + len(self.tokens) > len(tokens):
            return False
        for (text, prefix), token in zip(self.tokens, tokens[at:], strict=False):
            if not (token.startswith(text) if prefix else token == text):
                return False
        return True


def _entry(state: StepState, word: str) -> _Entry:
    parts = []
    for piece in word.split():
        prefix = piece.endswith("*")
        parts.append((piece.rstrip("*"), prefix))
    weight = 1000 * len(parts) + sum(len(t) + (0 if p else 1) for t, p in parts)
    return _Entry(state, tuple(parts), weight)


@dataclass(frozen=True)
class _Mention:
    state: StepState
    start: int  # token index
    end: int  # token index after it
    negated: bool
    single: bool  # one word («проблема»), not a phrase («не можем»)
    negation_at: int | None = None  # the token that negates it, if apart


class _Vocabulary:
    """A campaign's words, indexed for matching, and its step references as one regex."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        words: AnswerWords = campaign.words
        entries = [_entry(state, w) for state, ws in words.states().items() for w in ws]
        self.by_first: dict[str, list[_Entry]] = {}
        for entry in sorted(entries, key=lambda e: -e.weight):
            first = entry.tokens[0][0]
            self.by_first.setdefault(first[:1], []).append(entry)
        # One typo is forgiven only against whole long words («выпонено» for «выполнено»):
        # against a stem it would take «используем» for «исполн*».
        self.fuzzy = [
            e
            for e in entries
            if len(e.tokens) == 1 and not e.tokens[0][1] and len(e.tokens[0][0]) >= 6
        ]
        # What a word not in the vocabulary turned out to be, typo or nothing: words repeat.
        self.typos: dict[str, tuple[_Entry, bool] | None] = {}
        self.negations = frozenset(words.negations)
        self.questions = frozenset(words.questions)
        self.done_stems = [e for e in entries if e.state is StepState.DONE and len(e.tokens) == 1]
        self.order = {step.id.casefold(): index for index, step in enumerate(campaign.steps)}
        self.ids = {step.id.casefold(): step.id for step in campaign.steps}
        alternatives = []
        for step in sorted(campaign.steps, key=lambda s: -len(s.id)):
            key = step.id.casefold()
            pattern = re.escape(key).replace(r"\.", "[.,]")
            if key.isdigit():
                # A bare number is a step only where a step is named: «пункт 3», «3 выполнено».
                alternatives.append(rf"(?<![\w.,/])(?:{pattern})(?![\w/]|[.,]\d)")
                continue
            before = r"(?<!\d)(?<!\d\.)" if key[0].isdigit() else r"(?<!\w)"
            after = r"(?!\d)(?!\.\d)" if key[-1].isdigit() else r"(?!\w)"
            alternatives.append(f"{before}(?:{pattern}){after}")
        self.refs = re.compile("|".join(alternatives))

    def mentions(self, tokens: list[str]) -> list[_Mention]:
        """The state words in `tokens`, longest first at each place, with their negations."""
        found: list[_Mention] = []
        at = 0
        while at < len(tokens):
            hit = self._match(tokens, at)
            if hit is None:
                at += 1
                continue
            entry, negated_inside = hit
            size = len(entry.tokens)
            found.append(_Mention(entry.state, at, at + size, negated_inside, size == 1))
            at += size
        taken = {i for m in found for i in range(m.start, m.end)}
        return [self._negate(m, tokens, taken) for m in found]

    def _match(self, tokens: list[str], at: int) -> tuple[_Entry, bool] | None:
        token = tokens[at]
        for entry in self.by_first.get(token[:1], ()):
            if entry.match(tokens, at):
                return entry, False
        # «невыполнено», «несделали»: a negation grown onto a word.
        if token.startswith("не") and len(token) > 4:
            rest = [token[2:]]
            for entry in self.done_stems:
                if entry.match(rest, 0):
                    return entry, True
        if len(token) >= 5 and not token.startswith("не"):
            return self._fuzzy(token)
        return None

    def _fuzzy(self, token: str) -> tuple[_Entry, bool] | None:
        """One typo in a whole word: «выпонено», «сдклано». Ambiguous typos match nothing."""
        if token in self.typos:
            return self.typos[token]
        states: set[StepState] = set()
        best: _Entry | None = None
        for entry in self.fuzzy:
            word = entry.tokens[0][0]
            # A typo seldom hits both of the first two letters.
            if (word[0] == token[0] or word[1] == token[1]) and _one_edit(token, word):
                states.add(entry.state)
                best = entry
        found = None if best is None or len(states) != 1 else (best, False)
        if len(self.typos) > 10_000:
            self.typos.clear()
        self.typos[token] = found
        return found

    def _negate(self, mention: _Mention, tokens: list[str], taken: set[int]) -> _Mention:
        if mention.negated:
            return mention
        # Back: «не выполнено», «ещё не сделали», «нет, не готово», «без проблем».
        index = mention.start - 1
        while index >= 0 and mention.start - index <= 3 and index not in taken:
            token = tokens[index]
            if token in self.negations:
                return replace(mention, negated=True, negation_at=index)
            if token not in _FILLERS:
                break
            index -= 1
        # Forward, only at the clause's end: «проблем нет».
        rest = range(mention.end, len(tokens))
        words = [i for i in rest if tokens[i] != "?"]
        if 0 < len(words) <= 2 and not any(i in taken for i in rest):
            negations = [i for i in words if tokens[i] in self.negations]
            quiet = all(tokens[i] in self.negations or tokens[i] in _FILLERS for i in words)
            if negations and quiet:
                return replace(mention, negated=True, negation_at=negations[0])
        return mention


def _one_edit(a: str, b: str) -> bool:
    """Exactly one insertion, deletion, substitution or swap of neighbours apart."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


_VOCABULARIES: dict[int, _Vocabulary] = {}


def _vocabulary(campaign: Campaign) -> _Vocabulary:
    found = _VOCABULARIES.get(id(campaign))
    if found is not None and found.campaign is campaign:
        return found
    if len(_VOCABULARIES) > 32:
        _VOCABULARIES.clear()
    made = _VOCABULARIES[id(campaign)] = _Vocabulary(campaign)
    return made


# --- reading a message -------------------------------------------------------------------------


@dataclass
class _Group:
    """Steps named together («3.1, 3.3 и 3.4»), where they stand in the text."""

    step_ids: list[str]
    start: int
    end: int
    unknown: str = ""  # a step-like number that is not one of the campaign's


@dataclass
class _Clause:
    """The words that say a group's state: their tokens and where they stand."""

    start: int
    end: int
    tokens: list[str]
    mentions: list[_Mention]
    counts: bool
    negation: bool
    asks: bool

    @property
    def says_something(self) -> bool:
        return bool(self.mentions or self.counts or self.negation)


def _tokens(folded: str, start: int, end: int) -> list[str]:
    return _TOKEN.findall(folded, start, end)


def _clause(vocabulary: _Vocabulary, folded: str, start: int, end: int) -> _Clause:
    tokens = _tokens(folded, start, end)
    mentions = vocabulary.mentions(tokens)
    taken = {i for m in mentions for i in range(m.start, m.end)}
    taken |= {m.negation_at for m in mentions if m.negation_at is not None}
    negation = any(t in vocabulary.negations for i, t in enumerate(tokens) if i not in taken)
    return _Clause(
        start,
        end,
        tokens,
        mentions,
        bool(_COUNT.search(folded, start, end)),
        negation,
        "?" in tokens,
    )


def _find_groups(vocabulary: _Vocabulary, folded: str) -> list[_Group]:
    refs: list[tuple[int, int, str, str]] = []  # start, end, step id or "", text
    for match in vocabulary.refs.finditer(folded):
        key = match.group(0).replace(",", ".")
        step_id = vocabulary.ids.get(key)
        if step_id is None:
            continue
        if step_id.isdigit() and not _named_here(folded, match.start()):
            continue
        refs.append((match.start(), match.end(), step_id, match.group(0)))
    taken = [(s, e) for s, e, _, _ in refs]
    for match in _ANY_REF.finditer(folded):
        if any(s <= match.start() < e or s < match.end() <= e for s, e in taken):
            continue
        if _named_here(folded, match.start()) or _state_follows(vocabulary, folded, match.end()):
            refs.append((match.start(), match.end(), "", match.group(0)))
    refs.sort()
    groups: list[_Group] = []
    for start, end, step_id, text in refs:
        if groups:
            last = groups[-1]
            between = folded[last.end : start]
            if step_id and last.step_ids and not last.unknown and _RANGE.match(between):
                first = vocabulary.order[last.step_ids[-1].casefold()]
                final = vocabulary.order[step_id.casefold()]
                if first < final:
                    steps = vocabulary.campaign.steps[first + 1 : final + 1]
                    last.step_ids += [s.id for s in steps]
                    last.end = end
                    continue
            if _joins(between) and not last.unknown and step_id:
                last.step_ids.append(step_id)
                last.end = end
                continue
        if step_id:
            groups.append(_Group([step_id], start, end))
        else:
            groups.append(_Group([], start, end, unknown=text.replace(",", ".")))
    return groups


def _named_here(folded: str, start: int) -> bool:
    """Is the number at `start` named as a step: at the message's start, or after «пункт»?"""
    before = _tokens(folded, 0, start)
    return not before or bool(_REF_WORDS.match(before[-1]))


def _state_follows(vocabulary: _Vocabulary, folded: str, end: int) -> bool:
    after = _tokens(folded, end, min(len(folded), end + 40))[:3]
    return bool(after) and bool(vocabulary.mentions(after)) and not after[0].isdigit()


def _joins(between: str) -> bool:
    """Do two steps with this between them form one group («3.1, 3.3 и п. 3.4»)? A line or a
    sentence between them does not («Не выполнено 3.1.\n3.3 выполнено»)."""
    if _BREAK.search(_ABBREVIATED.sub("", between)):
        return False
    tokens = _TOKEN.findall(between)
    if any(t.isdigit() or t == "?" for t in tokens):
        return False
    return all(t in _JOINERS or _REF_WORDS.match(t) for t in tokens)


def read(text: str, campaign: Campaign) -> Reading:
    """Everything a message says about the campaign's steps."""
    shown, folded = fold(_clean_lines(text))
    vocabulary = _vocabulary(campaign)
    groups = _find_groups(vocabulary, folded)
    if not groups:
        return _without_steps(vocabulary, folded)
    preamble = _clause(vocabulary, folded, 0, groups[0].start)
    asks = preamble.asks or any(t in vocabulary.questions for t in preamble.tokens)
    afters = [
        _clause(
            vocabulary,
            folded,
            group.end,
            groups[i + 1].start if i + 1 < len(groups) else len(folded),
        )
        for i, group in enumerate(groups)
    ]
    asks = asks or any(clause.asks for clause in afters)
    # «Выполнено: 3.1, 3.3. В работе: 3.4»: the states come before their steps.
    state_first = preamble.says_something and not afters[-1].says_something
    answers: list[ParsedAnswer] = []
    problems: list[AnswerProblem] = []
    questions: list[str] = []
    previous: _Clause | None = None
    for index, group in enumerate(groups):
        from_before = False
        if state_first:
            clause = preamble if index == 0 else afters[index - 1]
            from_before = True
        else:
            clause = afters[index]
            if not clause.says_something and index == 0 and preamble.says_something:
                clause, from_before = preamble, True
            elif (
                not clause.says_something
                and previous is not None
                and any(t in _SAME for t in clause.tokens)
            ):
                clause = previous
        if group.unknown:
            problems.append(AnswerProblem(AnswerError.UNKNOWN_STEP, step_id=group.unknown[:16]))
            continue
        question = clause.asks or (asks and (from_before or not clause.says_something))
        for step_id in group.step_ids:
            step = campaign.step(step_id)
            if step is None:  # the regex holds only the campaign's steps
                continue
            if question:
                questions.append(step.id)
                continue
            result = _answer(vocabulary, step, clause, shown, folded)
            if isinstance(result, ParsedAnswer):
                answers.append(result)
            else:
                problems.append(result)
        previous = clause
    answered = {answer.step_id for answer in answers}
    # One word per step: what it says last if it is an answer, else the first problem.
    first: dict[str, AnswerProblem] = {}
    for problem in problems:
        if problem.step_id not in answered:
            first.setdefault(problem.step_id, problem)
    return Reading(
        answers=tuple(_last_per_step(answers)),
        problems=tuple(first.values())[:MAX_STEPS_SAID],
        questions=tuple(dict.fromkeys(questions))[:MAX_STEPS_SAID],
        asks=asks,
    )


def _last_per_step(answers: list[ParsedAnswer]) -> list[ParsedAnswer]:
    """A step named twice keeps what the message said last about it."""
    last = {answer.step_id: answer for answer in answers}
    return [answer for answer in answers if last[answer.step_id] is answer]


def _without_steps(vocabulary: _Vocabulary, folded: str) -> Reading:
    clause = _clause(vocabulary, folded, 0, len(folded))
    asks = clause.asks or bool(clause.tokens and clause.tokens[0] in vocabulary.questions)
    state = _state_of(clause)
    if not isinstance(state, StepState):
        return Reading(asks=asks)
    return Reading(state_alone=state, said=_said(clause), asks=asks)


def _state_of(clause: _Clause) -> StepState | AnswerError | None:
    """What the clause says: a state, NOT_DONE, or None for nothing."""
    plain = [m for m in clause.mentions if not m.negated]
    if any(m.state is StepState.PROBLEM for m in plain):
        return StepState.PROBLEM
    if any(m.state is StepState.IN_PROGRESS for m in plain):
        return StepState.IN_PROGRESS
    if any(m.negated and m.state is not StepState.PROBLEM for m in clause.mentions):
        return AnswerError.NOT_DONE
    if any(m.state is StepState.DONE for m in plain):
        return StepState.DONE
    if clause.negation:
        return AnswerError.NOT_DONE
    return None


def _said(clause: _Clause) -> str:
    """The state words as written (folded), for an example in a reply."""
    words = [t for m in clause.mentions for t in clause.tokens[m.start : m.end]]
    return " ".join(words)[:40]


def _answer(
    vocabulary: _Vocabulary, step: Step, clause: _Clause, shown: str, folded: str
) -> ParsedAnswer | AnswerProblem:
    state = _state_of(clause)
    said = _said(clause)
    if state is StepState.PROBLEM:
        reason = _reason(clause, shown, folded)
        if len(reason) > MAX_REASON_LENGTH:
            return AnswerProblem(AnswerError.REASON_TOO_LONG, step.id, said=said)
        return ParsedAnswer(step.id, StepState.PROBLEM, reason=reason)
    if step.kind is StepKind.COUNT:
        if clause.counts:
            parsed = parse_counts(folded[clause.start : clause.end], step)
            if (
                isinstance(parsed, ParsedAnswer)
                and parsed.state is StepState.DONE
                and state is AnswerError.NOT_DONE
            ):
                return AnswerProblem(AnswerError.NOT_DONE, step.id, said=said)
            return parsed
        # «3.2 выполнено» says nothing about the numbers the order asks for.
        return AnswerProblem(AnswerError.COUNT_FORMAT, step.id, said=said)
    if state is AnswerError.NOT_DONE:
        return AnswerProblem(AnswerError.NOT_DONE, step.id, said=said)
    if state is None:
        return AnswerProblem(AnswerError.NO_STATE, step.id, said=" ".join(clause.tokens)[:40])
    assert isinstance(state, StepState)  # noqa: S101 - the branches above leave only a state
    return ParsedAnswer(step.id, state)


def _reason(clause: _Clause, shown: str, folded: str) -> str:
    """The problem's words: the clause without a lone «проблема» at its start or end."""
    start, end = clause.start, clause.end
    first = next(m for m in clause.mentions if m.state is StepState.PROBLEM and not m.negated)
    # «проблема» only names the state; «трудности с …», «не можем …» are the reason itself.
    if first.single and clause.tokens[first.start] in _STATE_LABELS:
        spans = [m.span() for m in _TOKEN.finditer(folded, start, end)]
        at_edge = first.start == 0 or first.end == len(clause.tokens)
        if at_edge and first.start < len(spans):
            word_start, word_end = spans[first.start][0], spans[first.end - 1][1]
            if first.start == 0:
                start = word_end
            else:
                end = word_start
    # «Проблема по 3.4»: the words that name the step are not the reason.
    spans = [m.span() for m in _TOKEN.finditer(folded, start, end)]
    while spans and _is_step_word(folded[spans[-1][0] : spans[-1][1]]):
        end = spans.pop()[0]
    while spans and _is_step_word(folded[spans[0][0] : spans[0][1]]):
        start = spans.pop(0)[1]
    return shown[start:end].strip(_PUNCT_EDGES)


def _is_step_word(token: str) -> bool:
    return bool(_REF_WORDS.match(token)) or token in _JOINERS


def looks_like_answer(text: str, campaign: Campaign) -> bool:
    """Does the text start with a step (`3.1 ...`, `п. 3.1 ...`, `3,1 ...`)?"""
    _, folded = fold(clean(text))
    groups = _find_groups(_vocabulary(campaign), folded)
    return bool(groups) and all(_REF_WORDS.match(t) for t in _tokens(folded, 0, groups[0].start))


def drop_leading_step(text: str, campaign: Campaign) -> str:
    """The text without the step it starts with: «3.4: нет интернета» -> «нет интернета»."""
    shown, folded = fold(clean(text))
    groups = _find_groups(_vocabulary(campaign), folded)
    if not groups:
        return shown
    before = _tokens(folded, 0, groups[0].start)
    if any(not _REF_WORDS.match(token) for token in before):
        return shown
    return shown[groups[0].end :].strip(_PUNCT_EDGES)


def parse_answer(text: str, campaign: Campaign) -> ParsedAnswer | AnswerProblem:
    """The first thing a message says about a step (`3.1 выполнено`, `3.4 проблема нет
    интернета`, `3.2 педагоги 45/50 ученики 1/2`): an answer, or why it is not one."""
    reading = read(text, campaign)
    if reading.answers:
        return reading.answers[0]
    if reading.problems:
        return reading.problems[0]
    cleaned = clean(text)
    return AnswerProblem(AnswerError.UNKNOWN_STEP, step_id=cleaned.split(" ", 1)[0][:16])


def parse_counts(text: str, step: Step) -> ParsedAnswer | AnswerProblem:
    """Numbers for a count step: by part name before or after them (`педагоги 45/50`, `45 из
    50 педагогов`, `подключено 45 педагогов из 50`) or in the parts' order (`45/50 380/412`)."""
    _, folded = fold(text)
    matches = list(_COUNT.finditer(folded))
    if not matches:
        return AnswerProblem(AnswerError.COUNT_FORMAT, step.id)
    before: list[str | None] = []
    after: list[str | None] = []
    inline: list[str | None] = []
    for index, match in enumerate(matches):
        previous_end = matches[index - 1].end() if index else 0
        next_start = matches[index + 1].start() if index + 1 < len(matches) else len(folded)
        before.append(_part_named(folded[previous_end : match.start()], step, last=True))
        after.append(_part_named(folded[match.end() : next_start], step, last=False))
        inline.append(_part_named(match.group(2) or "", step, last=True))
    labels_after = before[0] is None and after[0] is not None
    assigned: dict[str, tuple[int, int]] = {}
    unnamed: list[tuple[int, int]] = []
    for index, match in enumerate(matches):
        numbers = (int(match.group(1)), int(match.group(3)))
        named = inline[index] or (after[index] if labels_after else before[index])
        if named is None or named in assigned:
            unnamed.append(numbers)
        else:
            assigned[named] = numbers
    for part in step.parts:
        if part.key not in assigned and unnamed:
            assigned[part.key] = unnamed.pop(0)
    missing = [p.title for p in step.parts if p.key not in assigned]
    if missing:
        return AnswerProblem(AnswerError.COUNT_MISSING_PART, step.id, ", ".join(missing))
    counts: dict[str, Count] = {}
    for part in step.parts:
        done, total = assigned[part.key]
        if done < 0 or total < 0:
            return AnswerProblem(AnswerError.COUNT_NEGATIVE, step.id, part.title)
        if done > _MAX_COUNT or total > _MAX_COUNT:
            return AnswerProblem(AnswerError.COUNT_TOO_LARGE, step.id, part.title)
        if done > total or total == 0:
            return AnswerProblem(
                AnswerError.COUNT_OVER_TOTAL, step.id, f"{part.title}: {done} из {total}"
            )
        counts[part.key] = Count(done=done, total=total)
    complete = all(count.complete for count in counts.values())
    return ParsedAnswer(step.id, StepState.DONE if complete else StepState.IN_PROGRESS, counts)


def _part_named(label: str, step: Step, *, last: bool) -> str | None:
    """The part a label names (its title, an alias, or a word starting like one)."""
    words = re.findall(r"[^\W\d_]+", label.casefold().replace("ё", "е"))
    if last:
        words.reverse()
    for word in words:
        for part in step.parts:
            names = part.names()
            if word in names or any(len(word) >= 4 and word.startswith(n[:5]) for n in names):
                return part.key
    return None
