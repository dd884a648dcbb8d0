"""Where a campaign stands: computed from stored answers, never from memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from bot.domain import Answer, Campaign, Person, Role, School, Step, StepState
from bot.russian import share


@dataclass(frozen=True)
class PartProgress:
    title: str
    done: int
    total: int

    @property
    def percent(self) -> float:
        return percent(self.done, self.total)


@dataclass(frozen=True)
class StepSummary:
    step: Step
    done: int
    in_progress: int
    problem: int
    none: int
    parts: tuple[PartProgress, ...] = ()
    not_required: int = 0

    @property
    def applies(self) -> int:
        """Schools the step applies to: its totals and percents leave the others out."""
        return self.done + self.in_progress + self.problem + self.none


@dataclass(frozen=True)
class StaffMember:
    person_id: int
    name: str
    states: dict[str, StepState]  # step id -> the latest answer's state; none: no answer


@dataclass(frozen=True)
class StaffProgress:
    """How the administration's own staff stand with their items of the order (issue 14)."""

    steps: tuple[Step, ...]
    members: tuple[StaffMember, ...]

    @property
    def finished(self) -> int:
        return sum(
            all(m.states.get(s.id) is StepState.DONE for s in self.steps) for m in self.members
        )


@dataclass(frozen=True)
class DistrictStatus:
    campaign: Campaign
    now: dt.datetime
    schools: int
    finished: int
    steps: tuple[StepSummary, ...]
    acknowledged_people: int
    people: int
    # Schools with every item done at each daily summary, oldest first (bot/notify.py).
    trend: tuple[tuple[dt.date, int], ...] = ()
    # The staff's own items, when the order has any.
    staff: StaffProgress | None = None

    @property
    def percent(self) -> float:
        return percent(self.finished, self.schools)


@dataclass(frozen=True)
class SchoolStatus:
    campaign: Campaign
    school: School
    people: tuple[Person, ...]
    answers: dict[str, Answer]
    acknowledged: dict[int, dt.datetime] = field(default_factory=dict)

    def state(self, step_id: str) -> StepState:
        answer = self.answers.get(step_id)
        return StepState.NONE if answer is None else answer.state

    def owed(self) -> list[Step]:
        """Steps that are not `done` yet (`problem` never counts as done; «не требуется»
        does)."""
        return [s for s in self.campaign.steps if not self.state(s.id).finished]

    @property
    def finished(self) -> bool:
        return not self.owed()


@dataclass(frozen=True)
class PendingSchool:
    school: School
    states: dict[str, StepState]
    people: tuple[Person, ...]
    # Staff gave the school more time (issue 17): step id ("" for all) -> its own deadline.
    extended: dict[str, dt.datetime] = field(default_factory=dict)


def percent(part: int, whole: int) -> float:
    """Rounded down to a tenth, so that 100 means complete (`bot.russian.share`)."""
    return share(part, whole)


def is_late(campaign: Campaign, moment: dt.datetime) -> bool:
    return moment > campaign.deadline


def deadline_for(
    campaign: Campaign, extended: Mapping[str, dt.datetime], step_id: str
) -> dt.datetime:
    """A school's deadline for a step: the order's, or the later of its extensions (of that
    step, or "" of every step) that staff gave it."""
    moments = [campaign.deadline, *(extended[k] for k in (step_id, "") if k in extended)]
    return max(moments)


def owed_steps(campaign: Campaign, states: dict[str, StepState]) -> list[Step]:
    return [s for s in campaign.steps if not states.get(s.id, StepState.NONE).finished]


@dataclass(frozen=True)
class Changes:
    """Since a moment: schools that finished every item, and problems reported, newest first
    (up to a limit each), with how many there are in all."""

    finished: tuple[str, ...]  # school names
    finished_total: int
    problems: tuple[tuple[str, str], ...]  # (school name, item id)
    problems_total: int


class PersonState(BaseModel):
    """One person of a school as staff see them in «школа 009»: in the roster (`person`), or
    still known only by a screen name that VK has not resolved (`screen_name`)."""

    model_config = ConfigDict(frozen=True)

    person: Person | None = None
    registered_at: dt.datetime | None = None  # registered themselves with the school's code
    acknowledged_at: dt.datetime | None = None
    unreachable: bool = False  # VK refuses the bot's private messages to them
    screen_name: str = ""
    name: str = ""
    role: Role | None = None
    problem: str = ""
