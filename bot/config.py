"""The bot's configuration: one TOML file, validated once at start into frozen models.

`load_config` is the only place that reads it. Every problem found is reported at once, in plain
Russian words naming the dotted key and the expected form; the VK token never appears in any of
them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from bot import texts
from bot.calendar import CalendarFileError, WorkCalendar, calendar_of, read_days
from bot.durations import (
    DURATION_FORM,
    TIME_FORM,
    format_clock_time,
    format_duration,
    parse_clock_time,
    parse_duration,
)
from bot.max_api import MaxConfig

TOKEN_ENV = "CONFIRMBOT_VK_TOKEN"  # noqa: S105 - the variable's name, not a secret
MAX_TOKEN_ENV = "CONFIRMBOT_MAX_TOKEN"  # noqa: S105 - the variable's name, not a secret
DEFAULT_API_URL = "https://api.vk.ru/method/"
PLACEHOLDER_TOKEN = "vk1.a.REPLACE_ME"  # noqa: S105 - what config.example.toml ships
DEFAULT_TIMEZONE = "Europe/Moscow"
# VK numbers chats as peers 2000000000 + chat id; user ids stay below that.
CHAT_PEER_BASE = 2_000_000_000
PEER_FORM = "2000000000 + номер беседы, например 2000000001"
QUIET_HOURS_FORM = '"ЧЧ:ММ-ЧЧ:ММ", например "21:00-08:00", или "off"'


class ConfigError(Exception):
    """The config (or a file it names) is not usable; `problems` says why, line by line."""

    def __init__(self, problems: Iterable[str], *, source: Path | None = None) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"{self.source}: " if self.source is not None else ""
        if len(self.problems) == 1:
            return head + self.problems[0]
        lines = [f"{head}ошибок: {len(self.problems)}"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._text()


def default_campaign_path() -> Path:
    """The packaged default campaign, order No. 47."""
    resource = resources.files("bot").joinpath("campaigns", "order_47.toml")
    if isinstance(resource, Path):
        return resource
    # Only a zipped install gets here; the file next to this module is the same resource.
    return Path(__file__).resolve().parent / "campaigns" / "order_47.toml"


def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA time zone known here, else raise ValueError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{show_value(name)} — неизвестный часовой пояс; "
            'ожидается имя IANA, например "Europe/Moscow"'
        ) from None
    return name


# --- field types -------------------------------------------------------------------------------


def _user_id(value: int) -> int:
    if value <= 0:
        raise ValueError(
            f"{value} — не id пользователя ВКонтакте; ожидается положительное число, "
            "например 123456"
        )
    if value >= CHAT_PEER_BASE:
        raise ValueError(
            f"{value} — peer id беседы, а не пользователя; ожидается id пользователя "
            "ВКонтакте, например 123456"
        )
    return value


def _chat_peer_id(value: int) -> int:
    if value <= CHAT_PEER_BASE:
        raise ValueError(f"{value} — не peer id беседы; ожидается {PEER_FORM}")
    return value


def _duration(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, dt.timedelta):
        if value <= dt.timedelta(0):
            raise ValueError(
                f"{format_duration(value)} — не положительная длительность; "
                f"ожидается {DURATION_FORM}"
            )
        return value
    raise ValueError(
        f"{show_value(value)} — не длительность; ожидается {DURATION_FORM} в кавычках"
    )


def _clock_time(value: object) -> object:
    if isinstance(value, str):
        return parse_clock_time(value)
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise ValueError(f"ожидается местное время без пояса: {TIME_FORM}")
        return value
    raise ValueError(f"{show_value(value)} — не время суток; ожидается {TIME_FORM}")


def _unique(values: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(values))


UserId = Annotated[int, Strict(), AfterValidator(_user_id)]
ChatPeerId = Annotated[int, Strict(), AfterValidator(_chat_peer_id)]
Duration = Annotated[dt.timedelta, BeforeValidator(_duration)]
ClockTime = Annotated[dt.time, BeforeValidator(_clock_time)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """Expand `~` and make a relative path relative to the config file's directory."""
    if not str(path).strip() or str(path) == ".":
        raise ValueError('ожидается путь к файлу, например "confirmbot.db"')
    try:
        path = path.expanduser()
    except RuntimeError:  # "~someone" of a user this machine does not know
        raise ValueError(f"{str(path)[:60]!r}: нет домашней папки такого пользователя") from None
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if not path.is_absolute() and isinstance(base, Path):
        path = base / path
    return path


