"""Security: who may do what, where, over the real bot end to end; and what must never leak.

The authorization matrix runs every actor x place x action through vkbottle over HTTP against
the VK API emulator and checks each cell against the table below, written from the rules of
PRODUCT.md: admin commands are taken in admin chats and in private from staff (admins and the
controller); in a heads chat staff get a pointer to the admin chat; everyone else gets a
refusal and no data; a person answers only for their own school; a stranger changes nothing.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import logging
import os
import re
import stat
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import bot.sandbox
from bot import texts
from bot.campaign import default_campaign_path, load_campaign
from bot.clock import FakeClock
from bot.config import DepartmentConfig
from bot.domain import Answer, Campaign, StepState
from bot.sandbox import ADMIN_CHAT, HEADS_CHAT, Sandbox, start_sandbox
from bot.service import Repositories
from bot.vk_emulator import SentMessage, VKEmulator, build_parser
from storage.db import Database
from tests.conftest import ADMIN, CONTROLLER, STRANGER, deputy_of, district, head_of

# The department as the sandbox config names it: [department] left at its defaults.
DEPT = DepartmentConfig()

ROOT = Path(__file__).resolve().parent.parent

ACTORS = {
    "admin": ADMIN,
    "controller": CONTROLLER,
    "head1": head_of(1),
    "deputy1": deputy_of(1),
    "head2": head_of(2),
    "stranger": STRANGER,
}
PLACES = {"admin_chat": ADMIN_CHAT, "heads_chat": HEADS_CHAT, "private": None}

# What each cell must do (short names, to keep the table one row per actor and place).
DIST = "district status"  # the district summary, in the place asked
SCHL = "school status"  # one school with who answered and its people
PEND = "pending schools"  # the debtors, with mentions
REMD = "reminders sent"  # a receipt here; the reminders go to the heads
PAUS = "paused"
RESM = "resumed"
SCHD = "schedule"
ANNC = "announced"  # the order posted to the heads chat, and a receipt here
HLPA = "staff help"  # texts.help_admin(DEPT)
PNTR = "pointer to the admin chat"  # texts.admin_in_heads_chat(DEPT)
ONLY = "refused: staff only"  # texts.admin_only(DEPT)
STRG = "refused: stranger"  # texts.stranger(DEPT)
HLPH = "head help"  # what this head may do, for their own school
CARD = "own school card"  # the asker's own school card, privately
ST_1 = "stored for s1"  # one answer row for s1 by the actor
ST_2 = "stored for s2"  # one answer row for s2, the actor's own school
RBTN = "refused button"  # a pop-up refusal (stranger / not your school / staff only)
NYRS = "refused button: not your school"  # texts.NOT_YOUR_SCHOOL as a pop-up
REGS = "registrations"  # who registered by code (none here): texts.NO_REGISTRATIONS
UNBD = "unbound"  # texts.UNBOUND for nobody: «отвязать 999999» removes 0 rows
BNDA = "bound as admin chat"  # texts.BOUND; the chat already was one, nothing moves
BNDH = "bound as heads chat"
BNDP = "bind: only in a chat"  # texts.BIND_ONLY_IN_CHAT
NOTH = "nothing"  # no reply at all, no row
NA = None  # no such cell: an "unaddressed" message exists only in chats

# The columns: what the actor sends. In chats the commands and the typed answer go with a "/"
# (VK shows a bot only messages that mention it or start with "/"); the two "bare" columns are
# the same without it, as a bot with the right to read every chat message would see them.
# «привязать» names the kind the chat already is (админ, or руководители in the heads chat),
# so that staff binding it changes nothing for the cells after it.
COMMANDS = [
    "статус",
    "статус s1",
    "должники",
    "напомнить",
    "пауза",
    "продолжить",
    "расписание",
    "помощь",
    "объявить",
    "регистрации",
    "отвязать 999999",
    "привязать",
]
TEXT_ANSWER = "3.1 выполнено"
BUTTON = "button: s1 3.1 done"
BARE_ANSWER = "bare: 3.1 выполнено"
BARE_STATUS = "bare: статус"
COLUMNS = (*COMMANDS, TEXT_ANSWER, BUTTON, BARE_ANSWER, BARE_STATUS)

# fmt: off
TABLE: list[tuple[str, str, tuple[str | None, ...]]] = [
    #                            статус статус должн напом пауза продол распис помощь объяв
    #                                   s1
    #                            регис  отвяз  привяз 3.1   button bare   bare
    #                                                 text         3.1    статус
    ("admin",      "admin_chat", (DIST, SCHL, PEND, REMD, PAUS, RESM, SCHD, HLPA, ANNC,
                                  REGS, UNBD, BNDA, HLPA, RBTN, NOTH, DIST)),
    ("admin",      "heads_chat", (PNTR, PNTR, PNTR, PNTR, PNTR, PNTR, PNTR, HLPA, PNTR,
                                  PNTR, PNTR, BNDH, HLPA, RBTN, NOTH, PNTR)),
    ("admin",      "private",    (DIST, SCHL, PEND, REMD, PAUS, RESM, SCHD, HLPA, ANNC,
                                  REGS, UNBD, BNDP, HLPA, RBTN, NA,   NA)),
    ("controller", "admin_chat", (DIST, SCHL, PEND, REMD, PAUS, RESM, SCHD, HLPA, ANNC,
                                  REGS, UNBD, BNDA, HLPA, RBTN, NOTH, DIST)),
    ("controller", "heads_chat", (PNTR, PNTR, PNTR, PNTR, PNTR, PNTR, PNTR, HLPA, PNTR,
                                  PNTR, PNTR, BNDH, HLPA, RBTN, NOTH, PNTR)),
    ("controller", "private",    (DIST, SCHL, PEND, REMD, PAUS, RESM, SCHD, HLPA, ANNC,
                                  REGS, UNBD, BNDP, HLPA, RBTN, NA,   NA)),
    ("head1",      "admin_chat", (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_1, ST_1, ST_1, NOTH)),
    ("head1",      "heads_chat", (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_1, ST_1, ST_1, NOTH)),
    ("head1",      "private",    (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_1, ST_1, NA,   NA)),
    ("deputy1",    "admin_chat", (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_1, ST_1, ST_1, NOTH)),
    ("deputy1",    "heads_chat", (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_1, ST_1, ST_1, NOTH)),
    ("deputy1",    "private",    (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_1, ST_1, NA,   NA)),
    ("head2",      "admin_chat", (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_2, NYRS, ST_2, NOTH)),
    ("head2",      "heads_chat", (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_2, NYRS, ST_2, NOTH)),
    ("head2",      "private",    (CARD, ONLY, ONLY, ONLY, ONLY, ONLY, ONLY, HLPH, ONLY,
                                  ONLY, ONLY, ONLY, ST_2, NYRS, NA,   NA)),
    ("stranger",   "admin_chat", (STRG, STRG, STRG, STRG, STRG, STRG, STRG, STRG, STRG,
                                  STRG, STRG, STRG, STRG, RBTN, NOTH, NOTH)),
    ("stranger",   "heads_chat", (STRG, STRG, STRG, STRG, STRG, STRG, STRG, STRG, STRG,
                                  STRG, STRG, STRG, STRG, RBTN, NOTH, NOTH)),
    ("stranger",   "private",    (STRG, STRG, STRG, STRG, STRG, STRG, STRG, STRG, STRG,
                                  STRG, STRG, STRG, STRG, RBTN, NA,   NA)),
]
# fmt: on

CELLS: list[tuple[str, str, str, str]] = [
    (actor, place, column, expected)
    for actor, place, outcomes in TABLE
    for column, expected in zip(COLUMNS, outcomes, strict=True)
    if expected is not NA
]

# Marks of data only staff may see: the district summary, one school's page, the debtors.
_STAFF_DATA = (
    "Выполнили все пункты",
    "Не выполнили все пункты",
    "\n   ответ: ",
    "Руководство школы:",
    "(№ s",
    "Зарегистрировались по коду",
    "Отвязано записей",
    "Беседа привязана",
    "Расписание автоматических сообщений",
)


def test_the_table_covers_every_actor_place_and_action() -> None:
    assert {(actor, place) for actor, place, _ in TABLE} == {
        (actor, place) for actor in ACTORS for place in PLACES
    }
    chat_cells = len(ACTORS) * 2 * len(COLUMNS)
    private_cells = len(ACTORS) * (len(COLUMNS) - 2)
    assert len(CELLS) == chat_cells + private_cells == 276


# --- running one cell --------------------------------------------------------------------------


@dataclass
class Seen:
    """What one cell made the bot do."""

    messages: list[SentMessage]  # new messages, anywhere
    snackbars: list[str]  # pop-up texts of button answers
    answers: list[Answer]  # new answer rows
    reply_peer: int  # where a reply belongs
    unchanged: list[str]  # what else must not have changed but did (people, chats)


async def _answers(box: Sandbox) -> list[Answer]:
    return await box.app.repos.answers.history(box.app.campaign.id)


async def _standing(box: Sandbox) -> dict[str, Any]:
    """Who is who and which chat is which: no cell of the matrix may change them."""
    chats = box.app.flow.settings.chats
    people = await box.app.db.fetchall("SELECT vk_id, school_id, role FROM people")
    return {
        "people": sorted(tuple(row) for row in people),
        "admin chats": await chats.admin_chats(),
        "heads chats": await chats.heads_chats(),
    }


async def settle(emu: VKEmulator) -> None:
    """Wait until the bot has handled every update pushed so far, to the end.

    The runner asks for the next long poll only after the batch in hand is handled, so a poll
    from the emulator's current `ts` on means every action for the updates before it is done.
    """
    target = emu.ts

    def done() -> bool:
        return bool(emu.poll_requests) and int(emu.poll_requests[-1].get("ts", 0)) >= target

    await emu.wait_for(done, description=f"the bot handled the updates before ts {target}")


async def run_cell(box: Sandbox, actor: str, place: str, column: str) -> Seen:
    emu = box.emulator
    user = ACTORS[actor]
    peer = PLACES[place] or user
    in_chat = PLACES[place] is not None
    sent_before = len(emu.sent)
    snacks_before = len(emu.event_answers)
    answers_before = len(await _answers(box))
    standing = await _standing(box)
    # Each cell is a stranger's first message of the day: the «who I am» note goes once a
    # day per conversation (test_a_stranger_is_told_once_a_day).
    await box.app.db.execute("DELETE FROM strangers_told")
    if column == BUTTON:
        payload = {"a": "ans", "c": box.app.campaign.id, "sc": "s1", "s": "3.1", "st": "done"}
        emu.push_message_event(
            user_id=user, peer_id=peer, payload=payload, conversation_message_id=1
        )
    else:
        if column in (BARE_ANSWER, BARE_STATUS):
            text = column.removeprefix("bare: ")
        elif column == "привязать":
            kind = "руководители" if place == "heads_chat" else "админ"
            text = f"/привязать {kind}" if in_chat else f"привязать {kind}"
        else:
            text = f"/{column}" if in_chat else column
        box.say(user, text, peer_id=peer)
    await settle(emu)
    await box.settle()
    snackbars = [
        str((answer.get("event_data") or {}).get("text", ""))
        for answer in emu.event_answers[snacks_before:]
    ]
    return Seen(
        messages=emu.sent[sent_before:],
        snackbars=[s for s in snackbars if s],
        answers=(await _answers(box))[answers_before:],
        reply_peer=peer,
        unchanged=[k for k, v in (await _standing(box)).items() if v != standing[k]],
    )


def _only_reply(seen: Seen, check: Callable[[str], bool], *, alone: bool = True) -> str | None:
    replies = [m for m in seen.messages if m.peer_id == seen.reply_peer]
    if len(replies) != 1:
        return f"expected one reply in {seen.reply_peer}, got {[m.text[:60] for m in replies]}"
    if alone and len(seen.messages) != 1:
        return (
            f"expected nothing else sent, got {[(m.peer_id, m.text[:40]) for m in seen.messages]}"
        )
    if seen.snackbars:
        return f"unexpected pop-ups {seen.snackbars}"
    if not check(replies[0].text):
        return f"unexpected reply {replies[0].text[:200]!r}"
    return None


_GIVES_STAFF_DATA = (DIST, SCHL, PEND, REMD, SCHD, REGS, UNBD, BNDA, BNDH)


def _no_staff_data(seen: Seen) -> str | None:
    for message in seen.messages:
        if any(mark in message.text for mark in _STAFF_DATA):
            return f"staff data leaked to {message.peer_id}: {message.text[:120]!r}"
    return None


def _only_snackbar(seen: Seen, allowed: tuple[str, ...]) -> str | None:
    if seen.messages:
        return f"expected only a pop-up, got messages {[m.text[:40] for m in seen.messages]}"
    if len(seen.snackbars) != 1:
        return f"expected one pop-up, got {seen.snackbars}"
    if not any(seen.snackbars[0] == text[: len(seen.snackbars[0])] for text in allowed):
        return f"unexpected pop-up {seen.snackbars[0]!r}"
    return None


def judge(box: Sandbox, actor: str, column: str, expected: str, seen: Seen) -> str | None:
    """None if the cell did what the table says, else what went wrong."""
    number = box.app.campaign.number
    if seen.unchanged:
        return f"changed: {seen.unchanged}"
    stored_school = {ST_1: "s1", ST_2: "s2"}.get(expected)
    if stored_school is None:
        if seen.answers:
            return f"answers stored: {[(a.school_id, a.step_id) for a in seen.answers]}"
    else:
        got = [(a.school_id, a.step_id, a.state, a.answered_by) for a in seen.answers]
        if got != [(stored_school, "3.1", StepState.DONE, ACTORS[actor])]:
            return f"expected one answer for {stored_school} by {actor}, got {got}"
    if expected not in _GIVES_STAFF_DATA:
        leaked = _no_staff_data(seen)
        if leaked:
            return leaked
    replies: dict[str, Callable[[str], bool]] = {
        DIST: lambda t: "Выполнили все пункты: 0 из 3 школ" in t or "Выполнили все пункты" in t,
        SCHL: lambda t: "(№ s1)" in t and "Руководство школы:" in t,
        PEND: lambda t: t.startswith("Не выполнили все пункты") and "[id" in t,
        PAUS: lambda t: t == texts.PAUSED.format(number=number),
        RESM: lambda t: t == texts.RESUMED.format(number=number),
        SCHD: lambda t: t.startswith("Расписание автоматических сообщений"),
        HLPA: lambda t: t == texts.help_admin(DEPT),
        PNTR: lambda t: t == texts.admin_in_heads_chat(DEPT),
        ONLY: lambda t: t == texts.admin_only(DEPT),
        STRG: lambda t: t == texts.stranger(DEPT),
        HLPH: lambda t: t.startswith(f"Ваша школа: {_school_name(actor)}."),
        REGS: lambda t: t == texts.NO_REGISTRATIONS,
        UNBD: lambda t: t == texts.UNBOUND.format(count=0),
        BNDA: lambda t: t.startswith(texts.bound("admin", DEPT)),
        BNDH: lambda t: t.startswith(texts.bound("heads", DEPT)),
        BNDP: lambda t: t == texts.BIND_ONLY_IN_CHAT,
    }
    if expected in replies:
        return _only_reply(seen, replies[expected])
    if expected == REMD:
        # Reminders go to the heads too; the receipt is the one message in the place asked.
        return _only_reply(seen, lambda t: t.startswith("Напоминания отправлены"), alone=False)
    if expected == ANNC:
        problem = _only_reply(seen, lambda t: t.startswith("Приказ разослан"), alone=False)
        posted = [m for m in seen.messages if m.peer_id == HEADS_CHAT and "Приказ №" in m.text]
        return problem or (None if len(posted) == 1 else f"announcement posts: {len(posted)}")
    if expected == CARD:
        cards = [m for m in seen.messages if m.text.startswith(f"🏫 {_school_name(actor)}")]
        if len(seen.messages) != 1 or len(cards) != 1:
            return f"expected only the own card, got {[m.text[:40] for m in seen.messages]}"
        if cards[0].peer_id not in (ACTORS[actor], seen.reply_peer):
            return f"card went to {cards[0].peer_id}"
        return None
    if expected in (ST_1, ST_2):
        if column == BUTTON:
            if not seen.snackbars or not seen.snackbars[0].startswith("Принято"):
                return f"expected a «Принято» pop-up, got {seen.snackbars}"
            return None
        return _only_reply(seen, lambda t: t.startswith("Принято"))
    if expected == RBTN:
        return _only_snackbar(
            seen,
            (
                texts.stranger(DEPT),
                texts.stranger_short(DEPT),
                texts.STAFF_NOT_A_HEAD,
                texts.NOT_YOUR_SCHOOL,
                texts.admin_only(DEPT),
            ),
        )
    if expected == NYRS:
        return _only_snackbar(seen, (texts.NOT_YOUR_SCHOOL,))
    if expected == NOTH:
        if seen.messages or seen.snackbars:
            return f"expected no reply, got {[m.text[:40] for m in seen.messages]}"
        return None
    raise AssertionError(f"no rule for {expected}")


def _school_name(actor: str) -> str:
    n = 2 if actor == "head2" else 1
    return f"МКОУ «СОШ №{n}»"


# --- the matrix --------------------------------------------------------------------------------


@pytest.fixture
def campaign() -> Campaign:
    return load_campaign(default_campaign_path())


@pytest.fixture
def box(sandbox: Sandbox) -> Sandbox:
    """The shared district, whose controller counts as staff."""
    return sandbox


@pytest.mark.parametrize("actor", list(ACTORS))
async def test_authorization_matrix(box: Sandbox, actor: str) -> None:
    """One sandbox per actor; every place and action of the actor's rows of TABLE."""
    failures = []
    cells = [cell for cell in CELLS if cell[0] == actor]
    for _, place, column, expected in cells:
        seen = await run_cell(box, actor, place, column)
        problem = judge(box, actor, column, expected, seen)
        if problem is not None:
            failures.append(f"{actor} / {place} / {column!r}: expected {expected}: {problem}")
    assert not failures, f"{len(failures)} of {len(cells)} cells wrong:\n" + "\n".join(failures)


