"""What every part of the rules shares: the context they work in and how they answer."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from bot import texts
from bot.actions import Action, Edit, Incoming, Reply, Snackbar
from bot.chats import ChatDirectory
from bot.config import DepartmentConfig, RemindersConfig
from bot.domain import Campaign, School
from bot.keyboards import Keyboard
from bot.notify import Notifier
from bot.onboarding import Onboarding
from bot.ports import Messenger
from bot.service import CampaignService
from bot.weblogin import WebLogin
from storage.repositories import Membership

# The card when several orders are open (the router's: it knows the orders); None: one order.
OrdersCard = Callable[[Incoming, list[Membership], str | None], Awaitable[list[Action] | None]]


@dataclass(frozen=True)
class Settings:
    admins: frozenset[int]
    controller: int | None
    chats: ChatDirectory
    timezone: str
    # How the texts name the department ([department] in the config).
    department: DepartmentConfig = field(default_factory=DepartmentConfig)
    # How long a question of the bot (a problem's reason, a step's numbers) waits.
    prompt_expires_after: dt.timedelta = dt.timedelta(hours=1)
    # Links to the department's web page ([web] in the config); None: no page.
    web: WebLogin | None = None
    # The bot's name on MAX ([max] username), for a person's own link max.ru/<name>?start=CODE.
    max_bot: str | None = None


# A stranger is told who the bot is and whom to ask once a day per conversation.
STRANGER_NOTE_EVERY = dt.timedelta(days=1)


@dataclass
class Context:
    """The campaign's services, shared by every part of the rules."""

    service: CampaignService
    settings: Settings
    notifier: Notifier
    reminders: RemindersConfig
    onboarding: Onboarding
    messenger: Messenger
    # Several orders open (issue 14): the card lists them, with what each still needs.
    orders_card: OrdersCard | None = None


class Rules:
    """A part of the rules: takes an incoming message, returns the actions to answer it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def service(self) -> CampaignService:
        return self.ctx.service

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def notifier(self) -> Notifier:
        return self.ctx.notifier

    @property
    def reminders(self) -> RemindersConfig:
        return self.ctx.reminders

    @property
    def onboarding(self) -> Onboarding:
        return self.ctx.onboarding

    @property
    def messenger(self) -> Messenger:
        return self.ctx.messenger

    @property
    def campaign(self) -> Campaign:
        return self.ctx.service.campaign

    def is_staff(self, user_id: int) -> bool:
        return user_id in self.settings.admins or user_id == self.settings.controller

    async def _not_a_head(self, msg: Incoming) -> str:
        """Why a school's button does nothing for this person (a pop-up holds 90 characters)."""
        if self.is_staff(msg.user_id):
            return texts.STAFF_NOT_A_HEAD
        closed = await self._closed_schools(msg)
        if closed:
            if msg.is_callback:
                return texts.school_closed_short(self.settings.department)
            return texts.school_closed(self.settings.department, closed)
        if msg.is_callback:
            return texts.stranger_short(self.settings.department)
        return texts.stranger(self.settings.department)

    async def _stranger(self, msg: Incoming) -> list[Action]:
        """Someone the bot does not know: who it is and whom to ask, once a day here. A person
        of a closed school is told so, every time, as a known person is always answered."""
        if not msg.addressed:
            return []
        closed = await self._closed_schools(msg)
        if closed:
            return [Reply(texts.school_closed(self.settings.department, closed))]
        told = await self.service.repos.conversations.tell_stranger(
            msg.user_id, msg.peer_id, self.service.now(), STRANGER_NOTE_EVERY
        )
        return [Reply(texts.stranger(self.settings.department))] if told else []

    async def _closed_schools(self, msg: Incoming) -> list[str]:
        """The names of the closed schools whose list has the writer (who is in no open one)."""
        closures = await self.service.repos.roster.closed_memberships(msg.user_id)
        return [closure.school.name for closure in closures]

    def _notice(self, msg: Incoming, text: str) -> Action:
        return Snackbar(text) if msg.is_callback else Reply(text)

    def _show(self, msg: Incoming, text: str, keyboard: Keyboard | None) -> list[Action]:
        return [Edit(text, keyboard) if msg.is_callback else Reply(text, keyboard)]


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(text: str) -> str:
    """JSON can carry a lone UTF-16 surrogate (half an emoji); pydantic and SQLite cannot store
    one, and a «?» in its place would read as a question: it is dropped."""
    return _LONE_SURROGATE.sub("", text)


def as_message(msg: Incoming) -> Incoming:
    """The same conversation, answered with new messages rather than edits."""
    return replace(msg, is_callback=False)


def school_of(memberships: list[Membership], school_id: str) -> School | None:
    for membership in memberships:
        if membership.school.id == school_id:
            return membership.school
    return None
