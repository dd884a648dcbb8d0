"""Registration codes, chats bound by admins, step 3.3 checked from chat membership, and
screen names in the roster — over HTTP to the emulator."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot import texts
from bot.app import App
from bot.clock import FakeClock
from bot.config import DepartmentConfig
from bot.domain import Campaign, Role
from bot.onboarding import (
    ALPHABET,
    CODE_LENGTH,
    PER_PERSON_LIMIT,
    TOTAL_LIMIT,
    generate_codes,
    normalise_code,
    refresh,
    registration_code,
    write_codes,
)
from bot.roster import UnresolvedPerson
from bot.sandbox import ADMIN_CHAT, HEADS_CHAT, Sandbox, start_sandbox
from bot.vk_emulator import VKError
from tests.conftest import ADMIN, STRANGER, deputy_of, district, head_of

# The department as the sandbox config names it: [department] left at its defaults.
DEPT = DepartmentConfig()

NEWCOMER = 812_345


def test_codes_are_short_unambiguous_and_unique() -> None:
    codes = generate_codes([f"s{i}" for i in range(2000)], taken=set())
    assert len(set(codes.values())) == 2000
    for code in codes.values():
        assert len(code) == CODE_LENGTH
        assert set(code) <= set(ALPHABET)
        assert not set(code) & set("01OILSB58")


def test_what_people_type_is_understood() -> None:
    assert registration_code("регистрация K7M-4PQ") == "K7M-4PQ"
    assert registration_code("start k7m4pq") == "k7m4pq"
    assert registration_code("регистрация") is None
    assert registration_code("3.1 выполнено") is None
    assert normalise_code("k7m-4pq") == "K7M4PQ"
    assert normalise_code("К7М 4РQ") == "K7M4PQ"  # Cyrillic К, М, Р typed by hand


async def codes_of(box: Sandbox) -> dict[str, str]:
    onboarding = box.app.flow.onboarding
    await onboarding.issue_codes(["s1", "s2", "s3"], box.app.clock.now())
    return {c.school.id: c.code for c in await onboarding.registrations.codes()}


async def rows(box: Sandbox, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await box.app.db.fetchall(sql, params)]


async def test_registration_with_a_valid_code(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    emu.add_user(NEWCOMER, "Аминат", "Гаджиева")
    code = (await codes_of(sandbox))["s2"]
    sandbox.say(NEWCOMER, f"регистрация {code[:3]}-{code[3:].lower()}")
    ask = await emu.wait_for_message(NEWCOMER, contains="Код подошёл")
    assert "СОШ №2" in ask.text
    emu.press(NEWCOMER, ask, texts.BUTTON_ROLE[Role.DEPUTY])
    await emu.wait_for_message(NEWCOMER, contains="вы записаны как заместитель")
    card = await emu.wait_for_message(NEWCOMER, contains="🏫 МКОУ «СОШ №2»")
    assert card.labels
    people = await rows(
        sandbox,
        "SELECT school_id, full_name, role, source FROM people WHERE person_id = ?",
        (NEWCOMER,),
    )
    assert people == [("s2", "Аминат Гаджиева", "deputy", "registration")]
    # Staff are told in their chat, by the scheduler's next tick (issue 17).
    await sandbox.app.scheduler.tick()
    notice = await emu.wait_for_message(ADMIN_CHAT, contains="Новая регистрация по коду")
    assert "Аминат Гаджиева" in notice.text
    assert "СОШ №2" in notice.text
    sandbox.say(NEWCOMER, "3.1 выполнено")
    await emu.wait_for_message(NEWCOMER, contains="Принято")
    # Re-importing the roster keeps people who registered themselves.
    schools, roster_people = district()
    await sandbox.app.repos.roster.apply(schools, roster_people, sandbox.app.clock.now())
    assert await rows(
        sandbox, "SELECT person_id FROM people WHERE person_id = ?", (NEWCOMER,)
    ) == [(NEWCOMER,)]
    sandbox.say(ADMIN, "регистрации")
    listing = await emu.wait_for_message(ADMIN, contains="Зарегистрировались")
    assert "Аминат Гаджиева" in listing.text
    assert "СОШ №2" in listing.text
    sandbox.say(ADMIN, f"отвязать https://vk.com/id{NEWCOMER}")
    await emu.wait_for_message(ADMIN, contains="Отвязано записей: 1")
    sandbox.say(NEWCOMER, "3.4 выполнено")
    assert (await emu.wait_for_message(NEWCOMER, count=5)).text == texts.stranger(DEPT)


async def test_vk_me_link_ref_carries_the_code(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    code = (await codes_of(sandbox))["s1"]
    update = emu.push_message_new(from_id=NEWCOMER, peer_id=NEWCOMER, text="Начать")
    first = json.loads(json.dumps(update))
    first["event_id"] = "with-ref"
    first["object"]["message"]["ref"] = code
    first["object"]["message"]["ref_source"] = "site"
    emu.push_raw(first)
    await emu.wait_for_message(NEWCOMER, contains="Код подошёл")


async def test_wrong_expired_and_revoked_codes(
    sandbox: Sandbox, clock: FakeClock, campaign: Campaign
) -> None:
    emu = sandbox.emulator
    codes = await codes_of(sandbox)
    sandbox.say(NEWCOMER, "регистрация ZZZZZZ")
    assert (await emu.wait_for_message(NEWCOMER)).text == texts.reg_unknown(DEPT)
    await sandbox.app.flow.onboarding.registrations.revoke("s3", clock.now())
    sandbox.say(NEWCOMER, f"регистрация {codes['s3']}")
    assert (await emu.wait_for_message(NEWCOMER, count=2)).text == texts.reg_revoked(DEPT)
    clock.set(campaign.deadline + dt.timedelta(minutes=1))
    sandbox.say(NEWCOMER, f"регистрация {codes['s1']}")
    assert (await emu.wait_for_message(NEWCOMER, count=3)).text == texts.reg_expired(DEPT)
    assert await rows(sandbox, "SELECT 1 FROM people WHERE person_id = ?", (NEWCOMER,)) == []


async def test_guessing_is_limited_per_person(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    codes = await codes_of(sandbox)
    for i in range(PER_PERSON_LIMIT):
        sandbox.say(NEWCOMER, f"регистрация GUESS{i}")
        await emu.wait_for_message(NEWCOMER, count=i + 1)
    sandbox.say(NEWCOMER, f"регистрация {codes['s1']}")
    reply = await emu.wait_for_message(NEWCOMER, count=PER_PERSON_LIMIT + 1)
    assert reply.text == texts.reg_too_many(DEPT)
    # Someone else with the right code is not blocked by one guesser.
    sandbox.say(NEWCOMER + 1, f"регистрация {codes['s1']}")
    await emu.wait_for_message(NEWCOMER + 1, contains="Код подошёл")


async def test_200_wrong_codes_in_one_batch_are_not_all_checked(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    codes = await codes_of(sandbox)
    polls = len(emu.poll_requests)
    for i in range(199):
        sandbox.say(NEWCOMER, f"регистрация GUESS{i:03d}")
    sandbox.say(NEWCOMER, f"регистрация {codes['s1']}")  # the last guess happens to be right
    await emu.wait_for(lambda: len(emu.messages_to(NEWCOMER)) == 200, timeout=30)
    assert len(emu.poll_requests) <= polls + 2  # they came in one long-poll answer
    replies = [m.text for m in emu.messages_to(NEWCOMER)]
    assert replies[:PER_PERSON_LIMIT] == [texts.reg_unknown(DEPT)] * PER_PERSON_LIMIT
    assert replies[PER_PERSON_LIMIT:] == [texts.reg_too_many(DEPT)] * (200 - PER_PERSON_LIMIT)
    checked = await rows(
        sandbox, "SELECT COUNT(*) FROM registration_attempts WHERE person_id = ?", (NEWCOMER,)
    )
    assert checked == [(PER_PERSON_LIMIT,)]
    assert await rows(sandbox, "SELECT 1 FROM pending_registrations") == []


async def test_throwaway_accounts_cannot_lock_a_real_head_out(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    codes = await codes_of(sandbox)
    throwaway = [NEWCOMER + 100 + n for n in range(TOTAL_LIMIT // PER_PERSON_LIMIT)]
    for n, account in enumerate(throwaway):
        for i in range(PER_PERSON_LIMIT):
            sandbox.say(account, f"регистрация GUESS{n}X{i}")
    await emu.wait_for(lambda: all(len(emu.messages_to(a)) == PER_PERSON_LIMIT for a in throwaway))
    assert {m.text for a in throwaway for m in emu.messages_to(a)} == {texts.reg_unknown(DEPT)}

    # The district is past its hourly limit of wrong codes: a real head still gets in...
    sandbox.say(NEWCOMER, f"регистрация {codes['s2']}")
    await emu.wait_for_message(NEWCOMER, contains="Код подошёл")
    # ...while one more throw-away account gets one guess, not five.
    late = NEWCOMER + 999
    sandbox.say(late, "регистрация WRONG1")
    sandbox.say(late, f"регистрация {codes['s3']}")
    await emu.wait_for(lambda: len(emu.messages_to(late)) == 2)
    assert [m.text for m in emu.messages_to(late)] == [
        texts.reg_unknown(DEPT),
        texts.reg_too_many(DEPT),
    ]


async def test_a_revoked_code_cancels_a_registration_waiting_for_its_role(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    emu = sandbox.emulator
    codes = await codes_of(sandbox)
    sandbox.say(NEWCOMER, f"регистрация {codes['s2']}")
    ask = await emu.wait_for_message(NEWCOMER, contains="Код подошёл")
    sandbox.say(NEWCOMER + 1, f"регистрация {codes['s3']}")
    other = await emu.wait_for_message(NEWCOMER + 1, contains="Код подошёл")

    registrations = sandbox.app.flow.onboarding.registrations
    await registrations.revoke("s2", clock.now())
    await sandbox.app.flow.onboarding.issue_codes(["s3"], clock.now(), regenerate=True)
    emu.press(NEWCOMER, ask, texts.BUTTON_ROLE[Role.HEAD])
    emu.press(NEWCOMER + 1, other, texts.BUTTON_ROLE[Role.HEAD])

    await emu.wait_for(lambda: len(emu.event_answers) == 2)
    snacks = {a["user_id"]: a["event_data"]["text"] for a in emu.event_answers}
    assert snacks == {NEWCOMER: texts.REG_NO_PENDING, NEWCOMER + 1: texts.REG_NO_PENDING}
    assert (
        await rows(sandbox, "SELECT person_id FROM people WHERE person_id > ?", (NEWCOMER - 1,))
        == []
    )


async def test_a_role_button_without_a_good_code_registers_nobody(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    payload = {"a": "role", "c": sandbox.app.campaign.id, "r": "head"}
    emu.push_message_event(
        user_id=STRANGER, peer_id=STRANGER, payload=payload, conversation_message_id=1
    )
    await emu.wait_for(lambda: bool(emu.calls_to("messages.sendMessageEventAnswer")))
    answer = emu.calls_to("messages.sendMessageEventAnswer")[-1].params
    assert json.loads(answer["event_data"])["text"] == texts.REG_NO_PENDING
    assert await rows(sandbox, "SELECT 1 FROM people WHERE person_id = ?", (STRANGER,)) == []


async def test_admin_binds_a_chat_and_others_cannot(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    new_chat = 2_000_000_050
    emu.add_chat(new_chat, [ADMIN, head_of(1), STRANGER], bot_is_admin=False)
    sandbox.say(STRANGER, "/привязать руководители", peer_id=new_chat)
    assert (await emu.wait_for_message(new_chat)).text == texts.stranger(DEPT)
    sandbox.say(head_of(1), "/привязать админ", peer_id=new_chat)
    assert (await emu.wait_for_message(new_chat, count=2)).text == texts.admin_only(DEPT)
    assert await sandbox.app.flow.settings.chats.repo.bound("heads") == []
    sandbox.say(ADMIN, "/привязать руководители", peer_id=new_chat)
    bound = await emu.wait_for_message(new_chat, contains="привязана")
    assert "администратором беседы" in bound.text  # the bot cannot see members there
    assert new_chat in await sandbox.app.flow.settings.chats.heads_chats()
    sandbox.say(ADMIN, "/объявить", peer_id=ADMIN_CHAT)
    await emu.wait_for_message(new_chat, contains="Приказ №")
    await emu.wait_for_message(HEADS_CHAT, contains="Приказ №")  # the config's chat too


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (bounded) for the bot to have handled what was pushed."""
    for _ in range(250):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the bot did not get there in 5 s")