# --- sections ----------------------------------------------------------------------------------


class VkConfig(_Frozen):
    # None only where the command never calls VK (`load_config(need_token=False)`).
    token: SecretStr | None = None
    group_id: Annotated[int, Strict(), Field(gt=0)]
    api_url: str = DEFAULT_API_URL
    request_timeout: Annotated[float, Strict(), Field(gt=0, le=600)] | None = None
    # VK: about 20 requests per second for a community token (error 6 above it).
    requests_per_second: Annotated[float, Field(gt=0, le=100)] = 20.0

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError(f"ключ пуст; впишите его сюда или в переменную {TOKEN_ENV}")
        return value

    def secret(self) -> str:
        """The token, for the commands that call VK; `load_config` has made sure of it."""
        if self.token is None:
            raise ConfigError([f"vk.token: не указан; ожидается {_FORMS['vk.token']}"])
        return self.token.get_secret_value()

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value) is None:
            raise ValueError(
                f'{show_value(value)} — не адрес http(s); ожидается, например, "{DEFAULT_API_URL}"'
            )
        return value if value.endswith("/") else value + "/"


class StorageConfig(_Frozen):
    path: Path = Field(default=Path("confirmbot.db"), validate_default=True)

    @field_validator("path")
    @classmethod
    def _relative_to_config(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)


class BotConfig(_Frozen):
    timezone: Annotated[str, AfterValidator(check_timezone)] = DEFAULT_TIMEZONE
    admins: Annotated[tuple[UserId, ...], AfterValidator(_unique)] = ()
    controller: UserId | None = None
    admin_chats: Annotated[tuple[ChatPeerId, ...], AfterValidator(_unique)] = ()
    heads_chats: Annotated[tuple[ChatPeerId, ...], AfterValidator(_unique)] = ()
    # How long a question of the bot (a problem's reason, a step's numbers) waits for the
    # answer; after it the next message is read afresh and staff get the problem without it.
    prompt_expires_after: Duration = dt.timedelta(hours=1)

    @model_validator(mode="after")
    def _chats_apart(self) -> BotConfig:
        # Admin summaries name every lagging school: they must not reach the heads' chat.
        shared = sorted(set(self.admin_chats) & set(self.heads_chats))
        if shared:
            listed = ", ".join(str(peer) for peer in shared)
            raise ValueError(
                f"{listed} есть и в admin_chats, и в heads_chats; беседа либо для сотрудников "
                "Управления, либо для руководителей"
            )
        return self

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class CampaignFileConfig(_Frozen):
    file: Path = Field(default_factory=default_campaign_path)

    @field_validator("file")
    @classmethod
    def _relative_to_config(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)


class QuietHours(_Frozen):
    """Local hours when nobody is reminded; `start` > `end` means the span wraps midnight."""

    start: dt.time
    end: dt.time

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(f"начало и конец совпадают: {format_clock_time(self.start)}")
        return self

    def contains(self, moment: dt.time) -> bool:
        """Whether a local time of day falls in the quiet span (start included, end excluded)."""
        moment = moment.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{format_clock_time(self.start)}-{format_clock_time(self.end)}"


def _quiet_hours(value: object) -> object:
    if value is None or isinstance(value, QuietHours | dict):
        return value
    not_a_span = f"{show_value(value)} — не промежуток времени; ожидается {QUIET_HOURS_FORM}"
    if not isinstance(value, str):
        raise ValueError(not_a_span)
    text = value.strip()
    if text.lower() in {"", "off", "none", "no"}:
        return None
    parts = re.split(r"\s*[-–—]\s*", text)
    if len(parts) != 2:
        raise ValueError(not_a_span)
    try:
        start, end = parse_clock_time(parts[0]), parse_clock_time(parts[1])
    except ValueError:
        raise ValueError(not_a_span) from None
    if start == end:
        raise ValueError(
            f"{show_value(value)}: начало и конец совпадают; ожидается {QUIET_HOURS_FORM}"
        )
    return QuietHours(start=start, end=end)


def _before(values: tuple[dt.timedelta, ...]) -> tuple[dt.timedelta, ...]:
    return tuple(sorted(set(values), reverse=True))


