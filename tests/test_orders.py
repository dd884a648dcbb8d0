"""Several orders at once (issue 14): each message is fed through the real rules on a real
SQLite file (`tests.test_understanding.world`) with a second order added to the database as
`confirmbot campaign add` adds it; the checks are on the actions and on what is stored."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from bot import texts
from bot.actions import Action, SendFile, SendTo
from bot.campaign import default_campaign_path, load_campaign
from bot.domain import Campaign, Step, StepKind, StepState
from bot.keyboards import Keyboard
from bot.messages import Outgoing
from bot.payloads import (
    KeptOrderPayload,
    MyAnswerPayload,
    MyCardPayload,
    MyStepPayload,
    OpenCardPayload,
    Payload,
    decode,
)
from bot.sandbox import ADMIN_CHAT
from tests.conftest import ADMIN, head_of
from tests.test_understanding import CAMPAIGN, World, keyboard_of, replies, world

SECOND = Campaign(
    id="order_48",
    title="О проведении родительских собраний",
    number="48",
    date=dt.date(2023, 10, 17),
    deadline=CAMPAIGN.deadline + dt.timedelta(days=2),
    timezone=CAMPAIGN.timezone,
    steps=(
        Step(id="1", title="провести собрание", short_title="Собрание"),
        Step(id="3.1", title="разместить протокол", short_title="Протокол"),
    ),
)


def add_second(w: World) -> None:
    """As `confirmbot campaign add` does from another process; the bot's tick sees it."""
    # Nothing listens at the world's VK address: a summary's picture fails at once, not after
    # six retries.
    w.app.api.attempts = 1
    w.run(w.app.repos.campaigns.save(SECOND, w.clock.now() + dt.timedelta(seconds=1)))
    w.run(w.app.scheduler.tick())


def stored(w: World, campaign: Campaign, school: str) -> dict[str, StepState]:
    current = w.run(w.app.repos.answers.current_for_school(campaign.id, school))
    return {step: answer.state for step, answer in current.items()}


def tap(w: World, user: int, payload: Payload) -> list[Action]:
    return w.click(user, payload.model_dump())


def payloads(keyboard: Keyboard | None) -> list[object]:
    assert keyboard is not None
    return [button.payload for button in keyboard.buttons()]