async def test_nobody_but_staff_can_make_a_chat_an_admin_chat_or_unbind_a_person(
    box: Sandbox,
) -> None:
    """The escalations a head or a stranger could try: turn the heads chat (or a chat of
    their own) into an admin chat, where every summary goes; remove another school's head."""
    emu = box.emulator
    own_chat = 2_000_000_009
    before = await _standing(box)
    attempts = [
        (head_of(1), HEADS_CHAT, "/привязать админ", texts.admin_only(DEPT)),
        (head_of(1), own_chat, "/привязать админ", texts.admin_only(DEPT)),
        (
            head_of(1),
            own_chat,
            "[club222000111|@bot] привязать руководители",
            texts.admin_only(DEPT),
        ),
        (STRANGER, HEADS_CHAT, "/привязать администрации", texts.stranger(DEPT)),
        (STRANGER, own_chat, "/привязать админ", texts.stranger(DEPT)),
        (head_of(1), head_of(1), "отвязать 500002", texts.admin_only(DEPT)),
        (
            deputy_of(1),
            HEADS_CHAT,
            f"/отвязать https://vk.com/id{head_of(2)}",
            texts.admin_only(DEPT),
        ),
        (STRANGER, STRANGER, f"отвязать {head_of(1)}", texts.stranger(DEPT)),
    ]
    for user, peer, text, refusal in attempts:
        await box.app.db.execute("DELETE FROM strangers_told")
        sent = len(emu.messages_to(peer))
        box.say(user, text, peer_id=peer)
        await settle(emu)
        await box.settle()
        assert [m.text for m in emu.messages_to(peer)[sent:]] == [refusal], text
    assert await _standing(box) == before
    # The heads chat is still no place for staff data.
    box.say(ADMIN, "/должники", peer_id=HEADS_CHAT)
    await settle(emu)
    await box.settle()
    assert emu.messages_to(HEADS_CHAT)[-1].text == texts.admin_in_heads_chat(DEPT)