WEEKDAYS = {
    "пн": 0, "вт": 1, "ср": 2, "чт": 3, "пт": 4, "сб": 5, "вс": 6,
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
}  # fmt: skip
WEEKDAY_FORM = 'дни недели, например ["сб", "вс"] (пн вт ср чт пт сб вс или mon … sun)'
DATE_LIST_FORM = 'список дат, например ["2025-03-31", "2025-06-06"]'


def _weekday(value: object) -> int:
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS[value.strip().lower()]
    raise ValueError(f"{show_value(value)} — не день недели; ожидаются {WEEKDAY_FORM}")


class CalendarConfig(_Frozen):
    """Which local days reminders and summaries may fall on. Weekends and the built-in federal
    holidays (bot/calendars/ru.toml) by default; `file` and `days_off` add a region's days."""

    weekends: tuple[Annotated[int, BeforeValidator(_weekday)], ...] = (5, 6)
    federal: bool = True
    file: Path | None = None
    days_off: tuple[dt.date, ...] = ()
    working_days: tuple[dt.date, ...] = ()
    _calendar: WorkCalendar = PrivateAttr()

    @field_validator("file")
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @model_validator(mode="after")
    def _build(self) -> CalendarConfig:
        days_off, working_days = set(self.days_off), set(self.working_days)
        if self.file is not None:
            try:
                text = self.file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ValueError(
                    f"файл календаря {str(self.file)!r} не читается: {error}"
                ) from None
            try:
                more_off, more_working = read_days(text, str(self.file))
            except CalendarFileError as error:
                raise ValueError(str(error)) from None
            days_off |= more_off
            working_days |= more_working
        both = sorted(days_off & working_days)
        if both:
            listed = ", ".join(day.isoformat() for day in both)
            raise ValueError(f"{listed} — и выходной, и рабочий день; оставьте что-то одно")
        self._calendar = calendar_of(
            weekends=self.weekends,
            federal=self.federal,
            days_off=days_off,
            working_days=working_days,
        )
        return self

    @property
    def work_calendar(self) -> WorkCalendar:
        return self._calendar


class RemindersConfig(_Frozen):
    before: Annotated[tuple[Duration, ...], AfterValidator(_before)] = (
        dt.timedelta(days=3),
        dt.timedelta(days=1),
        dt.timedelta(hours=3),
    )
    quiet_hours: Annotated[QuietHours | None, BeforeValidator(_quiet_hours)] = QuietHours(
        start=dt.time(21, 0), end=dt.time(8, 0)
    )
    daily_summary: ClockTime = dt.time(9, 0)
    escalate_every: Duration = dt.timedelta(hours=24)
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)


# How the bot names the department in its messages. Russian needs a case here, and the texts
# are written so that one case serves them all: the genitive («бот Управления образования»,
# «обратитесь к сотрудникам Управления образования», «беседа Управления»).
DEFAULT_DEPARTMENT_NAME = "Управления образования"
DEFAULT_DEPARTMENT_SHORT_NAME = "Управления"
DEPARTMENT_NAME_FORM = 'родительный падеж, как после «бот»: например "Управления образования"'
DEPARTMENT_SHORT_FORM = 'родительный падеж, не больше 30 символов: например "Управления"'
PHONE_FORM = 'номер телефона, например "+7 (87231) 5-12-34" или "8 800 100-00-00"'
# The first word of a name in the nominative ends like this (Управление, Отдел, Комитет,
# Министерство); in the genitive it ends in а, я, ы or и (Управления, Отдела, Комитета).
_NOMINATIVE_ENDINGS = frozenset("бвгджзклмнпрстфхцчшщйьео")


