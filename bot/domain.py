"""The product's nouns: campaigns, steps, schools, people and answers.

Nothing here knows about VK or any other messenger: a MAX adapter uses the same models.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a time zone")
    return value


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]


class StepKind(StrEnum):
    CONFIRM = "confirm"
    COUNT = "count"


class StepState(StrEnum):
    """What a school said about a step; `NONE` means it has not answered yet."""

    DONE = "done"
    IN_PROGRESS = "in_progress"
    PROBLEM = "problem"
    NONE = "none"
    # Staff marked the step as not applying to the school (issue 17): it counts as done for
    # the school and is left out of the step's totals.
    NOT_REQUIRED = "not_required"

    @property
    def finished(self) -> bool:
        """Nothing more is owed for the step."""
        return self in (StepState.DONE, StepState.NOT_REQUIRED)


class Role(StrEnum):
    HEAD = "head"
    DEPUTY = "deputy"


class AnswerSource(StrEnum):
    BUTTON = "button"
    TEXT = "text"
    ADMIN = "admin"


class CountPart(_Frozen):
    """One counted quantity of a count step, e.g. teachers connected of all teachers."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    title: str = Field(min_length=1, max_length=60)
    aliases: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.key, self.title.casefold(), *(a.casefold() for a in self.aliases))


class Step(_Frozen):
    id: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,15}$")
    title: str = Field(min_length=1, max_length=1000)
    short_title: str = Field(min_length=1, max_length=60)
    kind: StepKind = StepKind.CONFIRM
    parts: tuple[CountPart, ...] = ()
    # "chat_membership": the bot checks it itself — the school's people are in a heads chat.
    verified_by: Literal["chat_membership"] | None = None
    # Who confirms the step: every school's head ("heads", item 3 of order No. 47) or the
    # administration's own staff ("staff", item 2), each staff member for themselves.
    audience: Literal["heads", "staff"] = "heads"

    @model_validator(mode="after")
    def _parts_match_kind(self) -> Step:
        # Russian: `confirmbot check-config` shows these to the district's IT person.
        if self.kind is StepKind.COUNT and not self.parts:
            raise ValueError(f"пункт {self.id}: у пункта count должна быть хотя бы одна часть")
        if self.kind is StepKind.CONFIRM and self.parts:
            raise ValueError(f"пункт {self.id}: у пункта confirm не бывает частей")
        keys = [p.key for p in self.parts]
        if len(set(keys)) != len(keys):
            raise ValueError(f"пункт {self.id}: ключи частей повторяются")
        return self


# How heads say a step's state, as they type it on a phone. Folded to lower case with «ё» as
# «е»; a word ending in `*` takes any ending («выполн*»: выполнено, выполнили, выполнены); words
# with spaces are a phrase. Where two entries match, the longer one wins («выполня*», in
# progress, over «выполн*», done). A campaign file's `[words]` adds to these.
DEFAULT_DONE_WORDS = (
    # Whole words too: a typo in one of them («выпонено», «сдклано») is still understood.
    "выполнено",
    "выполнен",
    "выполнена",
    "выполнены",
    "выполнили",
    "сделано",
    "сделали",
    "готово",
    "исполнено",
    "завершено",
    "выпол*",
    "исполн*",
    "сделан*",
    "сделал*",
    "готов*",
    "заверш*",
    "закончил*",
    "закончен*",
    "окончен*",
    "да",
    "done",
    "✅",
    "✔",
    "☑",
)
DEFAULT_IN_PROGRESS_WORDS = (
    "выполняется",
    "в работе",
    "вработе",
    "в процесс*",
    "впроцесс*",
    "процесс*",
    "выполня*",
    "выполним",
    "выполнит*",
    "исполня*",
    "сделаем",
    "делаем",
    "делаю*",
    "делает*",
    "доделыва*",
    "доделаем",
    "работаем",
    "работаю*",
    "занимаемся",
    "готовим*",
    "готовит*",
    "готовл*",
    "заверша*",
    "начали",
    "начато",
    "начата",
    "идет",
    "будет*",
    "будем",
    "будут",
    "частично",
    "почти",
    "не полностью",
    "не до конца",
    "не все",
    "in progress",
    "⏳",
)
DEFAULT_PROBLEM_WORDS = (
    "проблема",
    "проблемы",
    "проблем*",
    "не можем",
    "не может",
    "не могут",
    "не могу",
    "не могли",
    "не смог*",
    "не получа*",
    "не уда*",
    "не выходит",
    "не работа*",
    "невозможно",
    "нет возможности",
    "трудност*",
    "сложност*",
    "затруднен*",
    "problem",
    "⚠",
)
# Words that turn a state around: «не выполнено», «ещё не сделали», «нет», «без проблем».
DEFAULT_NEGATIONS = ("не", "нет", "ни", "неа", "без", "никаких", "никакой", "no", "not")
# A message with one of these before its step, or with «?», asks rather than answers.
DEFAULT_QUESTION_WORDS = (
    "что",
    "чего",
    "как",
    "какие",
    "какой",
    "какая",
    "каким",
    "какого",
    "когда",
    "где",
    "зачем",
    "почему",
    "куда",
    "подскажите",
    "подскажи",
    "объясните",
    "поясните",
    "уточните",
    "расскажите",
    "разъясните",
)