# --- another community, leaked tokens ----------------------------------------------------------


async def test_an_update_for_another_community_is_ignored(box: Sandbox) -> None:
    emu, head = box.emulator, head_of(1)
    real = box.say(head, "помощь")
    await settle(emu)
    await box.settle()
    assert len(emu.messages_to(head)) == 1
    forged = json.loads(json.dumps(real))
    forged["group_id"] = box.config.vk.group_id + 1
    forged["event_id"] = "forged-for-another-community"
    forged["object"]["message"]["text"] = "3.1 выполнено"
    forged["object"]["message"]["conversation_message_id"] += 100
    forged["object"]["message"]["id"] += 100
    emu.push_raw(forged)
    await settle(emu)
    await box.settle()
    assert len(emu.messages_to(head)) == 1
    assert await _answers(box) == []
    # The same update for this community is taken: the forged one failed only on group_id.
    forged = {**forged, "group_id": box.config.vk.group_id, "event_id": "now-for-this-one"}
    emu.push_raw(forged)
    await settle(emu)
    await box.settle()
    assert [(a.school_id, a.answered_by) for a in await _answers(box)] == [("s1", head)]


SECRET = "vk1.a.DistinctiveSecret-0123456789-must-never-be-logged"


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.exc_text:
        parts.append(record.exc_text)
    return "\n".join(parts)