def _one_line(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("пусто; ожидается текст")
    return value


def _genitive(value: str) -> str:
    """Refuse the likeliest slip: the name in the nominative («Управление образования»)."""
    value = _one_line(value)
    first = value.split()[0].strip('«»"')
    word = re.fullmatch(r"[А-ЯЁа-яё]+", first) is not None and not first.isupper()
    if word and first[-1].lower() in _NOMINATIVE_ENDINGS:
        raise ValueError(
            f"{show_value(value)} похоже на именительный падеж («{first}»); бот пишет "
            "«бот …», «сотрудникам …», поэтому нужен родительный падеж, например "
            f'"{DEFAULT_DEPARTMENT_NAME}", а не "Управление образования"'
        )
    return value


def _phone(value: str) -> str:
    value = _one_line(value)
    digits = sum(c.isdigit() for c in value)
    if re.fullmatch(r"\+?[0-9(][0-9 ()\-‒–]*[0-9]", value) is None or not 5 <= digits <= 15:
        raise ValueError(f"{show_value(value)} — не номер телефона; ожидается {PHONE_FORM}")
    return value


class DepartmentConfig(_Frozen):
    """The department as the bot's messages name it; every key optional."""

    name: Annotated[str, Field(max_length=120), AfterValidator(_genitive)] = (
        DEFAULT_DEPARTMENT_NAME
    )
    short_name: Annotated[str, Field(max_length=30), AfterValidator(_genitive)] = (
        DEFAULT_DEPARTMENT_SHORT_NAME
    )
    phone: Annotated[str, Field(max_length=40), AfterValidator(_phone)] | None = None


WEB_LISTEN_FORM = '"адрес:порт", например "127.0.0.1:8080"'
WEB_URL_FORM = 'адрес страницы, как его открывают сотрудники, например "https://bot.example.ru"'


class WebConfig(_Frozen):
    """The department's web page (web/): served by `confirmbot run` when this is configured."""

    # Where the bot listens, behind the reverse proxy that holds the HTTPS address.
    listen: str = "127.0.0.1:8080"
    # The address staff open: login links the bot sends start with it.
    public_url: str
    # How long a session lasts once a link is opened: a working day.
    session: Duration = dt.timedelta(hours=10)
    # How often an open table asks whether new answers came (and then redraws itself).
    refresh: Duration = dt.timedelta(seconds=10)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{show_value(listen)} — не адрес; ожидается {WEB_LISTEN_FORM}")
        return listen

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str) -> str:
        url = url.strip()
        if re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url) is None:
            raise ValueError(f"{show_value(url)} — не адрес http(s); ожидается {WEB_URL_FORM}")
        return url.rstrip("/")

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def secure(self) -> bool:
        """Cookies only over HTTPS when staff reach the page over HTTPS."""
        return self.public_url.startswith("https://")


class Config(_Frozen):
    vk: VkConfig
    # MAX beside VK (bot/max.py); absent: VK only.
    max: MaxConfig | None = None
    storage: StorageConfig = Field(default_factory=StorageConfig)
    bot: BotConfig = Field(default_factory=BotConfig)
    department: DepartmentConfig = Field(default_factory=DepartmentConfig)
    campaign: CampaignFileConfig = Field(default_factory=CampaignFileConfig)
    reminders: RemindersConfig = Field(default_factory=RemindersConfig)
    # The department's web page; absent: not served.
    web: WebConfig | None = None


# --- loading -----------------------------------------------------------------------------------