async def member_event(box: Sandbox, kind: str, member: int, joined: bool) -> None:
    box.emulator.push_message_new(
        from_id=ADMIN, peer_id=HEADS_CHAT, text="", action={"type": kind, "member_id": member}
    )
    chats = box.app.flow.settings.chats.repo

    async def seen() -> bool:
        return (member in await chats.members_in([HEADS_CHAT])) == joined

    await until(seen)


async def read_chats(app: App) -> None:
    """What the bot does at start: read who is in its chats, resolve screen names."""
    await refresh(
        app.messenger,
        app.flow.settings.chats,
        app.flow.onboarding.registrations,
        app.clock.now(),
    )


async def test_step_3_3_follows_chat_membership(sandbox: Sandbox) -> None:
    emu, app = sandbox.emulator, sandbox.app
    # The heads chat holds every head and deputy (see bot.sandbox), and the bot is its admin.
    await read_chats(app)
    sandbox.say(ADMIN, "статус s1")
    status = await emu.wait_for_message(ADMIN, contains="СОШ №1")
    assert "3.3: подтверждено ботом" in status.text
    await member_event(sandbox, "chat_kick_user", deputy_of(1), joined=False)
    sandbox.say(ADMIN, "статус s1")
    status = await emu.wait_for_message(ADMIN, contains="СОШ №1", count=2)
    assert "не видит в беседе руководителей: Завуч 1" in status.text
    await member_event(sandbox, "chat_invite_user", deputy_of(1), joined=True)
    sandbox.say(ADMIN, "статус s1")
    status = await emu.wait_for_message(ADMIN, contains="СОШ №1", count=3)
    assert "3.3: подтверждено ботом" in status.text


