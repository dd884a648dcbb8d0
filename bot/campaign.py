"""Campaign files: an order, its deadline and its steps, in TOML.

A new order is a new file, not new code. The file has a `[campaign]` table and `[[steps]]`; a
count step lists its `[[steps.parts]]`. See `bot/campaigns/order_47.toml` for the full form.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from bot import texts
from bot.config import (
    DEFAULT_TIMEZONE,
    ConfigError,
    check_timezone,
    default_campaign_path,
    explain_errors,
    read_toml,
    show_value,
)
from bot.domain import AnswerWords, Campaign, FoldedWords, Step, StepKind, StepState
from bot.russian import quoted, typeset

__all__ = [
    "CampaignError",
    "default_campaign_path",
    "describe_campaign",
    "load_campaign",
    "parse_campaign",
    "state_word_in",
]

DATE_FORM = "дата вида 2023-10-16"
DEADLINE_FORM = (
    "местные дата и время вида 2023-10-20T23:59:00 (и timezone = ...) "
    "или со смещением, например 2023-10-20T23:59:00+03:00"
)


class CampaignError(ConfigError):
    """The campaign file is not usable; `problems` names each key or step and the expected form."""


def _number(value: object) -> object:
    # `number = 47` is as natural to write as `number = "47"`.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _date(value: object) -> object:
    if isinstance(value, dt.datetime):
        raise ValueError(f"{value.isoformat()} — со временем суток; ожидается {DATE_FORM}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for form in ("%Y-%m-%d", "%d.%m.%Y"):
            try:
                return dt.datetime.strptime(text, form).date()  # noqa: DTZ007 - a date only
            except ValueError:
                continue
    raise ValueError(f"{show_value(value)} — не дата; ожидается {DATE_FORM}")


def _datetime(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        raise ValueError(f"{value.isoformat()} — без времени суток; ожидается {DEADLINE_FORM}")
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"{text!r} — без времени суток; ожидается {DEADLINE_FORM}")
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        try:
            return dt.datetime.strptime(text, "%d.%m.%Y %H:%M")  # noqa: DTZ007 - zoned below
        except ValueError:
            pass
    raise ValueError(f"{show_value(value)} — не дата и время; ожидается {DEADLINE_FORM}")


class _Header(BaseModel):
    """The `[campaign]` table; field constraints are the domain's own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Campaign.model_fields["id"]]
    title: Annotated[str, Campaign.model_fields["title"]]
    number: Annotated[str, Campaign.model_fields["number"], BeforeValidator(_number)]
    date: Annotated[dt.date, BeforeValidator(_date)]
    issuer: Annotated[str, Campaign.model_fields["issuer"]]
    deadline: Annotated[dt.datetime, BeforeValidator(_datetime)]
    timezone: Annotated[str, AfterValidator(check_timezone)] = DEFAULT_TIMEZONE
    # Person ids (VK ids) of the staff who confirm the "staff" steps; none: every admin.
    staff: tuple[Annotated[int, Field(gt=0)], ...] = ()

    def zoned_deadline(self) -> dt.datetime:
        """The deadline as an aware datetime in the campaign's zone."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        if self.deadline.tzinfo is not None:
            return self.deadline.astimezone(zone)
        aware = self.deadline.replace(tzinfo=zone)
        if aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != self.deadline:
            raise ValueError(
                f"campaign.deadline: {self.deadline.isoformat()} не бывает в поясе "
                f"{self.timezone} (часы переводят через это время); ожидается {DEADLINE_FORM}"
            )
        return aware


class _Words(BaseModel):
    """The `[words]` table: words heads use, added to the defaults (`bot.domain.AnswerWords`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    done: FoldedWords = ()
    in_progress: FoldedWords = ()
    problem: FoldedWords = ()
    negations: FoldedWords = ()
    questions: FoldedWords = ()

    def with_defaults(self) -> AnswerWords:
        defaults = AnswerWords()
        return AnswerWords(
            **{
                name: (*getattr(defaults, name), *getattr(self, name))
                for name in ("done", "in_progress", "problem", "negations", "questions")
            }
        )


class _CampaignFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign: _Header
    # Emptiness is checked apart: a length limit here would also fire when a step is invalid.
    steps: tuple[Step, ...]
    words: _Words = _Words()


_FORMS: dict[str, str] = {
    "campaign": "таблица [campaign] с id, title, number, date, issuer, deadline и timezone",
    "campaign.id": 'латинский id строчными, например "order_47" (буквы a-z, цифры, "_", "-")',
    "campaign.title": "название приказа, от 1 до 500 символов",
    "campaign.number": 'номер приказа, например "47"',
    "campaign.date": DATE_FORM,
    "campaign.issuer": "кто издал приказ, строка",
    "campaign.deadline": DEADLINE_FORM,
    "campaign.timezone": 'имя часового пояса IANA, например "Europe/Moscow"',
    "campaign.staff": (
        'список id ВКонтакте сотрудников, которые отмечают пункты audience = "staff", '
        "например [123, 456]; без него — все admins конфигурации"
    ),
    "campaign.staff[]": "id ВКонтакте, целое число больше нуля",
    "steps": "одна или несколько таблиц [[steps]]",
    "steps[]": "таблица [[steps]] с id, title, short_title и kind",
    "steps[].id": 'короткий id в кавычках, например "3.1" (буквы, цифры, ".", "_", "-")',
    "steps[].title": "текст пункта словами приказа, от 1 до 1000 символов",
    "steps[].short_title": (
        "короткое название для кнопок и карточек, не больше 60 символов; называет пункт, "
        "а не состояние"
    ),
    "steps[].kind": '"confirm" или "count"',
    "steps[].parts": "таблицы [[steps.parts]] с key, title и aliases (только у пунктов count)",
    "steps[].verified_by": '"chat_membership" (бот сам проверяет, что люди есть в беседе)',
    "steps[].audience": (
        '"heads" (руководители школ, по умолчанию) или "staff" (сотрудники Управления, '
        "каждый за себя)"
    ),
    "steps[].parts[]": "таблица [[steps.parts]] с key, title и aliases",
    "steps[].parts[].key": 'латинский ключ строчными, например "teachers"',
    "steps[].parts[].title": 'короткое название, например "педагоги", не больше 60 символов',
    "steps[].parts[].aliases": 'список других названий, например ["учителя", "педагогов"]',
    "steps[].parts[].aliases[]": "непустая строка",
    "words": "таблица [words] со списками done, in_progress, problem, negations, questions",
    "words.done": 'список слов, например ["подключили", "перешли*"]',
    "words.in_progress": 'список слов, например ["подключаем*"]',
    "words.problem": 'список слов, например ["нет интернета"]',
    "words.negations": 'список слов, например ["не"]',
    "words.questions": 'список слов, например ["зачем"]',
    "words.done[]": "слово или фраза, от 1 до 60 символов; «*» в конце — любое окончание",
    "words.in_progress[]": "слово или фраза, от 1 до 60 символов; «*» в конце — любое окончание",
    "words.problem[]": "слово или фраза, от 1 до 60 символов; «*» в конце — любое окончание",
    "words.negations[]": "слово, от 1 до 60 символов",
    "words.questions[]": "слово, от 1 до 60 символов",
}


def _step_labels(data: dict[str, Any]) -> dict[tuple[int | str, ...], str]:
    labels: dict[tuple[int | str, ...], str] = {}
    steps = data.get("steps")
    if isinstance(steps, list):
        for index, step in enumerate(steps):
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                labels[("steps", index)] = f"steps[{index}] ({step['id']})"
    return labels


# A card reads «3.4 <short_title> — в работе»: a short title that says a state itself («… в
# работе», «Компьютеры готовы») contradicts the state beside it. bot/TEXTS.md.
_STATE_WORDS = re.compile(
    r"(?<!\w)(выполнен[оаы]?|в работе|в процессе|проблем[аы]|нет ответа|готов[оаы]?|"
    r"сделан[оаы]?|не выполнен[оаы]?)(?!\w)",
    re.IGNORECASE,
)


def state_word_in(text: str) -> str | None:
    """The state word a short title would say itself («готово», «в работе»), if any."""
    found = _STATE_WORDS.search(text)
    return None if found is None else found.group(0)


def _short_title_problem(where: str, short_title: str) -> str | None:
    found = _STATE_WORDS.search(short_title)
    if found is None:
        return None
    return (
        f"{where}.short_title: {short_title!r} называет состояние ({found.group(0)!r}), "
        "а карточка показывает состояние рядом; ожидается, что это за пункт, например "
        '"Педагоги и дети в Сферуме"'
    )


def _cross_checks(file: _CampaignFile) -> list[str]:
    """What one field cannot see alone: repeated step ids, part names shared by two parts,
    short titles that say a state."""
    problems: list[str] = []
    if not file.steps:
        problems.append(f"steps: пусто; ожидается {_FORMS['steps']}")
    first_index: dict[str, int] = {}
    for index, step in enumerate(file.steps):
        where = f"steps[{index}] ({step.id})"
        clash = _short_title_problem(where, step.short_title)
        if clash is not None:
            problems.append(clash)
        if step.id in first_index:
            problems.append(
                f"{where}: id {step.id!r} повторяет steps[{first_index[step.id]}]; "
                "у каждого пункта должен быть свой id"
            )
        first_index.setdefault(step.id, index)
        owner: dict[str, str] = {}
        for part_index, part in enumerate(step.parts):
            for alias_index, alias in enumerate(part.aliases):
                if not alias.strip():
                    problems.append(
                        f"{where}.parts[{part_index}].aliases[{alias_index}]: пусто; "
                        "ожидается непустое название"
                    )
            for name in dict.fromkeys(n.strip() for n in part.names()):
                if name in owner and owner[name] != part.key:
                    problems.append(
                        f"{where}.parts[{part_index}]: название {name!r} есть и у части "
                        f"{owner[name]!r}; каждое название должно указывать на одну часть"
                    )
                owner.setdefault(name, part.key)
    words = file.words.with_defaults()
    said: dict[str, StepState] = {}
    for state, entries in words.states().items():
        for word in entries:
            if said.get(word, state) is not state:
                problems.append(
                    f"words.{state.value}: слово {word!r} уже означает «{said[word].value}»; "
                    "каждое слово должно означать одно состояние"
                )
            said.setdefault(word, state)
    return problems


def parse_campaign(data: dict[str, Any], *, source: Path | None = None) -> Campaign:
    """Validate a campaign already read from TOML; raise CampaignError naming every problem."""
    problems: list[str] = []
    campaign: Campaign | None = None
    try:
        file = _CampaignFile.model_validate(data)
    except ValidationError as exc:
        problems = explain_errors(exc, model=_CampaignFile, forms=_FORMS, label=_step_labels(data))
    else:
        problems = _cross_checks(file)
        deadline: dt.datetime | None = None
        try:
            deadline = file.campaign.zoned_deadline()
        except ValueError as exc:
            problems.append(str(exc))
        if deadline is not None and deadline.date() < file.campaign.date:
            problems.append(
                f"campaign.deadline: {deadline.date().isoformat()} раньше даты приказа "
                f"{file.campaign.date.isoformat()}; срок должен быть не раньше приказа"
            )
        if not problems and deadline is not None:
            header = file.campaign.model_dump(exclude={"deadline"})
            try:
                campaign = Campaign(
                    **header,
                    deadline=deadline,
                    steps=file.steps,
                    words=file.words.with_defaults(),
                )
            except ValidationError as exc:
                problems = explain_errors(exc, model=Campaign, forms={}, prefix=("campaign",))
    if campaign is None:
        raise CampaignError(problems, source=source)
    return _typeset(campaign)


def _typeset(campaign: Campaign) -> Campaign:
    """The order's words as the bot shows them: «100%» gets its no-break space (bot/TEXTS.md)."""
    steps = tuple(
        step.model_copy(
            update={"title": typeset(step.title), "short_title": typeset(step.short_title)}
        )
        for step in campaign.steps
    )
    return campaign.model_copy(
        update={
            "title": typeset(campaign.title),
            "issuer": typeset(campaign.issuer),
            "steps": steps,
        }
    )


def load_campaign(path: Path) -> Campaign:
    """Read and validate a campaign file; raise CampaignError naming every problem."""
    path = Path(path)
    data = read_toml(path, what="файл кампании", error=CampaignError)
    return parse_campaign(data, source=path)


def describe_campaign(campaign: Campaign) -> list[str]:
    """A few lines saying what the campaign is, for `confirmbot check-config` (Russian)."""
    lines = [
        texts.CLI_DESCRIBE_CAMPAIGN.format(
            id=campaign.id,
            number=campaign.number,
            date=campaign.date,
            title=quoted(campaign.title),
        )
    ]
    if campaign.issuer:
        lines.append(texts.CLI_DESCRIBE_ISSUER.format(issuer=campaign.issuer))
    lines.append(
        texts.CLI_DESCRIBE_DEADLINE.format(deadline=campaign.deadline, timezone=campaign.timezone)
    )
    for step in campaign.steps:
        kind = step.kind.value
        if step.kind is StepKind.COUNT:
            kind += ": " + ", ".join(part.key for part in step.parts)
        if step.audience == "staff":
            kind += texts.CLI_DESCRIBE_STAFF_STEP
        lines.append(texts.CLI_DESCRIBE_STEP.format(id=step.id, kind=kind, title=step.short_title))
    return lines
