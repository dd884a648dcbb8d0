"""Heads are understood (issue 12): answers as people type them on a phone, never silence,
problems that ask why once, and the choice of school for a person of two schools.

The corpus (`tests/data/answers_corpus.toml`) and the properties run through the real rules
the way `tests/test_properties.py` runs them: `build_app`'s composition on a real SQLite file,
each message handled in one transaction with its replies written to the outbox, no VK. The
choice of school runs end to end over the emulator as well.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import texts
from bot.actions import Action, Edit, Incoming, Reply, SendTo
from bot.app import App, build_app
from bot.campaign import default_campaign_path, load_campaign
from bot.clock import FakeClock
from bot.config import DepartmentConfig
from bot.domain import Campaign, Person, Role, School, StepState
from bot.keyboards import Keyboard
from bot.parsing import AnswerError, read
from bot.payloads import encode
from bot.sandbox import ADMIN_CHAT, HEADS_CHAT, Sandbox, sandbox_config
from bot.vk import CHAT_PEER_START, is_addressed
from tests.conftest import ADMIN, CONTROLLER, STRANGER, deputy_of, district, head_of

# The order as heads see it: item 3 (item 2 is the staff's own, tests/test_orders.py).
CAMPAIGN = load_campaign(default_campaign_path()).for_heads()
CORPUS = tomllib.loads(
    (Path(__file__).parent / "data" / "answers_corpus.toml").read_text(encoding="utf-8")
)["case"]
GROUP_ID = 123
# The department as the sandbox config names it: [department] left at its defaults.
DEPT = DepartmentConfig()
# A head of s1 who is also the deputy of s2.
TWO_SCHOOLS = 550_001


# --- the bot without VK ------------------------------------------------------------------------


@dataclass
class World:
    runner: asyncio.Runner
    app: App
    clock: FakeClock
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def message(
        self, user: int, text: str, *, peer: int | None = None, attachments: bool = False
    ) -> Incoming:
        """As bot.vk.incoming_message builds it from a VK message_new."""
        where = user if peer is None else peer
        return Incoming(
            user_id=user,
            peer_id=where,
            in_chat=where >= CHAT_PEER_START,
            text=text,
            event_id=f"m{next(self.ids)}",
            conversation_message_id=next(self.ids),
            addressed=is_addressed(text, where, GROUP_ID),
            attachments=attachments,
        )

    def press(self, user: int, payload: Any, *, peer: int | None = None) -> Incoming:
        return Incoming(
            user_id=user,
            peer_id=user if peer is None else peer,
            in_chat=peer is not None and peer >= CHAT_PEER_START,
            payload=payload if isinstance(payload, dict) else None,
            event_id=f"e{next(self.ids)}",
            callback_id=f"cb{next(self.ids)}",
            is_callback=True,
            conversation_message_id=next(self.ids),
        )

    async def _deliver(self, msg: Incoming) -> list[Action]:
        async with self.app.db.transaction():
            if msg.is_callback:
                actions = await self.app.flow.on_callback(msg)
            else:
                actions = await self.app.flow.on_message(msg)
            await self.app.pipeline.respond(msg, actions)
        return actions

    def say(self, user: int, text: str, **kwargs: Any) -> list[Action]:
        return self.run(self._deliver(self.message(user, text, **kwargs)))

    def click(self, user: int, payload: Any, **kwargs: Any) -> list[Action]:
        return self.run(self._deliver(self.press(user, payload, **kwargs)))

    def current(self, school_id: str) -> dict[str, Any]:
        return self.run(self.app.repos.answers.current_for_school(CAMPAIGN.id, school_id))

    def history(self) -> list[tuple[str, str, str, str]]:
        answers = self.run(self.app.repos.answers.history(CAMPAIGN.id))
        return [(a.school_id, a.step_id, a.state.value, a.reason) for a in answers]

    def tick(self) -> None:
        self.run(self.app.scheduler.tick())


@contextmanager
def world(
    tmp: Path, schools: int = 3, campaign: Campaign | None = None, **bot: Any
) -> Iterator[World]:
    config = sandbox_config(
        tmp, "http://127.0.0.1:9/method/", admins=[ADMIN], controller=CONTROLLER
    )
    if bot:
        config = config.model_copy(update={"bot": config.bot.model_copy(update=bot)})
    clock = FakeClock(CAMPAIGN.deadline - dt.timedelta(days=3))
    with asyncio.Runner() as runner:
        app = runner.run(build_app(config, clock=clock, campaign=campaign or CAMPAIGN))
        try:
            found, people = district(schools)
            people += (
                []
                if schools < 2
                else [
                    Person(
                        person_id=TWO_SCHOOLS,
                        school_id="s1",
                        full_name="Директор Двух",
                        role=Role.HEAD,
                    ),
                    Person(
                        person_id=TWO_SCHOOLS,
                        school_id="s2",
                        full_name="Директор Двух",
                        role=Role.DEPUTY,
                    ),
                ]
            )
            runner.run(app.repos.roster.apply(found, people, clock.now()))
            yield World(runner, app, clock)
        finally:
            runner.run(app.close())


def replies(actions: list[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Reply | Edit)]


def notices(actions: list[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendTo) and a.peer_id == ADMIN_CHAT]


def keyboard_of(actions: list[Action], text: str) -> Keyboard | None:
    return next(a.keyboard for a in actions if isinstance(a, Reply | Edit) and a.text == text)


# --- the corpus --------------------------------------------------------------------------------


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 150
    negations = [c for c in CORPUS if read(c["text"], CAMPAIGN).problems]
    several = [c for c in CORPUS if len(c["stored"]) > 1]
    questions = [c for c in CORPUS if str(c.get("reply", "")).startswith("question")]
    assert len(negations) >= 20
    assert len(several) >= 15
    assert len(questions) >= 8


@pytest.fixture(scope="module")
def corpus_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("corpus"), schools=len(CORPUS)) as w:
        yield w


def _expected_reply(w: World, case: dict[str, Any], school: School, said: str) -> str:
    """The text `reply` names, made by the same functions the rules use."""
    kind, _, step_id = str(case["reply"]).partition(" ")
    step = CAMPAIGN.step(step_id)
    reading = read(said, CAMPAIGN)
    if kind == "receipt":
        status = w.run(w.app.service.school_status(school))
        answers = [(CAMPAIGN.step(a.step_id), status.answers[a.step_id]) for a in reading.answers]
        if len(answers) == 1:
            return texts.receipt(status, answers[0][0], answers[0][1], w.clock.now())  # type: ignore[arg-type]
        return texts.received_many(status, answers, w.clock.now())  # type: ignore[arg-type]
    if kind == "card":
        return texts.card(w.run(w.app.service.school_status(school)), w.clock.now())
    if kind == "which_step":
        return texts.state_without_step(reading.said, CAMPAIGN.steps[0])
    if kind == "unknown":
        return texts.answer_error(reading.problems[0], CAMPAIGN)
    assert step is not None, case
    if kind == "question":
        return texts.about_step(CAMPAIGN, step)
    if kind == "numbers":
        return texts.step_prompt(CAMPAIGN, school, step)
    if kind == "reason":
        return texts.ASK_REASON.format(step=step.id)
    if kind == "not_done":
        return texts.not_done(step)
    if kind == "no_state":
        problem = next(p for p in reading.problems if p.step_id == step.id)
        return texts.no_state_for_step(step.id, problem.said)
    raise AssertionError(f"no such reply kind: {kind}")


@pytest.mark.parametrize(
    ("n", "case"),
    list(enumerate(CORPUS, start=1)),
    ids=[f"{i:03d} {c['text'][:40]}" for i, c in enumerate(CORPUS, start=1)],
)
def test_corpus(corpus_world: World, n: int, case: dict[str, Any]) -> None:
    """Each message from its own head, nothing answered before (but its `before`)."""
    w = corpus_world
    head, school = head_of(n), School(id=f"s{n}", name=f"МКОУ «СОШ №{n}»")
    for earlier in case.get("before", []):
        assert replies(w.say(head, earlier)), earlier
    actions = w.say(head, case["text"])
    said = replies(actions)
    # Never silence: every private message of a known person gets an answer.
    assert said, case["text"]
    current = w.current(school.id)
    assert {step: a.state.value for step, a in current.items()} == case["stored"], said
    for step, counts in case.get("counts", {}).items():
        assert current[step].counts_text() == counts
    for step, reason in case.get("reason", {}).items():
        assert current[step].reason == reason
    if "reply" in case:
        expected = _expected_reply(w, case, school, case["text"])
        assert expected in said, f"{expected!r} not in {said!r}"


# --- a negation is never stored as done ---------------------------------------------------------

DONE_WORDS = [
    "выполнено",
    "выполнен",
    "выполнена",
    "выполнены",
    "выполнили",
    "сделано",
    "сделали",
    "готово",
    "готов",
    "исполнено",
    "завершено",
    "Выполнено",
    "ВЫПОЛНЕНО",
    "выполненно",
    "✅",
]
NEGATIONS = ["не", "ещё не", "еще не", "пока не", "нет, не", "пока что не", "совсем не", "НЕ"]
REFS = ["{s}", "{s}", "п. {s}", "п.{s}", "пункт {s}", "по пункту {s}", "{c}", "Пункт {c}"]
AROUND = ["", "Добрый день! ", "Здравствуйте, ", "🙂 ", "\u200b", "Уважаемые коллеги, "]
ENDS = ["", ".", "!", " 🙁", "\u200b", ", извините", "…", " к сожалению"]
CONFIRM_STEPS = [s.id for s in CAMPAIGN.steps if s.kind.value == "confirm"]


@st.composite
def negated_answers(draw: st.DrawFn) -> tuple[str, str]:
    """A message that says a step is NOT done, in one of the ways people say it, maybe beside
    another step that is done: `(text, the negated step)`."""
    step = draw(st.sampled_from([s.id for s in CAMPAIGN.steps]))
    ref = draw(st.sampled_from(REFS)).format(s=step, c=step.replace(".", ","))
    word = draw(st.sampled_from(DONE_WORDS))
    negation = draw(st.sampled_from(NEGATIONS))
    form = draw(st.integers(0, 5))
    if form == 0:
        said = f"{ref} {negation} {word}"
    elif form == 1:
        said = f"{negation.capitalize()} {word} {ref}"
    elif form == 2:
        said = f"{ref}: {negation}{word}" if negation == "не" else f"{ref} {negation} {word}"
    elif form == 3:
        said = f"{ref} {draw(st.sampled_from(['нет', 'пока нет', 'ещё нет', 'Нет']))}"
    elif form == 4:
        said = f"{ref} {word}? {draw(st.sampled_from(['Нет', 'нет', 'не']))}"
    else:
        said = f"{ref} {negation} {word}, {draw(st.sampled_from(['но работаем', 'увы', 'ждём']))}"
    text = draw(st.sampled_from(AROUND)) + said + draw(st.sampled_from(ENDS))
    others = [s for s in CONFIRM_STEPS if s != step]
    if draw(st.booleans()):
        other = draw(st.sampled_from(others))
        text = draw(st.sampled_from([f"{other} выполнено, {text}", f"{text}\n{other} выполнено"]))
    if draw(st.booleans()):
        text = text.replace(step, "".join(chr(ord(c) + 0xFEE0) for c in step), 1)
    return text, step


_SETTINGS = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(case=negated_answers())
def test_a_negation_is_never_read_as_done(case: tuple[str, str]) -> None:
    text, step = case
    reading = read(text, CAMPAIGN)
    assert all(a.step_id != step or a.state is not StepState.DONE for a in reading.answers), (
        reading
    )
    # And it is not silently dropped: the step is named in what the bot will say.
    named = {a.step_id for a in reading.answers} | {p.step_id for p in reading.problems}
    assert step in named | set(reading.questions), reading


def test_a_negation_is_never_stored_as_done(tmp_path: Path) -> None:
    """The same messages through the real rules: never a `done` row for the negated step."""
    with world(tmp_path, schools=1) as w:
        seen: list[str] = []

        @settings(_SETTINGS, max_examples=150)
        @given(case=negated_answers())
        def check(case: tuple[str, str]) -> None:
            text, step = case
            before = len(w.history())
            said = replies(w.say(head_of(1), text))
            assert said, text
            added = w.history()[before:]
            assert ("s1", step, "done") not in [row[:3] for row in added], (text, added)
            seen.append(text)
            w.run(w.app.db.execute("DELETE FROM pending_inputs"))

        check()
        assert len(seen) == 150


# --- never silence -----------------------------------------------------------------------------


def test_a_sticker_is_answered_with_what_the_bot_reads_and_the_card(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        said = replies(w.say(head_of(1), "", attachments=True))
        status = w.run(w.app.service.school_status(School(id="s1", name="МКОУ «СОШ №1»")))
        assert said == [texts.attachments_only(CAMPAIGN), texts.card(status, w.clock.now())]
        assert w.history() == []


def test_a_question_gets_the_steps_own_words_and_its_buttons(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        actions = w.say(head_of(1), "что нужно сделать по 3.2?")
        step = CAMPAIGN.steps[1]
        answer = texts.about_step(CAMPAIGN, step)
        assert replies(actions) == [answer]
        assert step.title.rstrip(".") in answer
        keyboard = keyboard_of(actions, answer)
        assert keyboard is not None
        assert "Проблема" in [b.label for b in keyboard.buttons()]
        assert w.history() == []


def test_not_understood_gives_an_example_from_the_persons_own_words(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(head_of(1), "3.1 выполнено")
        said = replies(w.say(head_of(1), "Готово"))
        # The first step still owed, with the word they wrote.
        assert said[0] == texts.state_without_step("готово", CAMPAIGN.steps[1])
        assert "«3.2 готово»" in said[0]
        assert said[1].startswith("🏫")  # and the card with its buttons
        actions = w.say(head_of(1), "3.4 может быть")
        text = texts.no_state_for_step("3.4", "может быть")
        assert replies(actions) == [text]
        keyboard = keyboard_of(actions, text)
        assert keyboard is not None
        assert "Выполнено" in [b.label for b in keyboard.buttons()]


def test_a_stranger_is_told_once_a_day(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        assert replies(w.say(STRANGER, "3.1 выполнено")) == [texts.stranger(DEPT)]
        assert replies(w.say(STRANGER, "алло")) == []
        assert replies(w.say(STRANGER, "статус")) == []
        assert replies(w.say(STRANGER, "", attachments=True)) == []
        # Another conversation is told on its own.
        assert replies(w.say(STRANGER, "/статус", peer=HEADS_CHAT)) == [texts.stranger(DEPT)]
        w.clock.advance(23 * 3600)
        assert replies(w.say(STRANGER, "алло")) == []
        w.clock.advance(3600)
        assert replies(w.say(STRANGER, "алло")) == [texts.stranger(DEPT)]
        assert w.history() == []


def test_every_private_message_of_a_known_person_is_answered(tmp_path: Path) -> None:
    texts_to_try = [
        "",
        "?",
        "...",
        "🙂",
        "ок",
        "нет",
        "да",
        "Спасибо!",
        "3.1",
        "3.2",
        "не понял",
        "Выполнено",
        "3.9",
        "3.1 может быть",
    ]
    with world(tmp_path) as w:
        for who in (head_of(1), deputy_of(2), TWO_SCHOOLS, ADMIN, CONTROLLER):
            for text in texts_to_try:
                assert replies(w.say(who, text)), (who, text)


# --- problems ask why, once --------------------------------------------------------------------


def _problem_button(step: str = "3.4", school: str = "s1") -> dict[str, str]:
    return {"a": "ans", "c": CAMPAIGN.id, "sc": school, "s": step, "st": "problem"}


def test_a_problem_by_button_asks_why_and_tells_staff_once_with_the_reason(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        actions = w.click(head_of(1), _problem_button())
        assert texts.ASK_REASON.format(step="3.4") in replies(actions)
        assert notices(actions) == []  # not yet: the reason is on its way
        actions = w.say(head_of(1), "нет интернета в кабинетах")
        [notice] = notices(actions)
        assert "нет интернета в кабинетах" in notice
        assert w.current("s1")["3.4"].reason == "нет интернета в кабинетах"
        # The prompt is gone: the next text is read afresh, and staff hear nothing more.
        actions = w.say(head_of(1), "Спасибо")
        assert notices(actions) == []
        assert w.current("s1")["3.4"].reason == "нет интернета в кабинетах"
        w.clock.advance(2 * 3600)
        w.tick()
        assert len(_problem_notices_sent(w)) == 1


def test_a_typed_problem_asks_why_too(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        actions = w.say(head_of(1), "3.4 проблема")
        assert texts.ASK_REASON.format(step="3.4") in replies(actions)
        assert notices(actions) == []
        actions = w.say(head_of(1), "3.4: сферум не ставится на старые телефоны")
        [notice] = notices(actions)
        assert "сферум не ставится на старые телефоны" in notice
        assert texts.NO_REASON_AFTER_ASKING not in notice


def test_a_problem_with_its_reason_goes_to_staff_at_once_and_never_says_the_bot_asked(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        actions = w.say(head_of(1), "3.4 проблема нет интернета")
        [notice] = notices(actions)
        assert "нет интернета" in notice
        assert "спрашивал" not in notice
        assert "спросил" not in notice
        assert texts.ASK_REASON.format(step="3.4") not in replies(actions)
        # Two problems without reasons: the bot asks about one; the other goes to staff now,
        # and says only that there is no reason.
        actions = w.say(head_of(2), "3.4 проблема, 3.5 проблема")
        assert replies(actions).count(texts.ASK_REASON.format(step="3.4")) == 1
        [notice] = notices(actions)
        assert "3.5" in notice
        assert texts.NO_REASON in notice
        assert "спрашивал" not in notice


def test_any_button_command_or_answer_ends_the_prompt_and_staff_hear_once(
    tmp_path: Path,
) -> None:
    card = {"a": "card", "c": CAMPAIGN.id, "sc": "s1"}
    with world(tmp_path) as w:
        for end in ("button", "command", "answer"):
            w.click(head_of(1), _problem_button())
            if end == "button":
                actions = w.click(head_of(1), card)
            elif end == "command":
                actions = w.say(head_of(1), "помощь")
            else:
                actions = w.say(head_of(1), "3.1 выполнено")
            [notice] = notices(actions)
            assert texts.NO_REASON_AFTER_ASKING in notice, end
            # Ended: a later text is not the reason, and nobody is told again.
            actions = w.say(head_of(1), "спасибо")
            assert notices(actions) == []
            assert w.current("s1")["3.4"].reason == ""
        # An answer to the same step replaces the problem: nothing to tell.
        w.click(head_of(1), _problem_button())
        actions = w.say(head_of(1), "3.4 выполнено")
        assert notices(actions) == []
        assert w.current("s1")["3.4"].state is StepState.DONE


def test_a_prompt_expires_and_staff_get_the_problem_without_a_reason(tmp_path: Path) -> None:
    """The issue's story: «Проблема», then «выполнено», then «Спасибо» two days later."""
    with world(tmp_path) as w:
        w.click(head_of(1), _problem_button())
        w.clock.advance(59 * 60)
        w.tick()
        assert _problem_notices_sent(w) == []
        w.clock.advance(2 * 60)
        w.tick()
        [notice] = _problem_notices_sent(w)
        assert texts.NO_REASON_AFTER_ASKING in notice
        w.tick()
        assert len(_problem_notices_sent(w)) == 1
        w.say(head_of(1), "3.4 выполнено")
        w.clock.advance(2 * 24 * 3600)
        actions = w.say(head_of(1), "Спасибо")
        assert w.current("s1")["3.4"].state is StepState.DONE
        assert w.current("s1")["3.4"].reason == ""
        assert notices(actions) == []


