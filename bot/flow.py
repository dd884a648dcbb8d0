"""What the bot does with each incoming message or button press, as a list of outgoing actions.

Messenger-neutral: an adapter turns a VK (or MAX) update into `Incoming` and carries out the
returned actions. The head's conversation is a small table of states:

    (nothing awaited) --«Проблема»-----------> awaiting reason  --text--> reason recorded
    (nothing awaited) --count step opened----> awaiting counts  --text--> numbers recorded
    awaiting anything --a command or answer--> (nothing awaited)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot import texts
from bot.actions import (
    Action,
    Edit,
    FileKind,
    Incoming,
    Private,
    Reply,
    SendFile,
    SendTo,
    Snackbar,
)
from bot.chart import render_progress
from bot.chats import ChatDirectory
from bot.config import RemindersConfig
from bot.domain import AnswerSource, Campaign, Role, School, Step, StepKind, StepState
from bot.keyboards import (
    Keyboard,
    announcement_keyboard,
    card_keyboard,
    role_keyboard,
    school_choice_keyboard,
    step_keyboard,
)
from bot.notify import Notifier
from bot.onboarding import CodeCheck, Onboarding, registration_code, verify_school
from bot.parsing import (
    MAX_REASON_LENGTH,
    AdminCommand,
    AnswerProblem,
    ParsedAdminCommand,
    ParsedAnswer,
    clean,
    looks_like_answer,
    parse_admin_command,
    parse_answer,
    parse_counts,
)
from bot.payloads import (
    AcknowledgePayload,
    AnswerPayload,
    OpenCardPayload,
    OpenStepPayload,
    Payload,
    RolePayload,
    decode,
)
from bot.ports import Messenger
from bot.report import ReportSummary, write_xlsx
from bot.roster import parse_vk_id
from bot.schedule import upcoming
from bot.service import CampaignService
from bot.status import DistrictStatus
from storage.reports import ReportRepository
from storage.repositories import Membership, PendingInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    admins: frozenset[int]
    controller: int | None
    chats: ChatDirectory
    timezone: str


@dataclass
class _Outcome:
    actions: list[Action] = field(default_factory=list)

    def add(self, *actions: Action) -> list[Action]:
        self.actions.extend(actions)
        return self.actions


class Flow:
    def __init__(
        self,
        service: CampaignService,
        settings: Settings,
        notifier: Notifier,
        reminders: RemindersConfig,
        onboarding: Onboarding,
        messenger: Messenger,
    ) -> None:
        self.service = service
        self.messenger = messenger
        self.settings = settings
        self.notifier = notifier
        self.onboarding = onboarding
        self.reminders = reminders
        self.campaign = service.campaign

    def is_staff(self, user_id: int) -> bool:
        return user_id in self.settings.admins or user_id == self.settings.controller

    # -- entry points ------------------------------------------------------------------------

    async def on_message(self, msg: Incoming) -> list[Action]:
        """A text message (or a text button, whose payload rides along)."""
        msg = replace(msg, text=_valid_unicode(msg.text))
        conversations = self.service.repos.conversations
        if not msg.in_chat:
            # Writing to the community is what lets it write back (VK error 901 otherwise).
            await conversations.mark_reachable(msg.user_id)
        if msg.payload is not None:
            payload = decode(msg.payload)
            if payload is not None:
                return await self._on_payload(msg, payload)
            # A text button press of an old keyboard: treat its label as text below.
        # A vk.me link's `ref` rides on the first message, whatever its text («Начать»).
        code = registration_code(clean(msg.text)) or msg.ref
        if code:
            return await self._register(msg, code)
        command = parse_admin_command(msg.text)
        if command is not None:
            return await self.on_command(msg, command)
        memberships = await self.service.memberships(msg.user_id)
        if not memberships:
            if not msg.addressed:
                return []
            if self.is_staff(msg.user_id):
                return [Reply(texts.HELP_ADMIN)]
            return [Reply(texts.STRANGER)]
        pending = await conversations.pending_input(msg.user_id, msg.peer_id)
        if looks_like_answer(msg.text, self.campaign):
            if pending is not None:
                await conversations.clear_input(msg.user_id, msg.peer_id)
            return await self._typed_answer(msg, memberships)
        if pending is not None and clean(msg.text):
            return await self._awaited_input(msg, memberships, pending)
        if not msg.addressed:
            return []
        if msg.in_chat:
            return [Reply(texts.head_help([m.school.name for m in memberships], self.campaign))]
        return await self._show_card(msg, memberships, None)

    async def on_callback(self, msg: Incoming) -> list[Action]:
        payload = decode(msg.payload)
        if payload is None:
            log.info("rejected payload from %s", msg.user_id)
            return [Snackbar(texts.BAD_BUTTON)]
        return await self._on_payload(msg, payload)

    # -- buttons -----------------------------------------------------------------------------

    async def _on_payload(self, msg: Incoming, payload: Payload) -> list[Action]:
        if payload.c != self.campaign.id:
            return [self._notice(msg, texts.BAD_BUTTON)]
        if isinstance(payload, AcknowledgePayload):
            return await self._acknowledge(msg)
        if isinstance(payload, RolePayload):
            return await self._choose_role(msg, payload.r)
        memberships = await self.service.memberships(msg.user_id)
        if not memberships:
            return [self._notice(msg, self._not_a_head(msg))]
        if isinstance(payload, OpenCardPayload):
            return await self._show_card(msg, memberships, payload.sc or None)
        if isinstance(payload, RolePayload):  # handled above; narrows the type
            return []
        school = _school_of(memberships, payload.sc)
        step = self.campaign.step(payload.s)
        if school is None:
            return [self._notice(msg, texts.NOT_YOUR_SCHOOL)]
        if step is None:
            return [self._notice(msg, texts.BAD_BUTTON)]
        if isinstance(payload, OpenStepPayload):
            if step.kind is StepKind.COUNT:
                await self._expect(msg, school, step, "counts")
            keyboard = step_keyboard(self.campaign, school.id, step.id)
            return self._show(msg, texts.step_prompt(self.campaign, school, step), keyboard)
        if not isinstance(payload, AnswerPayload):
            return [self._notice(msg, texts.BAD_BUTTON)]
        if step.kind is StepKind.COUNT and payload.st is not StepState.PROBLEM:
            return [self._notice(msg, texts.BAD_BUTTON)]
        recorded = await self.service.record(
            by=msg.user_id,
            school=school,
            step_id=step.id,
            state=payload.st,
            source=AnswerSource.BUTTON,
            origin=msg.origin,
        )
        out = _Outcome()
        if msg.is_callback:
            out.add(
                Snackbar(
                    texts.SNACK_SAVED.format(step=step.id, state=texts.STATE_NAME[payload.st])
                )
            )
        card_text = texts.card(recorded.status, self.service.now())
        if recorded.answer.late:
            card_text += "\n" + texts.LATE_NOTE
        out.add(*self._show(msg, card_text, self._card_keyboard(recorded.status.finished, school)))
        if payload.st is StepState.PROBLEM:
            await self._expect(msg, school, step, "reason")
            out.add(Reply(texts.ASK_REASON.format(step=step.id)))
            out.add(*await self._problem_notices(school, step, "", memberships, msg.user_id))
        elif recorded.status.finished:
            out.add(Reply(texts.ALL_DONE.format(school=school.name, number=self.campaign.number)))
        return out.actions

    async def _expect(self, msg: Incoming, school: School, step: Step, kind: str) -> None:
        """Remember that this person's next text here is a step's numbers or a reason."""
        await self.service.repos.conversations.expect_input(
            msg.user_id,
            msg.peer_id,
            PendingInput(
                campaign_id=self.campaign.id,
                school_id=school.id,
                step_id=step.id,
                kind=kind,
                created_at=self.service.now(),
            ),
        )

    async def _acknowledge(self, msg: Incoming) -> list[Action]:
        memberships = await self.service.memberships(msg.user_id)
        if not memberships and not self.is_staff(msg.user_id):
            return [self._notice(msg, self._not_a_head(msg))]
        fresh = await self.service.acknowledge(msg.user_id)
        if fresh:
            log.info("acknowledged: user=%s", msg.user_id)
        text = texts.ACK_THANKS.format(number=self.campaign.number) if fresh else texts.ACK_ALREADY
        return [self._notice(msg, text)]

    async def _show_card(
        self, msg: Incoming, memberships: list[Membership], school_id: str | None
    ) -> list[Action]:
        if school_id is None and len(memberships) > 1:
            choice = school_choice_keyboard(
                self.campaign, [(m.school.id, m.school.name) for m in memberships]
            )
            return self._deliver_card(msg, texts.CHOOSE_SCHOOL, choice)
        school = memberships[0].school if school_id is None else _school_of(memberships, school_id)
        if school is None:
            return [self._notice(msg, texts.NOT_YOUR_SCHOOL)]
        status = await self.service.school_status(school)
        return self._deliver_card(
            msg,
            texts.card(status, self.service.now()),
            self._card_keyboard(status.finished, school),
        )

    def _deliver_card(self, msg: Incoming, text: str, keyboard: Keyboard | None) -> list[Action]:
        """In private the card replaces the pressed message; from a chat it goes privately."""
        if not msg.in_chat:
            return self._show(msg, text, keyboard)
        actions: list[Action] = [
            Private(msg.user_id, text, keyboard, fallback_peer=msg.peer_id),
        ]
        if msg.is_callback:
            actions.append(Snackbar(texts.CARD_SENT_PRIVATELY))
        return actions

    def _card_keyboard(self, finished: bool, school: School) -> Keyboard | None:
        return None if finished else card_keyboard(self.campaign, school.id)

    # -- typed answers -----------------------------------------------------------------------

    async def _typed_answer(self, msg: Incoming, memberships: list[Membership]) -> list[Action]:
        parsed = parse_answer(msg.text, self.campaign)
        if isinstance(parsed, AnswerProblem):
            return [Reply(texts.answer_error(parsed, self.campaign))]
        if len(memberships) > 1:
            return await self._show_card(msg, memberships, None)
        step = self.campaign.step(parsed.step_id)
        if step is None:  # parse_answer only returns the campaign's steps
            return [Reply(texts.BAD_BUTTON)]
        return await self._store_typed(msg, memberships, memberships[0].school, step, parsed)

    async def _awaited_input(
        self, msg: Incoming, memberships: list[Membership], pending: PendingInput
    ) -> list[Action]:
        conversations = self.service.repos.conversations
        school = _school_of(memberships, pending.school_id)
        step = self.campaign.step(pending.step_id)
        if school is None or step is None or pending.campaign_id != self.campaign.id:
            await conversations.clear_input(msg.user_id, msg.peer_id)
            return [Reply(texts.BAD_BUTTON)]
        text = clean(msg.text)
        if pending.kind == "reason":
            answer = ParsedAnswer(step.id, StepState.PROBLEM, reason=text[:MAX_REASON_LENGTH])
        else:
            parsed = parse_counts(text, step)
            if isinstance(parsed, AnswerProblem):
                return [Reply(texts.answer_error(parsed, self.campaign))]
            answer = parsed
        await conversations.clear_input(msg.user_id, msg.peer_id)
        return await self._store_typed(msg, memberships, school, step, answer)

    async def _store_typed(
        self,
        msg: Incoming,
        memberships: list[Membership],
        school: School,
        step: Step,
        answer: ParsedAnswer,
    ) -> list[Action]:
        """Record a typed answer; reply with what is left, and pass a problem on to staff."""
        recorded = await self.service.record(
            by=msg.user_id,
            school=school,
            step_id=step.id,
            state=answer.state,
            counts=answer.counts,
            reason=answer.reason,
            source=AnswerSource.TEXT,
            origin=msg.origin,
        )
        receipt = texts.receipt(recorded.status, step, recorded.answer, self.service.now())
        actions: list[Action] = [
            Reply(receipt, self._card_keyboard(recorded.status.finished, school))
        ]
        if answer.state is StepState.PROBLEM:
            actions += await self._problem_notices(
                school, step, answer.reason, memberships, msg.user_id
            )
        return actions

    async def _problem_notices(
        self,
        school: School,
        step: Step,
        reason: str,
        memberships: list[Membership],
        user_id: int,
    ) -> list[Action]:
        """A «Проблема» goes to the admin chats at once."""
        who = next((m.full_name for m in memberships if m.school.id == school.id), f"id{user_id}")
        text = texts.problem_notice(school, step, reason, texts.mention(user_id, who))
        return [SendTo(chat, text) for chat in await self.settings.chats.admin_chats()]

    # -- admin commands ----------------------------------------------------------------------

    async def on_command(self, msg: Incoming, parsed: ParsedAdminCommand) -> list[Action]:
        """A staff command; others get a polite refusal and no data.

        Where the bot reads every chat message, a bare «статус» from staff is a command too;
        from anyone else in a chat it is just talk unless it is addressed to the bot.
        """
        command = parsed.command
        if not self.is_staff(msg.user_id):
            if not msg.addressed:
                return []
            memberships = await self.service.memberships(msg.user_id)
            if memberships and command is AdminCommand.HELP:
                names = [m.school.name for m in memberships]
                return [Reply(texts.head_help(names, self.campaign))]
            if memberships and command is AdminCommand.STATUS and not parsed.argument:
                return await self._show_card(msg, memberships, None)
            return [Reply(texts.ADMIN_ONLY if memberships else texts.STRANGER)]
        if command is AdminCommand.BIND:
            return [await self._bind(msg, parsed.argument)]
        if msg.in_chat and msg.peer_id not in await self.settings.chats.admin_chats():
            if command is AdminCommand.HELP:
                return [Reply(texts.HELP_ADMIN)]
            return [Reply(texts.ADMIN_IN_HEADS_CHAT)]
        if command is AdminCommand.HELP:
            return [Reply(texts.HELP_ADMIN)]
        if command is AdminCommand.STATUS:
            return await self._status(msg, parsed.argument)
        if command is AdminCommand.PENDING:
            pending = await self.service.pending_schools(texts.PENDING_LIST_LIMIT)
            return [
                Reply(texts.pending(self.campaign, pending.schools, pending.total, pending.owing))
            ]
        if command is AdminCommand.ANNOUNCE:
            return await self.announce(reply=True)
        if command is AdminCommand.REMIND:
            report = await self.notifier.remind()
            return [
                Reply(
                    texts.REMINDED.format(
                        schools=report.schools, private=report.private, mentioned=report.mentioned
                    )
                )
            ]
        if command in (AdminCommand.PAUSE, AdminCommand.RESUME):
            return [await self._pause(command is AdminCommand.PAUSE)]
        if command is AdminCommand.SCHEDULE:
            return [await self._schedule()]
        if command is AdminCommand.REGISTRATIONS:
            return [await self._registrations()]
        if command is AdminCommand.UNBIND:
            return [await self._unbind(parsed.argument)]
        return await self._report(msg)

    async def _report(self, msg: Incoming) -> list[Action]:
        """`отчет`: the Excel workbook, as a document in the conversation it was asked in."""
        now = self.service.now()
        try:
            members = await self._heads_chat_members()
            data, summary = await _xlsx_bytes(
                self.service.repos.reports, self.campaign, now, members
            )
        except Exception:
            # Whatever broke (the disk, the database, the writer), the admin is told.
            log.exception("the Excel report for %s could not be built", msg.peer_id)
            return [Reply(texts.REPORT_FAILED)]
        log.info(
            "Excel report for %s: %d schools, %d bytes", msg.peer_id, summary.schools, len(data)
        )
        caption = texts.report_caption(self.campaign, now, summary.schools, summary.finished)
        return [
            SendFile(
                msg.peer_id,
                texts.report_filename(self.campaign, now),
                data,
                caption,
                on_failure=texts.REPORT_UPLOAD_FAILED,
            )
        ]

    async def _heads_chat_members(self) -> frozenset[int] | None:
        """Who the bot last saw in the heads chats it can read (None: it can read none)."""
        chats = self.settings.chats
        readable = await chats.repo.readable(list(await chats.heads_chats()))
        if not readable:
            return None
        return frozenset(await chats.repo.members_in(readable))

    async def _pause(self, pause: bool) -> Action:
        schedule = self.service.repos.schedule
        paused = await schedule.paused_at(self.campaign.id) is not None
        if pause == paused:
            return Reply(texts.ALREADY_PAUSED if pause else texts.NOT_PAUSED)
        await schedule.set_paused(self.campaign.id, self.service.now() if pause else None)
        log.info("automatic messages %s", "paused" if pause else "resumed")
        return Reply(
            (texts.PAUSED if pause else texts.RESUMED).format(number=self.campaign.number)
        )

    async def _schedule(self) -> Action:
        schedule = self.service.repos.schedule
        finished = await schedule.finished_slots(self.campaign.id)
        slots = upcoming(self.campaign, self.reminders, self.service.now(), finished)
        lines = [(texts.SLOT_NAMES[slot.kind.value], slot.due) for slot in slots]
        paused = await schedule.paused_at(self.campaign.id) is not None
        return Reply(texts.schedule(lines, paused, self.settings.timezone))

    async def _status(self, msg: Incoming, query: str) -> list[Action]:
        """The district (with the picture for `статус картинка`), or one school."""
        picture = query.casefold() in texts.CHART_WORDS
        if not query or picture:
            district = await self.service.district_status()
            actions: list[Action] = [Reply(texts.district_status(district))]
            if picture:
                actions.append(await self._picture(msg.peer_id, district))
            return actions
        found = await self.service.find_schools(query)
        if not found:
            return [Reply(texts.UNKNOWN_SCHOOL.format(query=query[:100]))]
        if len(found) > 1:
            return [Reply(texts.several_schools(found))]
        school = found[0]
        status = await self.service.school_status(school)
        names = await self.service.names(school)
        checked = await verify_school(
            self.settings.chats.repo,
            list(await self.settings.chats.heads_chats()),
            list(status.people),
        )
        verification = (checked.verified, [p.full_name for p in checked.missing])
        return [Reply(texts.school_status(status, names, self.settings.timezone, verification))]

    async def _picture(self, peer_id: int, status: DistrictStatus) -> Action:
        """The progress picture for a conversation; if it cannot be drawn, say so."""
        try:
            png = await asyncio.to_thread(render_progress, status)
        except Exception:
            log.exception("the progress picture for %s could not be drawn", peer_id)
            return Reply(texts.CHART_FAILED)
        return SendFile(
            peer_id,
            texts.chart_filename(self.campaign, status.now),
            png,
            texts.chart_caption(self.campaign, status.now),
            kind=FileKind.PHOTO,
            on_failure=texts.CHART_FAILED,
        )

    async def announce(self, *, reply: bool = False) -> list[Action]:
        """Post the order with «Отчитаться» and «Ознакомлен» to every heads chat."""
        heads_chats = await self.settings.chats.heads_chats()
        keyboard = announcement_keyboard(self.campaign)
        text = texts.announcement(self.campaign)
        actions: list[Action] = [SendTo(peer, text, keyboard) for peer in heads_chats]
        await self.service.repos.campaigns.mark_announced(self.campaign.id, self.service.now())
        log.info("announcement sent to %d heads chats", len(heads_chats))
        if reply:
            actions.append(Reply(texts.ANNOUNCED.format(chats=len(heads_chats))))
        return actions

    # -- onboarding ----------------------------------------------------------------------------

    async def _register(self, msg: Incoming, code: str) -> list[Action]:
        """`регистрация КОД`: a good code asks for the person's role by button."""
        if msg.in_chat:
            return [Reply(texts.REG_IN_PRIVATE)] if msg.addressed else []
        result = await self.onboarding.check_code(msg.user_id, code, self.service.now())
        log.info("registration code from %s: %s", msg.user_id, result.check.value)
        if result.check is CodeCheck.OK and result.school is not None:
            text = texts.REG_CHOOSE_ROLE.format(school=result.school.name)
            return [Reply(text, role_keyboard(self.campaign))]
        return [Reply(_CODE_REPLIES[result.check])]

    async def _choose_role(self, msg: Incoming, role: Role) -> list[Action]:
        name = await self.messenger.user_name(msg.user_id) or f"id{msg.user_id}"
        school_id = await self.onboarding.choose_role(msg.user_id, role, name, self.service.now())
        if school_id is None:
            return [self._notice(msg, texts.REG_NO_PENDING)]
        log.info("registered: user=%s school=%s role=%s", msg.user_id, school_id, role.value)
        memberships = await self.service.memberships(msg.user_id)
        school = _school_of(memberships, school_id)
        name_of_school = school.name if school is not None else school_id
        done = texts.REG_DONE.format(role=texts.ROLE_NAME[role], school=name_of_school)
        return [Reply(done), *await self._show_card(_as_message(msg), memberships, school_id)]

    async def _bind(self, msg: Incoming, argument: str) -> Action:
        """`привязать админ|руководители` in a chat: staff make it one of ours."""
        if not msg.in_chat:
            return Reply(texts.BIND_ONLY_IN_CHAT)
        kind = _CHAT_KINDS.get(argument.strip().casefold())
        if kind is None:
            return Reply(texts.BIND_USAGE)
        now = self.service.now()
        chats = self.settings.chats.repo
        await chats.bind(msg.peer_id, kind, msg.user_id, now)
        log.info("chat %s bound as %s by %s", msg.peer_id, kind, msg.user_id)
        text = texts.BOUND.format(kind=texts.BOUND_KIND[kind])
        members = await self.messenger.chat_members(msg.peer_id)
        await chats.replace_members(msg.peer_id, members, now)
        verified = next((s for s in self.campaign.steps if s.verified_by), None)
        if members is None and kind == "heads" and verified is not None:
            text += "\n" + texts.NO_MEMBER_ACCESS.format(step=verified.id)
        return Reply(text)

    async def on_chat_action(self, peer_id: int, kind: str, member_id: int) -> None:
        """Someone joined or left a chat: keep step 3.3's evidence current."""
        chats = self.settings.chats.repo
        if kind in ("chat_invite_user", "chat_invite_user_by_link") and member_id > 0:
            await chats.joined(peer_id, member_id)
        elif kind == "chat_kick_user" and member_id > 0:
            await chats.left(peer_id, member_id)

    async def _registrations(self) -> Action:
        registered = [
            (
                f"id{r.person.vk_id}",
                r.person.full_name,
                r.person.role,
                r.school_name,
                r.registered_at,
            )
            for r in await self.onboarding.registered()
        ]
        unresolved = [
            (u.school_id, f"{u.full_name} (vk.com/{u.screen_name})", u.problem or "не проверен")
            for u in await self.onboarding.registrations.unresolved()
        ]
        return Reply(texts.registrations(registered, unresolved, self.settings.timezone))

    async def _unbind(self, argument: str) -> Action:
        vk_id = parse_vk_id(argument)
        if vk_id is None:
            return Reply(texts.UNBIND_USAGE)
        count = await self.onboarding.unbind(vk_id)
        log.info("unbound %s: %d rows", vk_id, count)
        return Reply(texts.UNBOUND.format(count=count))

    # -- helpers -----------------------------------------------------------------------------

    def _not_a_head(self, msg: Incoming) -> str:
        """Why a school's button does nothing for this person (a pop-up holds 90 characters)."""
        if self.is_staff(msg.user_id):
            return texts.STAFF_NOT_A_HEAD
        return texts.STRANGER_SHORT if msg.is_callback else texts.STRANGER

    def _notice(self, msg: Incoming, text: str) -> Action:
        return Snackbar(text) if msg.is_callback else Reply(text)

    def _show(self, msg: Incoming, text: str, keyboard: Keyboard | None) -> list[Action]:
        return [Edit(text, keyboard) if msg.is_callback else Reply(text, keyboard)]