_Word = Annotated[str, Field(min_length=1, max_length=60)]


def _fold_words(words: tuple[str, ...]) -> tuple[str, ...]:
    folded = (" ".join(w.casefold().replace("ё", "е").split()) for w in words)
    return tuple(dict.fromkeys(w for w in folded if w and w != "*"))


FoldedWords = Annotated[tuple[_Word, ...], AfterValidator(_fold_words)]


class AnswerWords(_Frozen):
    """The words of each state, the negations and the question words of a campaign."""

    done: FoldedWords = DEFAULT_DONE_WORDS
    in_progress: FoldedWords = DEFAULT_IN_PROGRESS_WORDS
    problem: FoldedWords = DEFAULT_PROBLEM_WORDS
    negations: FoldedWords = DEFAULT_NEGATIONS
    questions: FoldedWords = DEFAULT_QUESTION_WORDS

    def states(self) -> dict[StepState, tuple[str, ...]]:
        return {
            StepState.DONE: self.done,
            StepState.IN_PROGRESS: self.in_progress,
            StepState.PROBLEM: self.problem,
        }


class Campaign(_Frozen):
    """An order whose steps every school must confirm by the deadline."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=500)
    number: str = Field(min_length=1, max_length=32)
    date: dt.date
    issuer: str = ""
    deadline: AwareDatetime
    timezone: str
    steps: tuple[Step, ...] = Field(min_length=1)
    words: AnswerWords = AnswerWords()
    # Person ids of the staff who confirm the "staff" steps; empty: every configured admin.
    staff: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _unique_steps(self) -> Campaign:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("id пунктов повторяются")
        if not any(s.audience == "heads" for s in self.steps):
            raise ValueError('нет ни одного пункта руководителям школ (audience = "heads")')
        for step in self.steps:
            if step.audience == "staff" and (
                step.kind is not StepKind.CONFIRM or step.verified_by
            ):
                raise ValueError(
                    f"пункт {step.id}: пункты сотрудникам — только confirm, без verified_by"
                )
        return self

    @property
    def staff_steps(self) -> tuple[Step, ...]:
        """The steps the administration's own staff confirm, each for themselves."""
        return tuple(s for s in self.steps if s.audience == "staff")

    def for_heads(self) -> Campaign:
        """The order as school heads see it: their steps only (cards, totals, reminders)."""
        if not self.staff_steps:
            return self
        return self.model_copy(
            update={"steps": tuple(s for s in self.steps if s.audience == "heads")}
        )

    def for_staff(self) -> Campaign:
        """The staff's steps as a campaign of their own, for reading their answers."""
        return self.model_copy(update={"steps": self.staff_steps})

    def step(self, step_id: str) -> Step | None:
        for step in self.steps:
            if step.id == step_id:
                return step
        return None


class School(_Frozen):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=300)


class Person(_Frozen):
    person_id: int = Field(gt=0)
    school_id: str
    full_name: str = Field(min_length=1, max_length=200)
    role: Role


class Count(_Frozen):
    """`done` of `total` for one part of a count step."""

    done: int = Field(ge=0, le=10_000_000)
    total: int = Field(ge=0, le=10_000_000)

    @model_validator(mode="after")
    def _not_over_total(self) -> Count:
        if self.done > self.total:
            raise ValueError("done exceeds total")
        return self

    @property
    def complete(self) -> bool:
        return self.done == self.total


class Answer(_Frozen):
    """One answer of a school about a step, as recorded; the history is all of them."""

    campaign_id: str
    school_id: str
    step_id: str
    state: StepState
    counts: dict[str, Count] = Field(default_factory=dict)
    reason: str = Field(default="", max_length=500)
    answered_by: int
    answered_at: AwareDatetime
    late: bool = False
    source: AnswerSource
    origin: str = Field(default="", max_length=200)

    def counts_text(self) -> str:
        """`teachers=45/50;pupils=380/412`, the report's `value` column."""
        return ";".join(f"{k}={c.done}/{c.total}" for k, c in self.counts.items())