# The expected form of each key, for error lines; `[]` stands for any list index.
_FORMS: dict[str, str] = {
    "vk": "таблица [vk] с token и group_id",
    "vk.token": f'ключ доступа сообщества, например "vk1.a.…", или переменная {TOKEN_ENV}',
    "vk.group_id": "номер сообщества, положительное целое число, например 123456789",
    "vk.api_url": f'адрес http(s), например "{DEFAULT_API_URL}"',
    "vk.request_timeout": "секунды, положительное число, например 30",
    "vk.requests_per_second": "положительное число не больше 100, например 20",
    "max": "таблица [max] с api_url и чатами; ключ — в переменной " + MAX_TOKEN_ENV,
    "max.token": f"ключ доступа бота MAX, в переменной {MAX_TOKEN_ENV}",
    "max.api_url": 'адрес http(s), например "https://platform-api2.max.ru"',
    "max.admins": "список id пользователей MAX, например [123456]",
    "max.admins[]": "id пользователя MAX, положительное целое число",
    "max.controller": "id пользователя MAX, положительное целое число, например 123456",
    "max.admin_chats": "список id групповых чатов MAX (отрицательные), например [-70000000001]",
    "max.admin_chats[]": "id группового чата MAX, отрицательное целое число",
    "max.heads_chats": "список id групповых чатов MAX (отрицательные), например [-70000000002]",
    "max.heads_chats[]": "id группового чата MAX, отрицательное целое число",
    "max.username": "имя бота в MAX без @, например confirm_bot",
    "max.webhook_url": 'публичный адрес https, например "https://bot.example.ru/max/webhook"',
    "max.webhook_secret": "секрет, 5–256 символов A-Z, a-z, 0-9, _ и -",
    "max.webhook_listen": '"адрес:порт", например "127.0.0.1:8090"',
    "max.webhook_path": 'путь, например "/max/webhook"',
    "max.rate": "запросов в секунду, положительное число не больше 30",
    "max.chat_rate": "сообщений в секунду в один чат, положительное число не больше 2",
    "max.timeout": "секунды, положительное число, например 30",
    "storage": "таблица [storage]",
    "storage.path": 'путь к файлу SQLite, например "confirmbot.db"',
    "bot": "таблица [bot]",
    "bot.timezone": 'имя часового пояса IANA, например "Europe/Moscow"',
    "bot.admins": "список id пользователей ВКонтакте, например [123456, 7890]",
    "bot.admins[]": "id пользователя ВКонтакте, положительное целое число, например 123456",
    "bot.controller": "id пользователя ВКонтакте, положительное целое число, например 123456",
    "bot.admin_chats": "список peer id бесед, например [2000000001]",
    "bot.admin_chats[]": PEER_FORM,
    "bot.heads_chats": "список peer id бесед, например [2000000002]",
    "bot.heads_chats[]": PEER_FORM,
    "bot.prompt_expires_after": 'длительность, например "1h" или "30m"',
    "campaign": "таблица [campaign]",
    "campaign.file": 'путь к файлу кампании TOML, например "campaigns/order_47.toml"',
    "reminders": "таблица [reminders]",
    "reminders.before": 'список длительностей, например ["3d", "1d", "3h"]',
    "reminders.before[]": DURATION_FORM,
    "reminders.quiet_hours": QUIET_HOURS_FORM,
    "reminders.daily_summary": TIME_FORM,
    "reminders.calendar": "таблица [reminders.calendar] с weekends, federal, file, days_off",
    "reminders.calendar.weekends": WEEKDAY_FORM,
    "reminders.calendar.weekends[]": WEEKDAY_FORM,
    "reminders.calendar.federal": "true или false: праздники России (bot/calendars/ru.toml)",
    "reminders.calendar.file": 'путь к файлу календаря региона, например "dagestan.toml"',
    "reminders.calendar.days_off": DATE_LIST_FORM,
    "reminders.calendar.days_off[]": 'дата "ГГГГ-ММ-ДД" или без кавычек 2025-03-31',
    "reminders.calendar.working_days": DATE_LIST_FORM,
    "reminders.calendar.working_days[]": 'дата "ГГГГ-ММ-ДД" или без кавычек 2025-03-31',
    "reminders.escalate_every": 'длительность вида "24h" или "1d"',
    "department": "таблица [department] с name, short_name и phone",
    "web": "таблица [web] с listen и public_url",
    "web.listen": WEB_LISTEN_FORM,
    "web.public_url": WEB_URL_FORM,
    "web.session": 'длительность, например "10h"',
    "web.refresh": 'длительность, например "10s"',
    "department.name": DEPARTMENT_NAME_FORM,
    "department.short_name": DEPARTMENT_SHORT_FORM,
    "department.phone": PHONE_FORM,
}

# Values at these keys are never echoed back, whatever is wrong with them.
_SECRET_KEYS = frozenset({"vk.token", "max.token", "max.webhook_secret"})


def dotted(loc: Sequence[int | str]) -> str:
    """`('bot', 'admin_chats', 1)` -> `bot.admin_chats[1]`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _pattern(loc: Sequence[int | str]) -> str:
    return dotted([("[]" if isinstance(p, int) else p) for p in loc]).replace(".[]", "[]")


def show_value(value: object) -> str:
    """A short, safe rendering of a bad value for an error line; long strings are withheld."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A long string may be a token pasted into the wrong key.
        if len(value) > 40 or value.lower().startswith("vk1."):
            return "значение"
        return repr(value)
    if isinstance(value, dict):
        return "таблица"
    if isinstance(value, list | tuple):
        return "список"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return "значение"


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model a field holds, directly or as the items of a tuple, list or optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if arg is not Ellipsis and arg is not type(None):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _allowed_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str] | None:
    """The keys allowed at `loc` (the table that holds an unknown key) in `model`."""
    current: type[BaseModel] = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        found = _model_in(field.annotation) if field is not None else None
        if found is None:
            return None
        current = found
    return list(current.model_fields)