async def test_step_3_3_reads_every_page_of_a_large_heads_chat(
    tmp_path: Path, clock: FakeClock, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    schools, people = district(15)  # 30 heads and deputies: VK answers 20 members a page
    box = await start_sandbox(
        tmp_path, schools=schools, people=people, admins=[ADMIN], clock=clock, campaign=campaign
    )
    try:
        app = box.app
        await read_chats(app)
        box.say(ADMIN, "статус s15")
        status = await box.emulator.wait_for_message(ADMIN, contains="СОШ №15")
        assert "3.3: подтверждено ботом" in status.text
        seen = await app.flow.settings.chats.repo.members_in([HEADS_CHAT])
        assert seen == {p.person_id for p in people}
    finally:
        await box.close()


async def test_step_3_3_unknown_where_the_bot_cannot_read_members(sandbox: Sandbox) -> None:
    emu, app = sandbox.emulator, sandbox.app
    emu.set_bot_is_admin(HEADS_CHAT, False)
    await read_chats(app)
    sandbox.say(ADMIN, "статус s2")
    status = await emu.wait_for_message(ADMIN, contains="СОШ №2")
    assert "только со слов руководителя" in status.text


async def test_screen_names_are_resolved_and_failures_reported(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    emu, app = sandbox.emulator, sandbox.app

    def resolve(params: dict[str, str]) -> Any:
        if params["screen_name"] == "ivanov_ii":
            return {"type": "user", "object_id": 955_001}
        if params["screen_name"] == "broken":
            raise VKError(10)
        return []

    emu.add_method("utils.resolveScreenName", resolve)
    schools, people = district()
    unresolved = [
        UnresolvedPerson(
            screen_name=name, school_id="s3", full_name=full, role=Role.DEPUTY, line=9
        )
        for name, full in (("ivanov_ii", "Иванов И.И."), ("no_such_person", "Никто Н.Н."))
    ]
    await app.repos.roster.apply(schools, people, app.clock.now(), unresolved)
    await read_chats(app)
    resolved = await rows(
        sandbox, "SELECT school_id, full_name FROM people WHERE person_id = 955001"
    )
    assert resolved == [("s3", "Иванов И.И.")]
    sandbox.say(ADMIN, "регистрации")
    listing = await emu.wait_for_message(ADMIN, contains="Не найдены")
    assert "vk.com/no_such_person" in listing.text
    assert "нет такого пользователя" in listing.text
    assert "ivanov_ii" not in listing.text


async def test_roster_codes_cli_writes_csv(sandbox: Sandbox, tmp_path: Path) -> None:
    from bot.__main__ import main

    config = tmp_path / "codes.toml"
    config.write_text(
        f'[vk]\ntoken = "t"\ngroup_id = 77\n[storage]\npath = "{sandbox.config.storage.path}"\n'
        "[bot]\nadmins = [1]\n",
        encoding="utf-8",
    )
    out = tmp_path / "codes.csv"
    args = ["roster", "codes", "--config", str(config), "-o", str(out)]
    # main() runs its own event loop, so it goes to a thread beside the sandbox's loop.
    assert await asyncio.to_thread(main, args) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("school_id,school_name,code")
    assert len(lines) == 4
    first_codes = [line.split(",")[2] for line in lines[1:]]
    assert "https://vk.me/club77?ref=" in lines[1]
    # Regenerating makes new codes; revoking marks one.
    assert await asyncio.to_thread(main, [*args, "--regenerate", "--revoke", "s2"]) == 0
    again = out.read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[2] for line in again[1:]] != first_codes
    assert again[2].endswith(",yes")
    bad = ["roster", "codes", "--config", str(config), "-o", str(tmp_path / "x.txt")]
    assert await asyncio.to_thread(main, bad) == 2


def test_codes_files_show_a_formula_like_school_as_text(tmp_path: Path) -> None:
    row = ("-s1", '=HYPERLINK("http://x.ru","СОШ")', "K7M4PQ", "https://vk.me/club7?ref=K7M4PQ")
    rows = [(*row, "20.10.2023 23:59", ""), ("s2", "СОШ №2", "AAAAAA", "x", "y", "yes")]

    write_codes(rows, tmp_path / "codes.csv")
    write_codes(rows, tmp_path / "codes.xlsx")

    with (tmp_path / "codes.csv").open(encoding="utf-8", newline="") as file:
        written = list(csv.reader(file))
    assert written[1][:4] == ["'-s1", f"'{row[1]}", "K7M4PQ", row[3]]
    assert written[2] == list(rows[1])
    sheet = openpyxl.load_workbook(tmp_path / "codes.xlsx").active
    assert sheet is not None
    assert sheet["B2"].value == row[1]
    assert sheet["B2"].data_type == "s"  # a string, not a formula


@pytest.mark.parametrize("kind", ["chat_invite_user_by_link"])
async def test_joining_by_link_counts_the_sender(sandbox: Sandbox, kind: str) -> None:
    emu, app = sandbox.emulator, sandbox.app
    await read_chats(app)
    emu.push_message_new(
        from_id=NEWCOMER, peer_id=HEADS_CHAT, text="", action={"type": kind, "member_id": 0}
    )
    chats = app.flow.settings.chats.repo

    async def joined() -> bool:
        return NEWCOMER in await chats.members_in([HEADS_CHAT])

    await until(joined)