async def test_the_token_never_reaches_logs_or_errors(
    tmp_path: Path,
    campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bot.sandbox, "TOKEN", SECRET)
    schools, people = district()
    box = await start_sandbox(
        tmp_path,
        schools=schools,
        people=people,
        admins=[ADMIN],
        controller=CONTROLLER,
        clock=FakeClock(campaign.deadline - dt.timedelta(days=3)),
        campaign=campaign,
    )
    emu = box.emulator
    try:
        assert box.config.vk.token.get_secret_value() == SECRET
        assert SECRET not in repr(box.config)
        assert SECRET not in str(box.config)
        # 901: a head who has not allowed messages; the card falls back to the heads chat.
        emu.set_allows_messages(head_of(2), False)
        box.say(ADMIN, "/объявить", peer_id=ADMIN_CHAT)
        announcement = await emu.wait_for_message(HEADS_CHAT, contains="Приказ №")
        emu.press(head_of(2), announcement, texts.BUTTON_REPORT)
        await emu.wait_for_message(HEADS_CHAT, contains="не удаётся написать")
        # Retried errors (10), an error that fails the update (100), a refused edit (15),
        # and a long poll that must start again (failed 2).
        emu.fail_next("messages.send", 10, times=2)
        box.say(head_of(1), "3.1 выполнено")
        await emu.wait_for_message(head_of(1), contains="Принято")
        emu.fail_next("messages.send", 100)
        box.say(head_of(1), "3.4 выполнено")
        await settle(emu)
        await box.settle()
        emu.fail_next("messages.edit", 15)
        card = emu.messages_to(head_of(1))[-1]
        emu.press(head_of(1), card, card.labels[0])
        emu.force_failed(2)
        box.say(ADMIN, "статус")
        await emu.wait_for_message(ADMIN, contains="Выполнили")
    finally:
        await box.close()
    codes = {c.error_code for c in emu.calls if c.error_code is not None}
    for call in emu.calls_to("messages.send"):  # with peer_ids VK refuses per recipient
        if isinstance(call.response, list):
            codes |= {item["error"]["code"] for item in call.response if item.get("error")}
    assert {901, 10, 100, 15} <= codes
    assert any(r.name.startswith("vkbottle") for r in caplog.records)  # DEBUG was on
    # The refused message was logged with VK's error, and nothing else waited on it.
    assert any("VK error 100" in r.getMessage() for r in caplog.records)
    leaks = [r for r in caplog.records if SECRET in _record_text(r)]
    assert leaks == [], [f"{r.name}: {r.getMessage()[:200]}" for r in leaks]
    assert SECRET not in caplog.text
    # Nothing the bot wrote to disk holds it either (database, WAL, long-poll state).
    assert _files_holding(tmp_path, SECRET) == []