_CODE_REPLIES = {
    CodeCheck.UNKNOWN: texts.REG_UNKNOWN,
    CodeCheck.EXPIRED: texts.REG_EXPIRED,
    CodeCheck.REVOKED: texts.REG_REVOKED,
    CodeCheck.TOO_MANY: texts.REG_TOO_MANY,
}

_CHAT_KINDS = {
    "админ": "admin",
    "администрация": "admin",
    "администрации": "admin",
    "admin": "admin",
    "руководители": "heads",
    "руководителей": "heads",
    "heads": "heads",
}


def _valid_unicode(text: str) -> str:
    """JSON can carry a lone UTF-16 surrogate; pydantic and SQLite cannot store one."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _as_message(msg: Incoming) -> Incoming:
    """The same conversation, answered with new messages rather than edits."""
    return replace(msg, is_callback=False)


def _school_of(memberships: list[Membership], school_id: str) -> School | None:
    for membership in memberships:
        if membership.school.id == school_id:
            return membership.school
    return None


async def _xlsx_bytes(
    repo: ReportRepository,
    campaign: Campaign,
    now: dt.datetime,
    members: frozenset[int] | None,
) -> tuple[bytes, ReportSummary]:
    """The Excel report as bytes, written through a scratch file that is gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="confirmbot-chat-report-") as scratch:
        path = Path(scratch) / "report.xlsx"
        summary = await write_xlsx(repo, campaign, campaign.timezone, path, now, members=members)
        data = await asyncio.to_thread(path.read_bytes)
    return data, summary