def test_an_expired_prompt_read_afresh_tells_staff_if_the_scheduler_has_not(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        w.say(head_of(1), "3.4 проблема")
        w.clock.advance(3 * 3600)
        actions = w.say(head_of(1), "Спасибо")
        [notice] = notices(actions)
        assert texts.NO_REASON_AFTER_ASKING in notice
        assert w.current("s1")["3.4"].reason == ""
        w.tick()
        assert _problem_notices_sent(w) == [notice]


def test_the_wait_is_configurable(tmp_path: Path) -> None:
    with world(tmp_path, prompt_expires_after=dt.timedelta(minutes=10)) as w:
        w.say(head_of(1), "3.4 проблема")
        w.clock.advance(11 * 60)
        w.tick()
        assert len(_problem_notices_sent(w)) == 1


def test_a_problem_no_longer_a_problem_is_not_passed_on_when_its_prompt_expires(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        w.say(head_of(1), "3.4 проблема")
        # The deputy sets it done meanwhile; the head's prompt is left to expire.
        w.click(deputy_of(1), {**_problem_button(), "st": "done"})
        w.clock.advance(2 * 3600)
        w.tick()
        assert _problem_notices_sent(w) == []


def test_in_a_chat_the_prompt_takes_only_messages_addressed_to_the_bot(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(head_of(1), "/3.4 проблема", peer=HEADS_CHAT)
        assert w.say(head_of(1), "коллеги, у кого есть интернет?", peer=HEADS_CHAT) == []
        assert w.current("s1")["3.4"].reason == ""
        actions = w.say(head_of(1), "/нет интернета", peer=HEADS_CHAT)
        assert w.current("s1")["3.4"].reason == "нет интернета"
        assert len(notices(actions)) == 1


def _problem_notices_sent(w: World) -> list[str]:
    rows = w.run(w.app.outbox.repo.pending_messages(limit=1000))
    return [
        r.message.text for r in rows if "⚠️" in r.message.text and r.message.to[0].id == ADMIN_CHAT
    ]


# --- two schools -------------------------------------------------------------------------------


def test_two_schools_a_typed_answer_is_kept_until_the_school_is_chosen(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        actions = w.say(TWO_SCHOOLS, "3.1 выполнено")
        question = texts.choose_school_for_answer("3.1 выполнено")
        assert replies(actions) == [question]
        keyboard = keyboard_of(actions, question)
        assert keyboard is not None
        assert [b.label for b in keyboard.buttons()] == ["МКОУ «СОШ №1»", "МКОУ «СОШ №2»"]
        assert w.history() == []  # nothing dropped, nothing stored yet
        # Another answer before the choice replaces the kept one.
        w.say(TWO_SCHOOLS, "3.1, 3.3 выполнены")
        payload = keyboard.buttons()[1].payload
        actions = w.click(TWO_SCHOOLS, payload.model_dump())
        assert w.history() == [("s2", "3.1", "done", ""), ("s2", "3.3", "done", "")]
        assert any(t.startswith("Принято") for t in replies(actions))
        # Chosen once: the button again only opens that school's card.
        w.click(TWO_SCHOOLS, payload.model_dump())
        assert len(w.history()) == 2


def test_two_schools_questions_and_problems_need_no_school(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        said = replies(w.say(TWO_SCHOOLS, "что нужно сделать по 3.2?"))
        assert said == [texts.about_step(CAMPAIGN, CAMPAIGN.steps[1])]
        said = replies(w.say(TWO_SCHOOLS, "3.1 может быть"))
        assert said == [texts.no_state_for_step("3.1", "может быть")]
        # A problem needs a school; chosen, it asks why for that school.
        w.say(TWO_SCHOOLS, "3.4 проблема")
        kept = {"a": "kept", "c": CAMPAIGN.id, "sc": "s1"}
        actions = w.click(TWO_SCHOOLS, kept)
        assert texts.ASK_REASON.format(step="3.4") in replies(actions)
        actions = w.say(TWO_SCHOOLS, "нет компьютеров")
        assert w.current("s1")["3.4"].reason == "нет компьютеров"
        assert len(notices(actions)) == 1


def test_two_schools_a_kept_answer_is_not_anyone_elses(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.say(TWO_SCHOOLS, "3.5 выполнено")
        # Someone of school 2 only presses a button made for the other person: their card.
        kept = {"a": "kept", "c": CAMPAIGN.id, "sc": "s2"}
        actions = w.click(head_of(2), kept)
        assert w.history() == []
        assert any(t.startswith("🏫 МКОУ «СОШ №2»") for t in replies(actions))
        actions = w.click(head_of(1), {**kept, "sc": "s2"})
        assert w.history() == []


async def test_two_schools_choice_end_to_end(sandbox: Sandbox) -> None:
    """Over HTTP to the emulator, with the real vkbottle bot: the choice by button."""
    emu, app = sandbox.emulator, sandbox.app
    schools, people = district()
    people += [
        Person(person_id=TWO_SCHOOLS, school_id="s1", full_name="Директор Двух", role=Role.HEAD),
        Person(person_id=TWO_SCHOOLS, school_id="s3", full_name="Директор Двух", role=Role.DEPUTY),
    ]
    await app.repos.roster.apply(schools, people, app.clock.now())
    sandbox.say(TWO_SCHOOLS, "Добрый день! Пункт 3.1 выполнен, 3.4 в работе")
    ask = await emu.wait_for_message(TWO_SCHOOLS, contains="несколько школ")
    assert ask.labels == ["МКОУ «СОШ №1»", "МКОУ «СОШ №3»"]
    assert await app.repos.answers.history(app.campaign.id) == []
    emu.press(TWO_SCHOOLS, ask, "МКОУ «СОШ №3»")
    receipt = await emu.wait_for_message(TWO_SCHOOLS, contains="Принято")
    assert "3.1" in receipt.text
    assert "3.4" in receipt.text
    await emu.wait_for(lambda: "СОШ №3" in ask.text and ask.edited)
    stored = await app.repos.answers.history(app.campaign.id)
    assert [(a.school_id, a.step_id, a.state) for a in stored] == [
        ("s3", "3.1", StepState.DONE),
        ("s3", "3.4", StepState.IN_PROGRESS),
    ]


async def test_a_sticker_end_to_end(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    emu.push_message_new(
        from_id=head_of(1), peer_id=head_of(1), text="", attachments=[{"type": "sticker"}]
    )
    await emu.wait_for_message(head_of(1), contains=texts.attachments_only(CAMPAIGN)[:30])
    card = await emu.wait_for_message(head_of(1), contains="🏫", count=1)
    assert card.labels


# --- registration codes as typed ---------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["{code}", "{lower}", "Регистрация: {code}", "регистрация, код {code}", "«{code}»"],
)
def test_a_registration_code_alone_or_after_a_colon(tmp_path: Path, typed: str) -> None:
    with world(tmp_path) as w:
        onboarding = w.app.flow.onboarding
        w.run(onboarding.issue_codes(["s2"], w.clock.now()))
        code = w.run(onboarding.registrations.codes())[0].code
        said = replies(w.say(812_345, typed.format(code=code, lower=code.lower())))
        assert said == [texts.REG_CHOOSE_ROLE.format(school="МКОУ «СОШ №2»")]


def test_a_code_alone_is_only_a_code_from_someone_not_yet_known(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        # A head typing something code-like is answered as a head.
        said = replies(w.say(head_of(1), "K7M4PQ"))
        assert not any(t == texts.reg_unknown(DEPT) for t in said)
        assert said


# --- the campaign file's words -----------------------------------------------------------------


def test_a_new_campaign_file_gets_the_default_words_and_adds_its_own(tmp_path: Path) -> None:
    path = tmp_path / "order.toml"
    path.write_text(
        """
[campaign]
id = "order_9"
title = "Об обеспечении горячим питанием"
number = "9"
date = 2024-01-10
issuer = "Управление"
deadline = 2024-01-20T18:00:00

[[steps]]
id = "1"
title = "организовать питание"
short_title = "Питание"

[[steps]]
id = "A2"
title = "назначить ответственного"
short_title = "Ответственный"

[words]
done = ["организовал*", "назначен*"]
""",
        encoding="utf-8",
    )
    campaign: Campaign = load_campaign(path)
    assert read("пункт 1 выполнено", campaign).answers[0].state is StepState.DONE
    assert read("1 организовали", campaign).answers[0].step_id == "1"
    assert read("a2 назначен", campaign).answers[0].step_id == "A2"
    assert read("А2 не назначен", campaign).answers == ()  # Cyrillic А is not Latin A
    assert read("a2 не назначен", campaign).problems[0].error is AnswerError.NOT_DONE
    # A bare number is a step only where a step is named.
    assert read("у нас 1 корпус", campaign).names_steps is False


def test_a_word_saying_two_states_is_a_campaign_error(tmp_path: Path) -> None:
    from bot.campaign import CampaignError

    text = (default_campaign_path().read_text(encoding="utf-8")).replace(
        'in_progress = ["подключаем*"', 'in_progress = ["подключил*", "подключаем*"'
    )
    path = tmp_path / "order.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert any("подключил*" in p and "words.in_progress" in p for p in caught.value.problems)


# --- the payload fits ---------------------------------------------------------------------------


def test_the_kept_answer_button_fits_vk() -> None:
    from bot.payloads import KeptAnswerPayload

    assert len(encode(KeptAnswerPayload(c="x" * 64, sc="y" * 64))) <= 255


# --- storage -----------------------------------------------------------------------------------


async def test_the_prompts_migration_keeps_what_was_awaited(tmp_path: Path) -> None:
    from storage.db import Database, bundled_migrations
    from storage.repositories import ConversationRepository

    path = tmp_path / "old.db"
    db = await Database.open(path, migrations=bundled_migrations()[:5])
    await db.execute(
        "INSERT INTO pending_inputs "
        "(vk_id, peer_id, campaign_id, school_id, step_id, kind, created_at) "
        "VALUES (1, 1, 'order_47', 's1', '3.4', 'reason', '2023-10-17T07:00:00+00:00')"
    )
    await db.close()
    db = await Database.open(path)
    try:
        pending = await ConversationRepository(db).pending_input(1, 1)
        assert pending is not None
        assert (pending.step_id, pending.kind, pending.text) == ("3.4", "reason", "")
    finally:
        await db.close()


def test_the_speaker_is_one_query(tmp_path: Path) -> None:
    """Who writes and what is awaited from them: one round trip on every typed answer."""
    from storage.db import Database

    with world(tmp_path) as w:
        w.say(head_of(1), "3.4 проблема")
        trips = 0
        original = Database._in_thread

        async def counting(self: Database, work: Any) -> Any:
            nonlocal trips
            trips += 1
            return await original(self, work)

        Database._in_thread = counting  # type: ignore[method-assign]
        try:
            speaker = w.run(w.app.service.speaker(head_of(1), head_of(1)))
        finally:
            Database._in_thread = original  # type: ignore[method-assign]
        assert trips == 1
        assert [m.school.id for m in speaker.memberships] == ["s1"]
        assert speaker.pending is not None
        assert (speaker.pending.kind, speaker.pending.step_id) == ("reason", "3.4")