def _files_holding(root: Path, secret: str) -> list[Path]:
    files = [f for f in root.rglob("*") if f.is_file()]
    assert files
    return [f for f in files if secret.encode() in f.read_bytes()]


def _size(file: Path) -> int:
    return file.stat().st_size


def _modes(files: list[Path]) -> dict[str, int]:
    missing = [f.name for f in files if not f.exists()]
    assert missing == []
    return {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}


# --- files and sockets -------------------------------------------------------------------------


async def test_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the process umask must not be what keeps the file private
    try:
        path = tmp_path / "data" / "confirmbot.db"
        db = await Database.open(path)
        try:
            repos = Repositories.on(db)
            campaign = load_campaign(default_campaign_path())
            await repos.campaigns.save(campaign, dt.datetime.now(dt.UTC))
            schools, people = district()
            await repos.roster.apply(schools, people, dt.datetime.now(dt.UTC))
            wal = Path(f"{path}-wal")
            modes = _modes([path, wal, Path(f"{path}-shm")])
            assert _size(wal) > 0  # the write is in the WAL
            assert all(mode & 0o077 == 0 for mode in modes.values()), {
                name: oct(mode) for name, mode in modes.items()
            }
        finally:
            await db.close()
    finally:
        os.umask(old_umask)


async def test_the_emulator_listens_on_loopback_only_by_default() -> None:
    assert build_parser().parse_args([]).host == "127.0.0.1"
    emulator = VKEmulator()
    await emulator.start()
    try:
        assert emulator.host == "127.0.0.1"
        assert emulator.api_url.startswith("http://127.0.0.1:")
    finally:
        await emulator.stop()


