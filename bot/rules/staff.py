"""Administration staff: status, debtors, the report, reminders now, the schedule, chats."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

from bot import texts
from bot.actions import Action, FileKind, Incoming, Private, Reply, SendFile, SendTo
from bot.chart import render_progress
from bot.domain import AnswerSource, Campaign, School, Step
from bot.keyboards import announcement_keyboard
from bot.onboarding import verify_school
from bot.parsing import (
    CANCEL_WORDS,
    AdminCommand,
    ParsedAdminCommand,
    parse_new_deadline,
    read,
    split_note,
    step_token,
)
from bot.report import ReportSummary, write_xlsx
from bot.roster import parse_vk_id
from bot.rules.base import Context, Rules
from bot.rules.heads import HeadRules
from bot.schedule import extended_slots, upcoming
from bot.status import DistrictStatus
from storage.reports import ReportRepository

log = logging.getLogger(__name__)


class StaffRules(Rules):
    def __init__(self, ctx: Context, heads: HeadRules) -> None:
        super().__init__(ctx)
        self.heads = heads

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
                return await self.heads.show_card(msg, memberships, None)
            if not memberships:
                return await self._stranger(msg)
            return [Reply(texts.admin_only(self.settings.department))]
        if command is AdminCommand.BIND:
            return [await self._bind(msg, parsed.argument)]
        if msg.in_chat and msg.peer_id not in await self.settings.chats.admin_chats():
            if command is AdminCommand.HELP:
                return [Reply(texts.help_admin(self.settings.department))]
            return [Reply(texts.admin_in_heads_chat(self.settings.department))]
        if command is AdminCommand.HELP:
            return [Reply(texts.help_admin(self.settings.department))]
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
        if command is AdminCommand.MARK:
            return await self._mark(msg, parsed.argument)
        if command is AdminCommand.NOT_REQUIRED:
            return await self._not_required(msg, parsed.argument)
        if command is AdminCommand.REQUIRED:
            return await self._required(msg, parsed.argument)
        if command is AdminCommand.EXTEND:
            return await self._extend(msg, parsed.argument)
        if command is AdminCommand.SCHOOL:
            return await self._school_people(parsed.argument)
        return await self._report(msg)

    async def _school_people(self, argument: str) -> list[Action]:
        """«школа 009»: who is on the school's list and how far each got: registered by code,
        acknowledged the order, reachable in private, or still a screen name to resolve."""
        query = argument.strip().split(" ")[0] if argument.strip() else ""
        if not query:
            return [Reply(texts.SCHOOL_USAGE)]
        school = await self._school_named(query)
        if not isinstance(school, School):
            return school
        people = await self.service.repos.roster.school_people(school.id, self.campaign.id)
        closed = await self._closed_line(school)
        return [Reply(texts.school_people(school, people, self.settings.timezone, closed))]

    async def _closed_line(self, school: School) -> str:
        """The line that says the school is closed (when, why), or nothing if it is open."""
        closure = await self.service.repos.roster.closure(school.id)
        if closure is None:
            return ""
        return texts.school_closed_line(closure.closed_at, closure.reason, self.settings.timezone)

    async def _school_named(self, query: str, *, open_only: bool = False) -> School | list[Action]:
        """The school a staff command names by its id (or, failing that, the one school whose
        name holds the word); otherwise the reply that says why not. With `open_only` (a
        command that changes the school's answers or deadline), a closed school is refused."""
        if not query:
            return [Reply(texts.mark_usage(self.campaign))]
        school = await self.service.repos.roster.school(query)
        if school is None:
            found = await self.service.find_schools(query)
            if len(found) > 1:
                return [Reply(texts.several_schools(found))]
            if not found:
                return [Reply(texts.no_such_school(query[:100]))]
            school = found[0]
        closure = await self.service.repos.roster.closure(school.id) if open_only else None
        if closure is not None:
            timezone = self.settings.timezone
            return [
                Reply(texts.school_is_closed(school, closure.closed_at, closure.reason, timezone))
            ]
        return school

    async def _mark(self, msg: Incoming, argument: str) -> list[Action]:
        """`отметить 009 3.1 выполнено`: an answer a head gave by phone, read as the head's
        own words would be, stored with the staff member as its author and source `admin`;
        `…, примечание: со слов директора` keeps a note with it (as a problem's reason is)."""
        query, _, said = argument.partition(" ")
        school = await self._school_named(query, open_only=True)
        if not isinstance(school, School):
            return school
        said, note = split_note(said)
        reading = read(said, self.campaign)
        out: list[Action] = [
            Reply(texts.answer_error(problem, self.campaign)) for problem in reading.problems
        ]
        if not reading.answers:
            return out or [Reply(texts.mark_usage(self.campaign))]
        answers = [replace(a, reason=a.reason or note[:500]) for a in reading.answers]
        stored, status = await self.service.record_all(
            by=msg.user_id,
            school=school,
            answers=answers,
            source=AnswerSource.ADMIN,
            origin=msg.origin,
        )
        items = [(step, a) for a in stored if (step := self.campaign.step(a.step_id))]
        log.info("staff %s recorded %d answers for %s", msg.user_id, len(stored), school.id)
        notice = texts.marked_notice(self.settings.department, status, items)
        return [
            Reply(texts.marked(status, items)),
            *out,
            *(Private(person.person_id, notice) for person in status.people),
        ]

    async def _school_and_step(
        self, argument: str, usage: str
    ) -> tuple[School, Step, str] | list[Action]:
        """`009 3.2 …`: the school, the step and the rest; or the reply that says why not."""
        parts = argument.split(maxsplit=2)
        if len(parts) < 2:
            return [Reply(usage)]
        school = await self._school_named(parts[0], open_only=True)
        if not isinstance(school, School):
            return school
        wanted = step_token(parts[1])
        step = next((s for s in self.campaign.steps if s.id.casefold() == wanted), None)
        if step is None:
            return [Reply(texts.unknown_step(parts[1], self.campaign))]
        return school, step, parts[2] if len(parts) > 2 else ""

    async def _not_required(self, msg: Incoming, argument: str) -> list[Action]:
        """`не требуется 009 3.2 причина`: the step does not apply to the school."""
        found = await self._school_and_step(argument, texts.not_required_usage(self.campaign))
        if isinstance(found, list):
            return found
        school, step, reason = found
        recorded = await self.service.mark_not_required(
            by=msg.user_id, school=school, step_id=step.id, reason=reason[:500], origin=msg.origin
        )
        log.info("step %s of %s not required, by %s", step.id, school.id, msg.user_id)
        notice = texts.not_required_notice(self.settings.department, school, step)
        return [
            Reply(texts.not_required_marked(recorded.status, step, recorded.answer)),
            *(Private(person.person_id, notice) for person in recorded.status.people),
        ]

    async def _required(self, msg: Incoming, argument: str) -> list[Action]:
        """`требуется 009 3.2`: «не требуется» undone; the answer before it is current again."""
        found = await self._school_and_step(argument, texts.required_usage(self.campaign))
        if isinstance(found, list):
            return found
        school, step, _ = found
        status = await self.service.mark_required(by=msg.user_id, school=school, step_id=step.id)
        if status is None:
            return [Reply(texts.required_already(school, step))]
        return [Reply(texts.required_again(status, step))]

    async def _extend(self, msg: Incoming, argument: str) -> list[Action]:
        """`продлить 009 [3.2] 25.10` moves the school's deadline (of one step); `продлить 009
        [3.2] отменить` takes it back."""
        usage = texts.extend_usage(self.campaign)
        query, _, rest = argument.strip().partition(" ")
        if not query or not rest.strip():
            return [Reply(usage)]
        school = await self._school_named(query, open_only=True)
        if not isinstance(school, School):
            return school
        first, _, after = rest.strip().partition(" ")
        step = next((s for s in self.campaign.steps if s.id.casefold() == step_token(first)), None)
        said = after.strip() if step is not None else rest.strip()
        if (
            step is None
            and after.strip()
            and parse_new_deadline(rest, self.campaign) is None
            and (
                after.strip().casefold() in CANCEL_WORDS
                or parse_new_deadline(after, self.campaign) is not None
            )
        ):
            # «продлить 009 7.7 25.10»: a step that is not in the order.
            return [Reply(texts.unknown_step(first, self.campaign))]
        if said.casefold() in CANCEL_WORDS:
            count = await self.service.cancel_extension(
                by=msg.user_id, school=school, step_id=None if step is None else step.id
            )
            return [Reply(texts.extension_cancelled(school, self.campaign, count))]
        if not said:
            return [Reply(usage)]
        deadline = parse_new_deadline(said, self.campaign)
        if deadline is None:
            return [Reply(texts.bad_date(said))]
        timezone = self.campaign.timezone
        if deadline <= self.service.now():
            return [Reply(texts.past_date(deadline, timezone))]
        if deadline <= self.campaign.deadline:
            return [Reply(texts.not_later_than_order(self.campaign))]
        await self.service.extend(
            by=msg.user_id,
            school=school,
            step_id="" if step is None else step.id,
            deadline=deadline,
        )
        people = (await self.service.repos.roster.people_of([school.id]))[school.id]
        notice = texts.extended_notice(self.campaign, school, step, deadline)
        return [
            Reply(texts.extended(school, step, deadline, timezone)),
            *(Private(person.person_id, notice) for person in people),
        ]

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
        since = await schedule.since(self.campaign.id)
        slots = upcoming(self.campaign, self.reminders, self.service.now(), finished, since)
        lines = [(texts.SLOT_NAMES[slot.kind.value], slot.due) for slot in slots]
        now = self.service.now()
        for extension in await self.service.repos.extensions.of_campaign(self.campaign.id):
            own = extended_slots(
                self.campaign,
                self.reminders,
                extension.school_id,
                extension.step_id,
                extension.deadline,
                extension.granted_at,
            )
            later = [s for s in own if s.due > now and s.key not in finished]
            if later:
                lines.append((texts.extended_reminder_name(extension.school_id), later[0].due))
        lines.sort(key=lambda line: line[1])
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
            return [Reply(texts.unknown_school(query[:100]))]
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
        extended = await self.service.extended(school.id)
        text = texts.school_status(status, names, self.settings.timezone, verification, extended)
        closed = await self._closed_line(school)
        return [Reply(f"{closed}\n\n{text}" if closed else text)]

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
            actions.append(Reply(texts.announced(len(heads_chats))))
        return actions

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
        text = texts.bound(kind, self.settings.department)
        members = await self.messenger.chat_members(msg.peer_id)
        await chats.replace_members(msg.peer_id, members, now)
        verified = next((s for s in self.campaign.steps if s.verified_by), None)
        if members is None and kind == "heads" and verified is not None:
            text += "\n" + texts.NO_MEMBER_ACCESS.format(step=verified.id)
        return Reply(text)

    async def _registrations(self) -> Action:
        registered = [
            (
                f"id{r.person.person_id}",
                r.person.full_name,
                r.person.role,
                r.school_name,
                r.registered_at,
            )
            for r in await self.onboarding.registered()
        ]
        unresolved = [
            (
                u.school_id,
                f"{u.full_name} (vk.com/{u.screen_name})",
                u.problem or texts.SCREEN_NAME_UNCHECKED,
            )
            for u in await self.onboarding.registrations.unresolved()
        ]
        return Reply(texts.registrations(registered, unresolved, self.settings.timezone))

    async def _unbind(self, argument: str) -> Action:
        person_id = parse_vk_id(argument)
        if person_id is None:
            return Reply(texts.UNBIND_USAGE)
        count = await self.onboarding.unbind(person_id)
        log.info("unbound %s: %d rows", person_id, count)
        return Reply(texts.UNBOUND.format(count=count))


_CHAT_KINDS = {
    "админ": "admin",
    "администрация": "admin",
    "администрации": "admin",
    "admin": "admin",
    "руководители": "heads",
    "руководителей": "heads",
    "heads": "heads",
}


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
