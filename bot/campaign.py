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

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from bot.config import (
    DEFAULT_TIMEZONE,
    ConfigError,
    check_timezone,
    default_campaign_path,
    explain_errors,
    read_toml,
    show_value,
)
from bot.domain import Campaign, Step, StepKind
from bot.russian import typeset

__all__ = [
    "CampaignError",
    "default_campaign_path",
    "describe_campaign",
    "load_campaign",
    "parse_campaign",
]

DATE_FORM = "a date like 2023-10-16"
DEADLINE_FORM = (
    "a local date and time like 2023-10-20T23:59:00 (with timezone = ...) "
    "or one with an offset like 2023-10-20T23:59:00+03:00"
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
        raise ValueError(f"{value.isoformat()} has a time; expected {DATE_FORM}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for form in ("%Y-%m-%d", "%d.%m.%Y"):
            try:
                return dt.datetime.strptime(text, form).date()  # noqa: DTZ007 - a date only
            except ValueError:
                continue
    raise ValueError(f"{show_value(value)} is not a date; expected {DATE_FORM}")


def _datetime(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        raise ValueError(f"{value.isoformat()} has no time of day; expected {DEADLINE_FORM}")
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"{text!r} has no time of day; expected {DEADLINE_FORM}")
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        try:
            return dt.datetime.strptime(text, "%d.%m.%Y %H:%M")  # noqa: DTZ007 - zoned below
        except ValueError:
            pass
    raise ValueError(f"{show_value(value)} is not a date and time; expected {DEADLINE_FORM}")


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

    def zoned_deadline(self) -> dt.datetime:
        """The deadline as an aware datetime in the campaign's zone."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        if self.deadline.tzinfo is not None:
            return self.deadline.astimezone(zone)
        aware = self.deadline.replace(tzinfo=zone)
        if aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != self.deadline:
            raise ValueError(
                f"campaign.deadline: {self.deadline.isoformat()} does not exist in "
                f"{self.timezone} (the clocks skip it); expected {DEADLINE_FORM}"
            )
        return aware


class _CampaignFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign: _Header
    # Emptiness is checked apart: a length limit here would also fire when a step is invalid.
    steps: tuple[Step, ...]


_FORMS: dict[str, str] = {
    "campaign": "a table [campaign] with id, title, number, date, issuer, deadline and timezone",
    "campaign.id": 'a lowercase latin id, e.g. "order_47" (letters a-z, digits, "_", "-")',
    "campaign.title": "the order's title, 1 to 500 characters",
    "campaign.number": 'the order\'s number, e.g. "47"',
    "campaign.date": DATE_FORM,
    "campaign.issuer": "who issued the order, a string",
    "campaign.deadline": DEADLINE_FORM,
    "campaign.timezone": 'an IANA time zone name, e.g. "Europe/Moscow"',
    "steps": "one or more [[steps]] tables",
    "steps[]": "a [[steps]] table with id, title, short_title and kind",
    "steps[].id": 'a short id in quotes, e.g. "3.1" (letters, digits, ".", "_", "-")',
    "steps[].title": "the step's text as the order words it, 1 to 1000 characters",
    "steps[].short_title": (
        "a short title for buttons and cards, at most 60 characters, naming the item, not a state"
    ),
    "steps[].kind": '"confirm" or "count"',
    "steps[].parts": "[[steps.parts]] tables with key, title and aliases (count steps only)",
    "steps[].verified_by": '"chat_membership" (the bot checks the people are in a heads chat)',
    "steps[].parts[]": "a [[steps.parts]] table with key, title and aliases",
    "steps[].parts[].key": 'a lowercase latin key, e.g. "teachers"',
    "steps[].parts[].title": 'a short name, e.g. "педагоги", at most 60 characters',
    "steps[].parts[].aliases": 'a list of other names, e.g. ["учителя", "педагогов"]',
    "steps[].parts[].aliases[]": "a non-empty string",
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


def _short_title_problem(where: str, short_title: str) -> str | None:
    found = _STATE_WORDS.search(short_title)
    if found is None:
        return None
    return (
        f"{where}.short_title: {short_title!r} says a state ({found.group(0)!r}), which the card "
        'shows beside it; expected what the item is, e.g. "Педагоги и дети в Сферуме"'
    )


def _cross_checks(file: _CampaignFile) -> list[str]:
    """What one field cannot see alone: repeated step ids, part names shared by two parts,
    short titles that say a state."""
    problems: list[str] = []
    if not file.steps:
        problems.append(f"steps: empty; expected {_FORMS['steps']}")
    first_index: dict[str, int] = {}
    for index, step in enumerate(file.steps):
        where = f"steps[{index}] ({step.id})"
        clash = _short_title_problem(where, step.short_title)
        if clash is not None:
            problems.append(clash)
        if step.id in first_index:
            problems.append(
                f"{where}: the id {step.id!r} repeats steps[{first_index[step.id]}]; "
                "expected every step id to differ"
            )
        first_index.setdefault(step.id, index)
        owner: dict[str, str] = {}
        for part_index, part in enumerate(step.parts):
            for alias_index, alias in enumerate(part.aliases):
                if not alias.strip():
                    problems.append(
                        f"{where}.parts[{part_index}].aliases[{alias_index}]: empty; "
                        "expected a non-empty name"
                    )
            for name in dict.fromkeys(n.strip() for n in part.names()):
                if name in owner and owner[name] != part.key:
                    problems.append(
                        f"{where}.parts[{part_index}]: the name {name!r} is also a name of "
                        f"part {owner[name]!r}; expected each name to point at one part"
                    )
                owner.setdefault(name, part.key)
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
                f"campaign.deadline: {deadline.date().isoformat()} is before the order's date "
                f"{file.campaign.date.isoformat()}; expected a deadline after the order"
            )
        if not problems and deadline is not None:
            header = file.campaign.model_dump(exclude={"deadline"})
            try:
                campaign = Campaign(**header, deadline=deadline, steps=file.steps)
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
    data = read_toml(path, what="campaign file", error=CampaignError)
    return parse_campaign(data, source=path)


def describe_campaign(campaign: Campaign) -> list[str]:
    """A few lines saying what the campaign is, for `confirmbot check-config`."""
    deadline = campaign.deadline
    lines = [
        f"campaign: {campaign.id}: order No. {campaign.number} of "
        f"{campaign.date:%d.%m.%Y} «{campaign.title}»",
    ]
    if campaign.issuer:
        lines.append(f"issuer: {campaign.issuer}")
    lines.append(f"deadline: {deadline:%Y-%m-%d %H:%M} {campaign.timezone} (UTC{deadline:%z})")
    for step in campaign.steps:
        kind = step.kind.value
        if step.kind is StepKind.COUNT:
            kind += ": " + ", ".join(part.key for part in step.parts)
        lines.append(f"step {step.id} [{kind}]: {step.short_title}")
    return lines
