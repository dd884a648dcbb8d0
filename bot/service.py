"""The campaign's rules over storage: record answers, compute status, find who owes what."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain import Answer, AnswerSource, Campaign, Count, School, StepKind, StepState
from bot.status import (
    Changes,
    DistrictStatus,
    PartProgress,
    PendingSchool,
    SchoolStatus,
    StaffMember,
    StaffProgress,
    StepSummary,
    deadline_for,
    owed_steps,
)
from storage.counts import CountsRepository
from storage.db import Database
from storage.onboarding import RegistrationRepository
from storage.progress import ProgressRepository
from storage.reports import ReportRepository
from storage.repositories import (
    AnswerRepository,
    CampaignRepository,
    ConversationRepository,
    EventRepository,
    Extension,
    ExtensionRepository,
    Membership,
    RosterRepository,
    ScheduleRepository,
    Speaker,
    StaffAction,
    StaffActionRepository,
)
from storage.staff import StaffAnswer, StaffAnswerRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repositories:
    campaigns: CampaignRepository
    roster: RosterRepository
    answers: AnswerRepository
    events: EventRepository
    conversations: ConversationRepository
    schedule: ScheduleRepository
    reports: ReportRepository
    counts: CountsRepository
    progress: ProgressRepository
    staff: StaffActionRepository
    extensions: ExtensionRepository
    registrations: RegistrationRepository
    staff_answers: StaffAnswerRepository

    @classmethod
    def on(cls, db: Database) -> Repositories:
        return cls(
            CampaignRepository(db),
            RosterRepository(db),
            AnswerRepository(db),
            EventRepository(db),
            ConversationRepository(db),
            ScheduleRepository(db),
            ReportRepository(db),
            CountsRepository(db),
            ProgressRepository(db),
            StaffActionRepository(db),
            ExtensionRepository(db),
            RegistrationRepository(db),
            StaffAnswerRepository(db),
        )


@dataclass(frozen=True)
class Pending:
    schools: list[PendingSchool]  # possibly only the first ones
    owing: int  # how many schools owe anything
    total: int  # schools in the roster


class NewAnswer(Protocol):
    """What a typed answer says about one step (`bot.parsing.ParsedAnswer`)."""

    @property
    def step_id(self) -> str: ...
    @property
    def state(self) -> StepState: ...
    @property
    def counts(self) -> dict[str, Count]: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Recorded:
    answer: Answer
    status: SchoolStatus


class CampaignService:
    """One campaign's operations; knows nothing about any messenger."""

    def __init__(
        self,
        campaign: Campaign,
        repos: Repositories,
        clock: Clock,
        *,
        staff: frozenset[int] = frozenset(),
    ) -> None:
        # The whole order (its staff's steps too) and the heads' part of it, which every
        # school's card, total and reminder is about.
        self.order = campaign
        self.campaign = campaign.for_heads()
        self.repos = repos
        self.clock = clock
        # Who confirms the staff's steps: the order's own list, or every configured admin.
        self.staff = frozenset(campaign.staff) or staff

    async def record_staff(
        self,
        *,
        by: int,
        name: str,
        step_id: str,
        state: StepState,
        reason: str,
        source: AnswerSource,
    ) -> StaffAnswer:
        """A staff member's answer to one of their own steps of the order."""
        now = self.clock.now()
        answer = StaffAnswer(
            campaign_id=self.order.id,
            step_id=step_id,
            person_id=by,
            full_name=name,
            state=state,
            reason=reason,
            answered_at=now,
            source=source,
            late=now > self.order.deadline,
        )
        await self.repos.staff_answers.record(answer)
        log.info("staff answer stored: step=%s state=%s by=%s", step_id, state.value, by)
        return answer

    async def staff_progress(self) -> StaffProgress | None:
        """Each staff member's state on each of their steps; None when the order has none."""
        steps = self.order.staff_steps
        if not steps:
            return None
        current = await self.repos.staff_answers.current(self.order.id)
        members = []
        for person in sorted(self.staff | set(current)):
            answers = current.get(person, {})
            name = next((a.full_name for a in answers.values() if a.full_name), f"id{person}")
            states = {step_id: a.state for step_id, a in answers.items()}
            members.append(StaffMember(person, name, states))
        return StaffProgress(steps, tuple(members))

    async def memberships(self, person_id: int) -> list[Membership]:
        return await self.repos.roster.memberships(person_id)

    async def speaker(self, person_id: int, peer_id: int) -> Speaker:
        """The person's schools and the prompt waiting for them here, in one query."""
        return await self.repos.conversations.speaker(person_id, peer_id)

    async def school_status(self, school: School) -> SchoolStatus:
        people, acknowledged, answers = await self.repos.answers.school_snapshot(
            self.campaign.id, school.id
        )
        return SchoolStatus(
            campaign=self.campaign,
            school=school,
            people=tuple(people),
            answers=answers,
            acknowledged=acknowledged,
        )

    async def record(
        self,
        *,
        by: int,
        school: School,
        step_id: str,
        state: StepState,
        counts: dict[str, Count] | None = None,
        reason: str = "",
        source: AnswerSource,
        origin: str = "",
        written_at: dt.datetime | None = None,
    ) -> Recorded:
        """Store an answer (late if after the deadline) and return the school's new state.

        `written_at` is when the person wrote it (the messenger's date of the message): an
        answer written before the deadline is on time even if the bot, stopped for a while,
        reads it after. Never later than now: a date from the future counts as now.
        The caller has already checked that `by` may answer for `school`.
        """
        answer = await self._store(
            by=by,
            school=school,
            step_id=step_id,
            state=state,
            counts=counts,
            reason=reason,
            source=source,
            origin=origin,
            written_at=written_at,
        )
        return Recorded(answer, await self.school_status(school))

    async def record_all(
        self,
        *,
        by: int,
        school: School,
        answers: Sequence[NewAnswer],
        source: AnswerSource,
        origin: str = "",
        written_at: dt.datetime | None = None,
    ) -> tuple[list[Answer], SchoolStatus]:
        """Store several answers of one message, then read the school's state once."""
        stored = [
            await self._store(
                by=by,
                school=school,
                step_id=item.step_id,
                state=item.state,
                counts=item.counts,
                reason=item.reason,
                source=source,
                origin=origin,
                written_at=written_at,
            )
            for item in answers
        ]
        return stored, await self.school_status(school)

    async def _store(
        self,
        *,
        by: int,
        school: School,
        step_id: str,
        state: StepState,
        counts: dict[str, Count] | None,
        reason: str,
        source: AnswerSource,
        origin: str,
        written_at: dt.datetime | None,
    ) -> Answer:
        step = self.campaign.step(step_id)
        if step is None:
            raise ValueError(f"unknown step {step_id}")
        needs_numbers = state not in (StepState.PROBLEM, StepState.NOT_REQUIRED)
        if step.kind is StepKind.COUNT and needs_numbers and not counts:
            raise ValueError(f"step {step_id} needs numbers")
        at = self.clock.now()
        if written_at is not None:
            at = min(at, written_at)
        answer = Answer(
            campaign_id=self.campaign.id,
            school_id=school.id,
            step_id=step_id,
            state=state,
            counts=counts or {},
            reason=reason,
            answered_by=by,
            answered_at=at,
            # Before the order's deadline nothing is late: no need to look for extensions.
            late=at > self.campaign.deadline
            and state is not StepState.NOT_REQUIRED
            and at > await self.deadline(school.id, step_id),
            source=source,
            origin=origin,
        )
        await self.repos.answers.record(answer)
        log.info(
            "answer stored: school=%s step=%s state=%s by=%s source=%s late=%s",
            school.id,
            step_id,
            state.value,
            by,
            source.value,
            answer.late,
        )
        return answer

    async def mark_not_required(
        self, *, by: int, school: School, step_id: str, reason: str, origin: str = ""
    ) -> Recorded:
        """«Не требуется»: staff say the step does not apply to the school; an answer of its
        own (author, time, reason), so the history and the reports keep it."""
        return await self.record(
            by=by,
            school=school,
            step_id=step_id,
            state=StepState.NOT_REQUIRED,
            reason=reason,
            source=AnswerSource.ADMIN,
            origin=origin,
        )

    async def mark_required(self, *, by: int, school: School, step_id: str) -> SchoolStatus | None:
        """Undo «не требуется»: the school's answer before it is current again, and the
        history says who undid it; None if the step was not «не требуется»."""
        undone = await self.repos.answers.undo_not_required(self.campaign.id, school.id, step_id)
        if not undone:
            return None
        await self.repos.staff.add(
            StaffAction(
                campaign_id=self.campaign.id,
                school_id=school.id,
                step_id=step_id,
                action="required",
                done_by=by,
                done_at=self.clock.now(),
            )
        )
        log.info("step %s of %s required again by %s", step_id, school.id, by)
        return await self.school_status(school)

    async def extended(self, school_id: str) -> dict[str, dt.datetime]:
        """The school's extensions: step id ("" for every step) -> its own deadline."""
        rows = await self.repos.extensions.of_campaign(self.campaign.id, school_id)
        return {e.step_id: e.deadline for e in rows}

    async def _extended_all(self) -> dict[str, dict[str, dt.datetime]]:
        """Every school's extensions: school id -> step id ("" for all) -> its deadline."""
        result: dict[str, dict[str, dt.datetime]] = {}
        for row in await self.repos.extensions.of_campaign(self.campaign.id):
            result.setdefault(row.school_id, {})[row.step_id] = row.deadline
        return result

    async def deadline(self, school_id: str, step_id: str) -> dt.datetime:
        """When the school's answer to the step becomes late (extensions included)."""
        return deadline_for(self.campaign, await self.extended(school_id), step_id)

    async def extend(
        self, *, by: int, school: School, step_id: str, deadline: dt.datetime
    ) -> None:
        """Give the school (every step, or `step_id`) until `deadline`; kept in the history."""
        now = self.clock.now()
        await self.repos.extensions.grant(
            self.campaign.id,
            Extension(
                school_id=school.id,
                step_id=step_id,
                deadline=deadline,
                granted_by=by,
                granted_at=now,
            ),
        )
        await self.repos.staff.add(
            StaffAction(
                campaign_id=self.campaign.id,
                school_id=school.id,
                step_id=step_id,
                action="extended",
                detail=deadline.astimezone(dt.UTC).isoformat(),
                done_by=by,
                done_at=now,
            )
        )
        log.info("deadline of %s (step %r) extended to %s by %s", school.id, step_id, deadline, by)

    async def cancel_extension(self, *, by: int, school: School, step_id: str | None) -> int:
        """Take back the school's extensions (of one step, or all); how many there were."""
        removed = await self.repos.extensions.cancel(self.campaign.id, school.id, step_id)
        if removed:
            await self.repos.staff.add(
                StaffAction(
                    campaign_id=self.campaign.id,
                    school_id=school.id,
                    step_id=step_id or "",
                    action="extension_cancelled",
                    done_by=by,
                    done_at=self.clock.now(),
                )
            )
        return removed

    async def waiting(self, moment: dt.datetime) -> set[str]:
        """Schools that owe something, all of it extended past `moment`: neither reminded by
        the order's own slots nor escalated until their own deadline."""
        result = set()
        for school_id, own in (await self._extended_all()).items():
            current = await self.repos.answers.current_for_school(self.campaign.id, school_id)
            states = {step_id: answer.state for step_id, answer in current.items()}
            owed = owed_steps(self.campaign, states)
            if owed and all(deadline_for(self.campaign, own, s.id) > moment for s in owed):
                result.add(school_id)
        return result

    async def acknowledge(self, person_id: int) -> bool:
        return await self.repos.conversations.acknowledge(
            self.campaign.id, person_id, self.clock.now()
        )

    async def district_status(self) -> DistrictStatus:
        """The district's counts, read from the kept counts (not recounted per question)."""
        campaign = self.campaign
        counts = await self.repos.counts.district(campaign.id, [s.id for s in campaign.steps])
        summaries = []
        for step in campaign.steps:
            states = counts.states.get(step.id, {})
            done = states.get(StepState.DONE.value, 0)
            in_progress = states.get(StepState.IN_PROGRESS.value, 0)
            problem = states.get(StepState.PROBLEM.value, 0)
            not_required = states.get(StepState.NOT_REQUIRED.value, 0)
            parts: tuple[PartProgress, ...] = ()
            if step.kind is StepKind.COUNT:
                totals = counts.parts.get(step.id, {})
                parts = tuple(
                    PartProgress(part.title, *totals.get(part.key, (0, 0))) for part in step.parts
                )
            summaries.append(
                StepSummary(
                    step=step,
                    done=done,
                    in_progress=in_progress,
                    problem=problem,
                    none=counts.schools - done - in_progress - problem - not_required,
                    parts=parts,
                    not_required=not_required,
                )
            )
        return DistrictStatus(
            campaign=campaign,
            now=self.clock.now(),
            schools=counts.schools,
            finished=counts.finished,
            steps=tuple(summaries),
            acknowledged_people=counts.acknowledged,
            people=counts.people,
            trend=tuple(
                (day.day, day.finished) for day in await self.repos.progress.days(campaign.id)
            ),
            staff=await self.staff_progress(),
        )

    async def progress_changes(self, limit: int) -> tuple[dt.datetime, Changes] | None:
        """What changed since the last daily summary before today's (local date), if any."""
        zone = ZoneInfo(self.campaign.timezone)
        today = self.clock.now().astimezone(zone).date()
        earlier = [d for d in await self.repos.progress.days(self.campaign.id) if d.day < today]
        if not earlier:
            return None
        since = earlier[-1].taken_at
        steps = [step.id for step in self.campaign.steps]
        return since, await self.repos.progress.changes_since(
            self.campaign.id, steps, since, limit
        )

    async def record_progress(self, status: DistrictStatus) -> DistrictStatus:
        """Today's snapshot (a summary's), for the trend and the next summary's changes;
        returns the status with today in its trend."""
        day = status.now.astimezone(ZoneInfo(self.campaign.timezone)).date()
        await self.repos.progress.record(self.campaign.id, day, status.finished, status.now)
        earlier = tuple(item for item in status.trend if item[0] != day)
        return replace(status, trend=(*earlier, (day, status.finished)))

    async def pending_schools(self, limit: int | None = None) -> Pending:
        """Schools with any step not done, with their people (the first `limit` of them, for a
        chat message; a region's full list belongs in the report)."""
        if limit is not None:
            return await self._first_pending(limit)
        schools = await self.repos.roster.schools()
        states = await self.repos.answers.current_states(self.campaign.id)
        owing = [s for s in schools if owed_steps(self.campaign, states.get(s.id, {}))]
        return await self._pending(owing, states, owing=len(owing), total=len(schools))

    async def _first_pending(self, limit: int) -> Pending:
        """The first `limit` owing schools found in SQL, and how many owe from the kept
        counts: a region's 40,000 schools are not read for a chat message."""
        step_ids = [s.id for s in self.campaign.steps]
        counts = await self.repos.counts.district(self.campaign.id, step_ids)
        shown, states = await self.repos.answers.first_owing(self.campaign.id, step_ids, limit)
        owing = counts.schools - counts.finished if step_ids else 0
        return await self._pending(shown, states, owing=owing, total=counts.schools)

    async def _pending(
        self,
        shown: list[School],
        states: dict[str, dict[str, StepState]],
        *,
        owing: int,
        total: int,
    ) -> Pending:
        """The owing schools shown, with their states, people and extensions."""
        people = await self.repos.roster.people_of([s.id for s in shown])
        extended = await self._extended_all()
        return Pending(
            schools=[
                PendingSchool(
                    school=s,
                    states=states.get(s.id, {}),
                    people=tuple(people[s.id]),
                    extended=extended.get(s.id, {}),
                )
                for s in shown
            ],
            owing=owing,
            total=total,
        )

    async def find_schools(self, query: str) -> list[School]:
        return await self.repos.roster.find_schools(query)

    async def names(self, school: School) -> dict[int, str]:
        people = (await self.repos.roster.people_of([school.id]))[school.id]
        return {p.person_id: p.full_name for p in people}

    def now(self) -> dt.datetime:
        return self.clock.now()