# --- SQL only with parameters ------------------------------------------------------------------

_SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|PRAGMA|SAVEPOINT|RELEASE|ROLLBACK|"
    r"WHERE|FROM|JOIN|CREATE|DROP|ALTER|VALUES|SET)\b"
)
_PLACEHOLDERS = {"','.join('?' * len(vk_ids))"}
# What may be interpolated into SQL, per file, and why it is safe.
ALLOWED_INTERPOLATIONS: dict[tuple[str, str], str] = {
    ("*", "marks"): 'placeholders only: `",".join("?" * n)` (checked below, in every file)',
    ("repositories.py", "where"): "one of the module's constant WHERE clauses (checked below)",
    ("repositories.py", "','.join('?' * len(vk_ids))"): "placeholders only",
    ("db.py", "synchronous.upper()"): "checked against FULL / NORMAL / EXTRA just before",
    ("db.py", "migration.version"): "an int, formatted with :d",
    ("db.py", "name"): "the savepoint name f'sp{depth}', depth an int",
}


@dataclass(frozen=True)
class Interpolation:
    file: str
    line: int
    kind: str  # f-string, %-format, .format(), concatenation
    expression: str
    noqa_s608: bool


def _constant_text(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_constant_text(v) for v in node.values)
    return ""


def interpolations(path: Path) -> list[Interpolation]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []

    def add(node: ast.expr, kind: str, expression: str) -> None:
        span = lines[node.lineno - 1 : (node.end_lineno or node.lineno) + 1]
        noqa = any("noqa: S608" in line for line in span)
        found.append(Interpolation(path.name, node.lineno, kind, expression, noqa))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr) and _SQL_WORDS.search(_constant_text(node)):
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    add(node, "f-string", ast.unparse(value.value))
        elif isinstance(node, ast.BinOp) and _SQL_WORDS.search(_constant_text(node.left)):
            if isinstance(node.op, ast.Mod):
                add(node, "%-format", ast.unparse(node.right))
            elif isinstance(node.op, ast.Add) and not _constant_text(node.right):
                add(node, "concatenation", ast.unparse(node.right))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and _SQL_WORDS.search(_constant_text(node.func.value))
        ):
            add(node, ".format()", ast.unparse(node))
    return found