def explain_errors(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    forms: Mapping[str, str],
    secret_keys: frozenset[str] = frozenset(),
    prefix: Sequence[int | str] = (),
    label: Mapping[tuple[int | str, ...], str] | None = None,
) -> list[str]:
    """Turn pydantic's errors into plain lines: `key: what is wrong; expected form`.

    `label` may name parts of a location, e.g. `{("steps", 1): "steps[1] (3.2)"}`.
    """
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = tuple(prefix) + tuple(error["loc"])
        lines.append(_explain(error, loc, model, forms, secret_keys, label or {}))
    return list(dict.fromkeys(lines))


def _where(loc: tuple[int | str, ...], label: Mapping[tuple[int | str, ...], str]) -> str:
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in label:
            rest = dotted(("x", *loc[cut:]))[1:]
            return label[loc[:cut]] + rest
    return dotted(loc)


def _explain(
    error: ErrorDetails,
    loc: tuple[int | str, ...],
    model: type[BaseModel],
    forms: Mapping[str, str],
    secret_keys: frozenset[str],
    label: Mapping[tuple[int | str, ...], str],
) -> str:
    kind = error["type"]
    where = _where(loc, label)
    pattern = _pattern(loc)
    form = forms.get(pattern) or forms.get(_pattern(loc[:-1])) or ""
    expected = f"; ожидается {form}" if form else ""
    if kind == "missing":
        return f"{where}: не указано{expected}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1]) or []
        if len(loc) == 1:
            homes = [
                name
                for name, field in model.model_fields.items()
                if isinstance(field.annotation, type)
                and issubclass(field.annotation, BaseModel)
                and str(loc[0]) in field.annotation.model_fields
            ]
            hint = f"; {loc[0]} пишется в разделе [{homes[0]}]" if homes else ""
            return (
                f"неизвестный раздел или ключ {str(loc[0])!r}; на верхнем уровне допускаются: "
                + ", ".join(allowed)
                + hint
            )
        return f"{where}: неизвестный ключ; здесь допускаются: " + ", ".join(allowed)
    if kind in {"value_error", "assertion_error"}:
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{where}: {message}" if loc else message
    value = "значение" if pattern in secret_keys else show_value(error.get("input"))
    reason = _REASONS.get(kind)
    if reason is None:
        message = error["msg"]
        reason = f"— не подходит ({message[:1].lower()}{message[1:]})"
    return f"{where}: {value} {reason}{expected}"


_REASONS = {
    "model_type": "— не таблица",
    "model_attributes_type": "— не таблица",
    "dict_type": "— не таблица",
    "list_type": "— не список",
    "tuple_type": "— не список",
    "int_type": "— не целое число",
    "int_parsing": "— не целое число",
    "int_from_float": "— не целое число",
    "float_type": "— не число",
    "float_parsing": "— не число",
    "string_type": "— не строка в кавычках",
    "bool_type": "— не true и не false",
    "greater_than": "— слишком мало",
    "greater_than_equal": "— слишком мало",
    "less_than": "— слишком много",
    "less_than_equal": "— слишком много",
    "string_too_short": "— слишком короткое",
    "string_too_long": "— слишком длинное",
    "string_pattern_mismatch": "— не того вида",
    "too_short": "— слишком мало элементов",
    "too_long": "— слишком много элементов",
    "path_type": "— не путь в кавычках",
    "date_type": "— не дата",
    "date_parsing": "— не дата",
    "datetime_type": "— не дата и время",
    "datetime_parsing": "— не дата и время",
    "enum": "— не из допустимых значений",
    "literal_error": "— не из допустимых значений",
}


def _scrub(lines: Iterable[str], secrets: Iterable[str]) -> list[str]:
    hidden = [s for s in secrets if len(s) >= 4]
    result = []
    for line in lines:
        for secret in hidden:
            line = line.replace(secret, "[hidden]")
        result.append(line)
    return result