def test_a_campaign_added_to_the_database_is_picked_up_by_the_running_bot(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as w:
        assert [d.campaign.id for d in w.app.orders.open()] == [CAMPAIGN.id]
        w.run(w.app.repos.campaigns.save(SECOND, w.clock.now() + dt.timedelta(seconds=1)))
        assert [d.campaign.id for d in w.app.orders.open()] == [CAMPAIGN.id]
        w.run(w.app.scheduler.tick())
        assert [d.campaign.id for d in w.app.orders.open()] == [CAMPAIGN.id, SECOND.id]


def test_an_answer_goes_to_the_one_open_order_that_has_its_step(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        said = replies(w.say(head_of(1), "1 выполнено"))
        assert stored(w, SECOND, "s1") == {"1": StepState.DONE}
        assert stored(w, CAMPAIGN, "s1") == {}
        assert said
        assert said[0].startswith("Принято")
        w.say(head_of(1), "3.4 в работе")
        assert stored(w, CAMPAIGN, "s1") == {"3.4": StepState.IN_PROGRESS}


def test_a_step_of_two_orders_is_kept_until_the_head_chooses_the_order(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        actions = w.say(head_of(1), "3.1 выполнено")
        asked = texts.choose_order_for_answer("3.1 выполнено")
        assert replies(actions) == [asked]
        assert payloads(keyboard_of(actions, asked)) == [
            KeptOrderPayload(c=CAMPAIGN.id),
            KeptOrderPayload(c=SECOND.id),
        ]
        assert stored(w, CAMPAIGN, "s1") == stored(w, SECOND, "s1") == {}
        chosen = tap(w, head_of(1), KeptOrderPayload(c=SECOND.id))
        assert replies(chosen)[0] == texts.answer_for_order("3.1 выполнено", SECOND)
        assert stored(w, SECOND, "s1") == {"3.1": StepState.DONE}
        assert stored(w, CAMPAIGN, "s1") == {}
        # Pressed again: nothing is kept any more, so nothing is stored twice.
        again = tap(w, head_of(1), KeptOrderPayload(c=CAMPAIGN.id))
        assert stored(w, CAMPAIGN, "s1") == {}
        assert replies(again)
        assert "Приказ № 47" in replies(again)[0]


def test_a_new_message_replaces_an_answer_kept_for_its_order(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.say(head_of(1), "3.1 выполнено")
        w.say(head_of(1), "3.4 выполнено")
        tap(w, head_of(1), KeptOrderPayload(c=SECOND.id))
        assert stored(w, SECOND, "s1") == {}
        assert stored(w, CAMPAIGN, "s1") == {"3.4": StepState.DONE}


def test_an_answer_may_name_its_order_outright(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.say(head_of(1), "48: 3.1 выполнено")
        w.say(head_of(2), "приказ 47 3.1 в работе")
        w.say(head_of(3), "№48 3.1 проблема нет протокола")
        assert stored(w, SECOND, "s1") == {"3.1": StepState.DONE}
        assert stored(w, CAMPAIGN, "s2") == {"3.1": StepState.IN_PROGRESS}
        assert stored(w, SECOND, "s3") == {"3.1": StepState.PROBLEM}
        assert stored(w, CAMPAIGN, "s1") == stored(w, SECOND, "s2") == {}


def test_the_card_lists_the_open_orders_with_what_each_still_needs(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.say(head_of(1), "1 выполнено")
        actions = w.say(head_of(1), "привет")
        card = next(t for t in replies(actions) if "По каким приказам" in t)
        assert card.startswith("🏫 МКОУ «СОШ №1»")
        assert "Приказ № 47" in card
        assert "Приказ № 48" in card
        assert "осталось 5 пунктов" in card
        assert "осталось 1 пункт" in card
        assert payloads(keyboard_of(actions, card)) == [
            OpenCardPayload(c=CAMPAIGN.id, sc="s1"),
            OpenCardPayload(c=SECOND.id, sc="s1"),
        ]
        # Its button opens that order's own card.
        one = replies(tap(w, head_of(1), OpenCardPayload(c=SECOND.id, sc="s1")))
        assert one[0].startswith("🏫")
        assert "Приказ № 48" in one[0]


def test_staff_see_every_open_order_and_name_one_for_details(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.say(head_of(1), "1 выполнено")
        overview = replies(w.say(ADMIN, "статус", peer=ADMIN_CHAT))
        assert len(overview) == 1
        assert "Открытые приказы: 2" in overview[0]
        assert "Приказ № 47" in overview[0]
        assert "Приказ № 48" in overview[0]
        assert replies(w.say(ADMIN, "приказы", peer=ADMIN_CHAT))[0].startswith("Открытые")
        one = replies(w.say(ADMIN, "статус 48", peer=ADMIN_CHAT))
        second = w.app.orders.named("48")
        assert second is not None
        status = w.run(second.service.district_status())
        assert one == [texts.district_status(status)]
        school = replies(w.say(ADMIN, "статус 48 s1", peer=ADMIN_CHAT))
        assert "s1" in school[0]
        assert "Собрание" in school[0]
        ask = replies(w.say(ADMIN, "должники", peer=ADMIN_CHAT))
        assert ask == [texts.name_the_order("должники", ["47", "48"])]
        debtors = replies(w.say(ADMIN, "должники 48", peer=ADMIN_CHAT))
        pending = w.run(second.service.pending_schools(texts.PENDING_LIST_LIMIT))
        assert debtors == [texts.pending(SECOND, pending.schools, pending.total, pending.owing)]
        assert "3.1 (нет ответа)" in debtors[0]
        assert "1 (нет ответа)" in debtors[0]


def test_staff_mark_goes_to_the_order_whose_step_it_names(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.say(ADMIN, "отметить s2 1 выполнено", peer=ADMIN_CHAT)
        assert stored(w, SECOND, "s2") == {"1": StepState.DONE}
        ambiguous = replies(w.say(ADMIN, "отметить s2 3.1 выполнено", peer=ADMIN_CHAT))
        assert ambiguous == [texts.name_the_order("отметить", ["47", "48"])]
        w.say(ADMIN, "отметить 47 s2 3.1 выполнено", peer=ADMIN_CHAT)
        assert stored(w, CAMPAIGN, "s2") == {"3.1": StepState.DONE}
        assert stored(w, SECOND, "s2") == {"1": StepState.DONE}


def test_a_closed_order_stops_its_reminders_and_refuses_its_buttons(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.run(w.app.repos.campaigns.close(SECOND.id, w.clock.now()))
        w.run(w.app.scheduler.tick())
        assert [d.campaign.id for d in w.app.orders.open()] == [CAMPAIGN.id]
        pressed = tap(w, head_of(1), OpenCardPayload(c=SECOND.id, sc="s1"))
        assert texts.order_closed_short(SECOND) in [getattr(a, "text", "") for a in pressed]
        # Past the closed order's deadline: no slot of it is written.
        w.clock.advance(dt.timedelta(days=6).total_seconds())
        assert w.run(w.app.scheduler.tick()), "the open order's slots are written"
        finished = w.run(w.app.repos.schedule.finished_slots(SECOND.id))
        assert finished == set()
        # Its data and status stay: staff may still ask for it by number.
        w.say(ADMIN, "статус 48", peer=ADMIN_CHAT)


def test_each_open_order_is_reminded_on_its_own_deadline(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.clock.advance(dt.timedelta(days=2, hours=12).total_seconds())
        w.run(w.app.scheduler.tick())
        first = w.run(w.app.repos.schedule.finished_slots(CAMPAIGN.id))
        second = w.run(w.app.repos.schedule.finished_slots(SECOND.id))
        assert first
        assert second


def test_with_no_open_order_heads_are_told_so(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        w.run(w.app.repos.campaigns.close(CAMPAIGN.id, w.clock.now()))
        w.run(w.app.scheduler.tick())
        assert replies(w.say(head_of(1), "3.1 выполнено")) == [texts.NO_OPEN_ORDERS]
        assert stored(w, CAMPAIGN, "s1") == {}
        overview = replies(w.say(ADMIN, "приказы", peer=ADMIN_CHAT))
        assert "Открытых приказов нет" in overview[0]
        assert "закрыт" in overview[0]


def test_a_step_kind_count_of_the_second_order_still_asks_for_numbers(tmp_path: Path) -> None:
    counted = SECOND.model_copy(
        update={
            "steps": (
                *SECOND.steps,
                Step(
                    id="5",
                    title="охват родителей",
                    short_title="Охват родителей",
                    kind=StepKind.COUNT,
                    parts=CAMPAIGN.steps[1].parts,
                ),
            )
        }
    )
    with world(tmp_path) as w:
        w.run(w.app.repos.campaigns.save(counted, w.clock.now() + dt.timedelta(seconds=1)))
        w.run(w.app.scheduler.tick())
        w.say(head_of(1), "5 выполнено")
        w.say(head_of(1), "педагоги 4 из 5 ученики 10 из 20")
        current = w.run(w.app.repos.answers.current_for_school(counted.id, "s1"))
        assert current["5"].counts["teachers"].done == 4


def queued(w: World) -> list[Outgoing]:
    return [r.message for r in w.run(w.app.outbox.repo.pending_messages(limit=10_000))]


def test_a_person_owing_in_two_orders_gets_one_reminder_listing_both(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        # The next morning: 47's «three days before», alone (moved out of the quiet hours).
        w.clock.advance(dt.timedelta(hours=9, minutes=30).total_seconds())
        w.run(w.app.scheduler.tick())
        before = {m.key for m in queued(w)}
        # Two mornings on: 47's «a day before» and 48's «three days before» fall together.
        w.clock.advance(dt.timedelta(days=2).total_seconds())
        w.say(head_of(2), "1 выполнено")  # s2 owes nothing more in order 48's step 1
        w.run(w.app.scheduler.tick())
        new = [m for m in queued(w) if m.key not in before]
        private = [m for m in new if ":private:" in m.key]
        to_head_1 = [m for m in private if head_of(1) in {a.id for a in m.to}]
        assert len(to_head_1) == 1, [m.key for m in private]
        text = to_head_1[0].text
        assert "Приказ № 47" in text
        assert "Приказ № 48" in text
        assert "3.1" in text
        assert "Собрание" in text
        rows = to_head_1[0].buttons or ()
        assert [decode(b.payload) for row in rows for b in row] == [
            OpenCardPayload(c=CAMPAIGN.id),
            OpenCardPayload(c=SECOND.id),
        ]
        # s2 owes 48's 3.1 still, so it is reminded of both as well, with 48's 3.1 only.
        to_head_2 = [m for m in private if head_of(2) in {a.id for a in m.to}]
        assert len(to_head_2) == 1
        assert "Собрание" not in to_head_2[0].text
        # Both slots are taken: the next tick writes nothing again.
        w.run(w.app.scheduler.tick())
        assert len([m for m in queued(w) if ":private:" in m.key and m.key not in before]) == len(
            private
        )


def test_summaries_due_together_list_every_open_order_in_one_message(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        before = {m.key for m in queued(w)}
        w.clock.advance(dt.timedelta(days=1).total_seconds())
        w.run(w.app.scheduler.tick())
        summaries = [
            m
            for m in queued(w)
            if m.key not in before and "summary" in m.key and ":chat:" in m.key
        ]
        assert len(summaries) == 1, [m.key for m in summaries]
        assert "Приказ № 47" in summaries[0].text
        assert "Приказ № 48" in summaries[0].text


# --- the staff's own items (item 2 of order No. 47) ---------------------------------------

WHOLE_ORDER = load_campaign(default_campaign_path())


class Names:
    """The messenger's names (nothing listens at the world's VK address)."""

    async def user_name(self, user_id: int) -> str | None:
        return f"Сотрудник {user_id}"

    async def chat_members(self, peer_id: int) -> list[int] | None:
        return None

    async def resolve_screen_name(self, screen_name: str) -> int | None:
        return None


@contextlib.contextmanager
def staff_world(tmp_path: Path) -> Iterator[World]:
    with world(tmp_path, campaign=WHOLE_ORDER) as w:
        w.app.flow.ctx.messenger = Names()
        yield w


def staff_states(w: World, person: int) -> dict[str, StepState]:
    current = w.run(w.app.repos.staff_answers.current(WHOLE_ORDER.id))
    return {step: a.state for step, a in current.get(person, {}).items()}


def test_staff_confirm_their_own_items_by_text_and_buttons(tmp_path: Path) -> None:
    with staff_world(tmp_path) as w:
        said = replies(w.say(ADMIN, "2.1 выполнено, 2.2 в работе"))
        assert staff_states(w, ADMIN) == {"2.1": StepState.DONE, "2.2": StepState.IN_PROGRESS}
        assert said[0].startswith("Принято (приказ № 47)")
        card = said[-1]
        assert card.startswith("👤 Ваши пункты приказа № 47")
        # The schools' items are untouched, and heads never see the staff's.
        assert stored(w, CAMPAIGN, "s1") == {}
        head_card = replies(w.say(head_of(1), "привет"))[-1]
        assert "2.1" not in head_card
        assert "3.1" in head_card
        # The button way: open 2.3, press «Выполнено».
        opened = tap(w, ADMIN, MyStepPayload(c=WHOLE_ORDER.id, s="2.3"))
        assert "пункт 2.3" in replies(opened)[0]
        tap(w, ADMIN, MyAnswerPayload(c=WHOLE_ORDER.id, s="2.3", st=StepState.DONE))
        assert staff_states(w, ADMIN)["2.3"] is StepState.DONE


def test_a_head_cannot_answer_for_staff_and_staff_items_are_not_a_schools(
    tmp_path: Path,
) -> None:
    with staff_world(tmp_path) as w:
        w.say(head_of(1), "2.1 выполнено")
        assert staff_states(w, head_of(1)) == {}
        assert stored(w, CAMPAIGN, "s1") == {}
        pressed = tap(w, head_of(1), MyAnswerPayload(c=WHOLE_ORDER.id, s="2.1", st=StepState.DONE))
        assert staff_states(w, head_of(1)) == {}
        assert [getattr(a, "text", "") for a in pressed] == [texts.BAD_BUTTON]


def test_status_shows_staff_progress_by_person(tmp_path: Path) -> None:
    with staff_world(tmp_path) as w:
        for step in ("2.1", "2.2", "2.3", "2.4"):
            w.say(ADMIN, f"{step} выполнено")
        text = replies(w.say(ADMIN, "статус", peer=ADMIN_CHAT))[0]
        assert "Пункты сотрудникам (2.1, 2.2, 2.3, 2.4): выполнили все — 1 из 1" in text
        assert f"• Сотрудник {ADMIN}: 2.1 выполнено, 2.2 выполнено, 2.3 выполнено" in text
        # Item 2 is not in the schools' totals: no school has finished.
        assert "Выполнили все пункты: 0 из 3" in text


def test_registration_codes_last_while_the_newest_order_is_open(tmp_path: Path) -> None:
    newcomer = 777_001
    with world(tmp_path) as w:
        w.run(w.app.flow.onboarding.issue_codes(["s1"], w.clock.now()))
        code = w.run(w.app.repos.registrations.codes())[0].code
        add_second(w)
        # A day after order 47's deadline, order 48 (two days later) is still open.
        w.clock.advance(dt.timedelta(days=4).total_seconds())
        asked = replies(w.say(newcomer, f"регистрация {code}"))
        assert asked == [texts.REG_CHOOSE_ROLE.format(school="МКОУ «СОШ №1»")]
        w.run(w.app.repos.campaigns.close(SECOND.id, w.clock.now()))
        w.run(w.app.orders.refresh())
        expired = replies(w.say(newcomer + 1, f"регистрация {code}"))
        assert expired == [texts.reg_expired(w.app.flow.settings.department)]


def test_staff_ask_for_their_own_items(tmp_path: Path) -> None:
    with staff_world(tmp_path) as w:
        w.say(ADMIN, "2.1 выполнено")
        card = replies(w.say(ADMIN, "мои пункты"))
        assert len(card) == 1
        assert card[0].startswith("👤 Ваши пункты приказа № 47")
        assert "✅ 2.1 Регистрация в Сферуме — выполнено" in card[0]


def test_staff_who_owe_their_own_items_are_reminded_with_the_schools(tmp_path: Path) -> None:
    with staff_world(tmp_path) as w:
        w.app.api.attempts = 1
        w.say(ADMIN, "2.1 выполнено, 2.2 выполнено")
        w.clock.advance(dt.timedelta(hours=9, minutes=30).total_seconds())
        w.run(w.app.scheduler.tick())
        private = [m for m in queued(w) if ":reminder:" in m.key and ":private:" in m.key]
        to_admin = [m for m in private if ADMIN in {a.id for a in m.to}]
        assert len(to_admin) == 1
        assert "2.3" in to_admin[0].text
        assert "2.1" not in to_admin[0].text
        rows = to_admin[0].buttons or ()
        assert [decode(b.payload) for row in rows for b in row] == [
            MyCardPayload(c=WHOLE_ORDER.id)
        ]
        to_head = [m for m in private if head_of(1) in {a.id for a in m.to}]
        assert len(to_head) == 1
        assert "2.3" not in to_head[0].text
        assert "3.1" in to_head[0].text


def test_announce_and_report_name_their_order(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        ask = replies(w.say(ADMIN, "объявить", peer=ADMIN_CHAT))
        assert ask == [texts.name_the_order("объявить", ["47", "48"])]
        actions = w.say(ADMIN, "объявить 48", peer=ADMIN_CHAT)
        posted = [a for a in actions if isinstance(a, SendTo)]
        assert posted
        assert all(a.text == texts.announcement(SECOND) for a in posted)
        files = [a for a in w.say(ADMIN, "отчёт 48", peer=ADMIN_CHAT) if isinstance(a, SendFile)]
        assert len(files) == 1
        assert "48" in files[0].filename


def test_an_answer_for_another_order_ends_a_prompt_of_this_one(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.say(head_of(1), "3.4 проблема")  # the bot asks why
        said = w.say(head_of(1), "1 выполнено")
        assert stored(w, SECOND, "s1") == {"1": StepState.DONE}
        assert stored(w, CAMPAIGN, "s1") == {"3.4": StepState.PROBLEM}
        told = [a for a in said if isinstance(a, SendTo) and a.peer_id == ADMIN_CHAT]
        assert len(told) == 1  # the problem without its reason, to staff now
        # A reason is still taken as the reason while no other order's step is named.
        w.say(head_of(2), "3.4 проблема")
        w.say(head_of(2), "нет интернета в кабинетах")
        assert w.current("s2")["3.4"].reason == "нет интернета в кабинетах"


def test_a_button_of_another_order_ends_this_orders_prompt(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        add_second(w)
        w.say(head_of(1), "3.4 проблема")  # a reason is awaited in order 47
        pressed = tap(w, head_of(1), OpenCardPayload(c=SECOND.id, sc="s1"))
        told = [a for a in pressed if isinstance(a, SendTo) and a.peer_id == ADMIN_CHAT]
        assert len(told) == 1  # the problem goes to staff now, without its reason
        assert w.run(w.app.repos.conversations.pending_input(head_of(1), head_of(1))) is None