def test_sql_is_parameterised_except_an_allow_list_of_safe_interpolations() -> None:
    files = sorted((ROOT / "storage").glob("*.py"))
    assert any(f.name == "repositories.py" for f in files)
    found = [item for file in files for item in interpolations(file)]
    assert found, "the scan finds nothing: is it still looking at the right files?"
    unexpected = [
        f"{item.file}:{item.line}: {item.kind} of {item.expression!r}"
        for item in found
        if (item.file, item.expression) not in ALLOWED_INTERPOLATIONS
        and ("*", item.expression) not in ALLOWED_INTERPOLATIONS
    ]
    assert unexpected == [], "SQL built from values instead of parameters:\n" + "\n".join(
        unexpected
    )
    # The interpolations into queries (not PRAGMA or SAVEPOINT) are marked for ruff's S608
    # or only splice placeholders.
    for item in found:
        if item.file != "db.py":
            assert item.noqa_s608 or item.expression in _PLACEHOLDERS, item


def _assignments(tree: ast.AST, name: str) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found.append(node.value or ast.Constant(None))
    return found


def test_what_the_allow_list_trusts_is_what_it_says() -> None:
    marks = []
    for file in sorted((ROOT / "storage").glob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        marks += [(file.name, ast.unparse(value)) for value in _assignments(tree, "marks")]
    assert marks
    for file, value in marks:
        assert re.fullmatch(r"""','\.join\('\?' \* len\(\w+\)\)""", value), (file, value)
    tree = ast.parse((ROOT / "storage" / "repositories.py").read_text(encoding="utf-8"))
    wheres = [
        node.args[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "_answers"
    ]
    assert wheres
    for where in wheres:
        assert isinstance(where, ast.Constant), ast.unparse(where)
        assert isinstance(where.value, str), ast.unparse(where)