def read_toml(path: Path, *, what: str, error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """Read a TOML file, turning every way it can fail into `error` with one plain line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error([f"{what} {path} не найден"], source=None) from None
    except IsADirectoryError:
        raise error([f"{what} {path} — папка, а не файл"], source=None) from None
    except OSError as exc:
        raise error([f"не удаётся прочитать {what} {path}: {exc.strerror}"], source=None) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(
            [f"строка {line}: текст файла не в кодировке UTF-8; сохраните его в UTF-8"],
            source=path,
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error([f"ошибка синтаксиса TOML: {exc}"], source=path) from None


def load_config(
    path: Path, env: Mapping[str, str] | None = None, *, need_token: bool = True
) -> Config:
    """Read and validate the config file; `env` (default: the process environment) may hold
    the token in CONFIRMBOT_VK_TOKEN, which wins over the file's.

    `need_token=False` is for the commands that never call VK (roster import and codes,
    report): the token may then be missing or still the example's placeholder.

    Raises ConfigError listing every problem.
    """
    env = os.environ if env is None else env
    path = Path(path)
    data = read_toml(path, what="файл конфигурации")
    env_token = env.get(TOKEN_ENV, "").strip()
    # The example's placeholder is no secret: the error about it may quote it.
    secrets = [env_token] if env_token != PLACEHOLDER_TOKEN else []
    vk = data.get("vk")
    if isinstance(vk, dict):
        file_token = vk.get("token")
        # The example's placeholder is no secret: the error about it may quote it.
        if isinstance(file_token, str) and file_token.strip() != PLACEHOLDER_TOKEN:
            secrets.append(file_token.strip())
            secrets.append(file_token)
        if env_token:
            data["vk"] = {**vk, "token": env_token}
    elif vk is None and env_token:
        data["vk"] = {"token": env_token}

    max_token = env.get(MAX_TOKEN_ENV, "").strip()
    max_problems: list[str] = []
    max_section = data.get("max")
    if isinstance(max_section, dict):
        for key in ("token", "webhook_secret"):
            value = max_section.get(key)
            if isinstance(value, str) and value.strip():
                secrets.append(value.strip())
        if max_token:
            secrets.append(max_token)
            data["max"] = {**max_section, "token": max_token}
        elif "token" not in max_section:
            if need_token:
                max_problems.append(f"max.token: не указан; ожидается {_FORMS['max.token']}")
            data["max"] = {**max_section, "token": ""}  # never used by such a command

    # Validated even when absent, so that its default path, too, is next to the config file.
    data.setdefault("storage", {})
    problems: list[str] = _token_problems(data.get("vk")) if need_token else []
    problems += max_problems
    config: Config | None = None
    try:
        config = Config.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        problems += explain_errors(exc, model=Config, forms=_FORMS, secret_keys=_SECRET_KEYS)
    if problems:
        config = None
    # Raised outside the except block so that pydantic's error, which holds the raw input and
    # so the token, is not chained to ours.
    if config is None:
        raise ConfigError(_scrub(problems, secrets), source=path)
    return config


def _token_problems(vk: object) -> list[str]:
    """What keeps the token from reaching VK, for the commands that call it."""
    if not isinstance(vk, dict):
        return []  # "vk: missing" or "vk: not a table" says it
    token = vk.get("token")
    if token is None:
        return [f"vk.token: не указан; ожидается {_FORMS['vk.token']}"]
    if isinstance(token, str) and token.strip() == PLACEHOLDER_TOKEN:
        return [
            f"vk.token: всё ещё заглушка {PLACEHOLDER_TOKEN} из config.example.toml; "
            f"впишите ключ доступа сообщества в переменную {TOKEN_ENV} "
            "(в /etc/confirmbot/confirmbot.env) или сюда"
        ]
    return []


def _describe_calendar(calendar: CalendarConfig) -> str:
    names = [name for name, number in list(WEEKDAYS.items())[:7] if number in calendar.weekends]
    return texts.CLI_DESCRIBE_CALENDAR.format(
        weekends=", ".join(names) or texts.CLI_DESCRIBE_NONE,
        federal=texts.CLI_DESCRIBE_YES if calendar.federal else texts.CLI_DESCRIBE_NO,
        file=str(calendar.file) if calendar.file is not None else texts.CLI_DESCRIBE_NOT_SET,
        days_off=len(calendar.days_off),
        working_days=len(calendar.working_days),
    )


def _describe_max(section: MaxConfig | None) -> list[str]:
    if section is None:
        return [texts.CLI_DESCRIBE_MAX_NONE]
    mode = (
        texts.CLI_DESCRIBE_MAX_WEBHOOK.format(
            url=section.webhook_url, listen=section.webhook_listen, path=section.webhook_path
        )
        if section.webhook_url
        else texts.CLI_DESCRIBE_MAX_POLLING
    )
    return [
        texts.CLI_DESCRIBE_MAX.format(
            api_url=section.api_url,
            admins=", ".join(str(a) for a in section.admins) or texts.CLI_DESCRIBE_NONE,
            chats=", ".join(str(c) for c in (*section.admin_chats, *section.heads_chats))
            or texts.CLI_DESCRIBE_NONE,
        ),
        mode,
        *(
            [texts.CLI_DESCRIBE_MAX_CONTROLLER.format(controller=section.controller)]
            if section.controller is not None
            else []
        ),
    ]


def _describe_web(section: WebConfig | None) -> str:
    if section is None:
        return texts.CLI_DESCRIBE_WEB_NONE
    return texts.CLI_DESCRIBE_WEB.format(
        url=section.public_url,
        listen=section.listen,
        session=format_duration(section.session),
        https="" if section.secure else texts.CLI_DESCRIBE_WEB_PLAIN,
    )


def describe(config: Config) -> list[str]:
    """A few lines saying what the config means, for `confirmbot check-config` (Russian)."""
    bot = config.bot
    reminders = config.reminders

    def chats(peers: tuple[int, ...]) -> str:
        if not peers:
            return texts.CLI_DESCRIBE_NONE
        return ", ".join(
            texts.CLI_DESCRIBE_CHAT.format(peer=peer, number=peer - CHAT_PEER_BASE)
            for peer in peers
        )

    token = config.vk.token
    if token is None:
        key = texts.CLI_DESCRIBE_KEY_NONE
    elif token.get_secret_value() == PLACEHOLDER_TOKEN:
        key = texts.CLI_DESCRIBE_KEY_PLACEHOLDER.format(env=TOKEN_ENV)
    else:
        key = texts.CLI_DESCRIBE_KEY_SET
    timeout = config.vk.request_timeout
    quiet = reminders.quiet_hours
    return [
        texts.CLI_DESCRIBE_VK.format(group_id=config.vk.group_id, api_url=config.vk.api_url)
        + (texts.CLI_DESCRIBE_TIMEOUT.format(seconds=timeout) if timeout is not None else ""),
        key,
        *_describe_max(config.max),
        _describe_web(config.web),
        texts.CLI_DESCRIBE_STORAGE.format(path=config.storage.path),
        texts.CLI_DESCRIBE_TIMEZONE.format(timezone=bot.timezone),
        texts.CLI_DESCRIBE_ADMINS.format(
            admins=", ".join(str(a) for a in bot.admins) or texts.CLI_DESCRIBE_NONE
        ),
        texts.CLI_DESCRIBE_CONTROLLER.format(
            controller=bot.controller if bot.controller is not None else texts.CLI_DESCRIBE_NOT_SET
        ),
        texts.CLI_DESCRIBE_ADMIN_CHATS.format(chats=chats(bot.admin_chats)),
        texts.CLI_DESCRIBE_HEADS_CHATS.format(chats=chats(bot.heads_chats)),
        texts.CLI_DESCRIBE_PROMPT.format(wait=format_duration(bot.prompt_expires_after)),
        texts.CLI_DESCRIBE_CAMPAIGN_FILE.format(path=config.campaign.file),
        texts.CLI_DESCRIBE_REMINDERS.format(
            before=", ".join(format_duration(d) for d in reminders.before)
            or texts.CLI_DESCRIBE_NONE,
            quiet=str(quiet) if quiet is not None else texts.CLI_DESCRIBE_QUIET_OFF,
            summary=format_clock_time(reminders.daily_summary),
            escalate=format_duration(reminders.escalate_every),
        ),
        texts.CLI_DESCRIBE_DEPARTMENT.format(
            name=config.department.name,
            short_name=config.department.short_name,
            phone=config.department.phone or texts.CLI_DESCRIBE_NOT_SET,
        ),
        _describe_calendar(reminders.calendar),
    ]
