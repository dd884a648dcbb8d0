"""The emulator misbehaving on purpose over HTTP; the bot's API path and the bot surviving it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pydantic
import pytest
from vkbottle.http import AiohttpClient

from bot.campaign import default_campaign_path, load_campaign
from bot.clock import FakeClock
from bot.sandbox import start_sandbox
from bot.vk_api import ResilientAPI
from bot.vk_emulator import (
    FAULT_DROPPED,
    FAULT_DROPPED_AFTER,
    Faults,
    VKEmulator,
    build_parser,
    faults_from_args,
)
from tests.conftest import ADMIN, district, head_of

TOKEN = "faults-token"
GROUP_ID = 42
USER = 501_234
# What an aiohttp client sees when the server closes the connection without an answer.
DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


class FakeMonotonic:
    """The emulator's rate-limit clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
async def emulator(monotonic: FakeMonotonic) -> AsyncIterator[VKEmulator]:
    async with VKEmulator(TOKEN, GROUP_ID, max_wait=2.0, monotonic=monotonic) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def post(
    session: aiohttp.ClientSession, emulator: VKEmulator, method: str, **params: Any
) -> tuple[int, str, str]:
    """POST a method; return the HTTP status, content type and body text."""
    data = {"access_token": TOKEN, "v": "5.199", **{k: str(v) for k, v in params.items()}}
    async with session.post(emulator.api_url + method, data=data) as response:
        return response.status, response.content_type, await response.text()


async def call(
    session: aiohttp.ClientSession, emulator: VKEmulator, method: str, **params: Any
) -> dict[str, Any]:
    data = {"access_token": TOKEN, "v": "5.199", **{k: str(v) for k, v in params.items()}}
    async with session.post(emulator.api_url + method, data=data) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


def error_code(body: dict[str, Any]) -> int | None:
    return int(body["error"]["error_code"]) if "error" in body else None


async def lp_server(session: aiohttp.ClientSession, emulator: VKEmulator) -> dict[str, Any]:
    body = await call(session, emulator, "groups.getLongPollServer", group_id=GROUP_ID)
    server: dict[str, Any] = body["response"]
    return server


async def poll(session: aiohttp.ClientSession, server: dict[str, Any]) -> dict[str, Any]:
    params = {"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": "0"}
    async with session.post(server["server"], params=params) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


# --------------------------------------------------------------------------- the settings


def test_no_faults_by_default_and_faults_are_checked() -> None:
    assert not Faults().active
    assert Faults().describe() == "none"
    assert not Faults(seed=5).active
    assert Faults(error_rate={"*": 0.1}).describe() == (
        "error_rate={'*': 0.1}, error_codes=(10,), seed=0"
    )
    for wrong in (
        {"error_rate": {"*": 1.5}},
        {"drop_rate": -0.1},
        {"error_codes": ()},
        {"failed_codes": (4,)},
        {"http_5xx_statuses": (404,)},
        {"rate_limit": 0},
        {"typo_rate": 0.1},
    ):
        with pytest.raises(pydantic.ValidationError):
            Faults.model_validate(wrong)
    with pytest.raises(pydantic.ValidationError):
        Faults().latency = 1.0  # type: ignore[misc]


def test_command_line_flags_make_faults() -> None:
    args = build_parser().parse_args(
        [
            "--error-rate",
            "messages.send=0.2,*=0.05",
            "--error-codes",
            "6,9,10",
            "--latency",
            "0.05",
            "--http-5xx-rate",
            "0.01",
            "--drop-rate",
            "0.02",
            "--drop-after-rate",
            "0.03",
            "--failed-rate",
            "0.1",
            "--poll-drop-rate",
            "0.04",
            "--rate-limit",
            "20",
            "--seed",
            "7",
        ]
    )
    assert faults_from_args(args) == Faults(
        error_rate={"messages.send": 0.2, "*": 0.05},
        error_codes=(6, 9, 10),
        latency=0.05,
        http_5xx_rate=0.01,
        drop_rate=0.02,
        drop_after_rate=0.03,
        failed_rate=0.1,
        poll_drop_rate=0.04,
        rate_limit=20,
        seed=7,
    )
    assert faults_from_args(build_parser().parse_args(["--error-rate", "0.05"])) == Faults(
        error_rate={"*": 0.05}
    )
    assert faults_from_args(build_parser().parse_args([])) == Faults()


def test_command_line_refuses_a_wrong_rate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        faults_from_args(build_parser().parse_args(["--error-rate", "lots"]))
    assert "not a rate" in capsys.readouterr().err


# ------------------------------------------------------------------------------ API faults


async def test_error_rate_gives_the_expected_share_reproducibly(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    faults = Faults(error_rate={"*": 0.25}, error_codes=(6, 9, 10), seed=3)

    async def codes() -> list[int | None]:
        emulator.set_faults(faults)  # each set_faults starts the seeded sequence again
        return [
            error_code(await call(session, emulator, "users.get", user_ids=USER))
            for _ in range(200)
        ]

    first = await codes()
    second = await codes()

    assert first == second
    counts = Counter(first)
    errors = 200 - counts[None]
    assert 30 <= errors <= 70  # 50 expected
    assert set(counts) == {None, 6, 9, 10}
    assert emulator.fault_counts["error"] == 2 * errors
    injected = [c for c in emulator.calls if c.fault == "error"]
    assert len(injected) == 2 * errors
    assert all(c.error_code in (6, 9, 10) for c in injected)


async def test_error_rate_targets_methods(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.set_faults(Faults(error_rate={"messages.send": 1.0}))
    sent = await call(session, emulator, "messages.send", peer_id=USER, message="x", random_id=1)
    users = await call(session, emulator, "users.get", user_ids=USER)
    assert error_code(sent) == 10
    assert sent["error"]["error_msg"] == "Internal server error"
    assert error_code(users) is None
    assert emulator.sent == []

    # A method's own rate overrides "*".
    emulator.set_faults(Faults(error_rate={"*": 1.0, "users.get": 0.0}, error_codes=(9,)))
    users = await call(session, emulator, "users.get", user_ids=USER)
    edit = await call(session, emulator, "messages.edit", peer_id=USER, message_id=1, message="y")
    assert error_code(users) is None
    assert error_code(edit) == 9


async def test_using_faults_restores_what_was_before(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    with emulator.using_faults(Faults(error_rate={"*": 1.0})) as faults:
        assert emulator.faults is faults
        assert error_code(await call(session, emulator, "users.get", user_ids=USER)) == 10
    assert emulator.faults == Faults()
    assert error_code(await call(session, emulator, "users.get", user_ids=USER)) is None


async def test_http_5xx_answers_an_html_page_and_runs_nothing(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.set_faults(Faults(http_5xx_rate=1.0))
    answers = [
        await post(session, emulator, "messages.send", peer_id=USER, message="x", random_id=n)
        for n in range(1, 13)
    ]

    statuses = {status for status, _, _ in answers}
    assert statuses <= {500, 502, 503}
    assert len(statuses) > 1
    for status, content_type, text in answers:
        assert content_type == "text/html"
        assert f"<h1>{status} " in text
        assert "nginx" in text
    assert emulator.sent == []
    assert [c.error_code for c in emulator.calls] == [-status for status, _, _ in answers]
    assert emulator.fault_counts["http_5xx"] == 12


async def test_dropped_before_the_method_raises_and_runs_nothing(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.set_faults(Faults(drop_rate=1.0))
    with pytest.raises(DROPPED):
        await call(session, emulator, "messages.send", peer_id=USER, message="x", random_id=7)

    assert emulator.sent == []
    [dropped] = emulator.calls
    assert dropped.error_code == FAULT_DROPPED
    assert dropped.fault == "drop"
    assert emulator.fault_counts["drop"] == 1


async def test_dropped_after_the_method_ran_is_saved_by_random_id(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.set_faults(Faults(drop_after_rate=1.0))
    with pytest.raises(DROPPED):
        await call(session, emulator, "messages.send", peer_id=USER, message="x", random_id=7)
    with pytest.raises(DROPPED):
        await call(session, emulator, "messages.send", peer_id=USER, message="x", random_id=0)

    # The client never heard, but both messages went out.
    assert [m.random_id for m in emulator.sent] == [7, 0]
    first = emulator.calls[0]
    assert first.error_code == FAULT_DROPPED_AFTER
    assert first.fault == "drop_after"
    assert first.error is not None
    assert first.error["dropped_answer"] == {"response": first.response}

    # The retry: random_id makes VK answer the first message again instead of a second one;
    # without one, the message is sent twice.
    emulator.set_faults(None)
    again = await call(session, emulator, "messages.send", peer_id=USER, message="x", random_id=7)
    twice = await call(session, emulator, "messages.send", peer_id=USER, message="x", random_id=0)
    assert again["response"] == first.response
    assert len(emulator.messages_to(USER)) == 3
    assert twice["response"] != emulator.calls[1].response


async def test_latency_delays_every_call(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.set_faults(Faults(latency=0.05, jitter=0.01))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await call(session, emulator, "users.get", user_ids=USER)
    await call(session, emulator, "users.get", user_ids=USER)
    assert loop.time() - started >= 0.1


# ------------------------------------------------------------------------------ rate limit


async def test_rate_limit_answers_error_6_above_n_calls_a_second(
    emulator: VKEmulator, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    emulator.set_faults(Faults(rate_limit=20))
    burst = await asyncio.gather(
        *(call(session, emulator, "users.get", user_ids=USER) for _ in range(25))
    )

    assert Counter(error_code(b) for b in burst) == {None: 20, 6: 5}
    rejected = next(b for b in burst if error_code(b) == 6)
    assert rejected["error"]["error_msg"] == "Too many requests per second"
    assert emulator.rate_limited == 5
    assert [c.fault for c in emulator.calls].count("rate_limit") == 5

    # The window slides: 0.999 s after the first 20 calls it is still full, at 1 s it is empty.
    monotonic.now += 0.999
    assert error_code(await call(session, emulator, "users.get", user_ids=USER)) == 6
    monotonic.now += 0.001
    after = await asyncio.gather(
        *(call(session, emulator, "users.get", user_ids=USER) for _ in range(20))
    )
    assert all(error_code(b) is None for b in after)
    assert emulator.rate_limited == 6


async def test_rate_limit_lets_n_calls_through_and_skips_long_polls(
    emulator: VKEmulator, session: aiohttp.ClientSession, monotonic: FakeMonotonic
) -> None:
    server = await lp_server(session, emulator)
    emulator.set_faults(Faults(rate_limit=3))
    for _ in range(5):
        assert "updates" in await poll(session, server)
    calls = [await call(session, emulator, "users.get", user_ids=USER) for _ in range(3)]
    assert all(error_code(b) is None for b in calls)
    assert emulator.rate_limited == 0
    assert error_code(await call(session, emulator, "users.get", user_ids=USER)) == 6


# ----------------------------------------------------------------------------- long polls


@pytest.mark.parametrize("code", [1, 2, 3])
async def test_failed_long_poll_answers(
    emulator: VKEmulator, session: aiohttp.ClientSession, code: int
) -> None:
    server = await lp_server(session, emulator)
    emulator.push_message_new(from_id=USER, peer_id=USER, text="не пропадёт")
    emulator.set_faults(Faults(failed_rate=1.0, failed_codes=(code,)))
    failed = await poll(session, server)
    emulator.set_faults(None)
    after = await poll(session, server)

    assert emulator.fault_counts["failed"] == 1
    if code == 1:
        # The emulator keeps all history: the client's own ts is still good.
        assert failed == {"failed": 1, "ts": server["ts"]}
        assert len(after["updates"]) == 1
    else:
        # 2 and 3 expire the key, as force_failed does.
        assert failed == {"failed": code}
        assert after == {"failed": 2}


async def test_long_poll_drops_5xx_and_latency(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await lp_server(session, emulator)
    emulator.set_faults(Faults(poll_drop_rate=1.0))
    with pytest.raises(DROPPED):
        await poll(session, server)

    emulator.set_faults(Faults(poll_5xx_rate=1.0, http_5xx_statuses=(504,)))
    params = {"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": "0"}
    async with session.post(server["server"], params=params) as response:
        assert response.status == 504
        assert "<h1>504 Gateway Timeout</h1>" in await response.text()

    emulator.set_faults(Faults(poll_latency=0.05))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert "updates" in await poll(session, server)
    assert loop.time() - started >= 0.05

    assert emulator.fault_counts["poll_drop"] == 1
    assert emulator.fault_counts["poll_5xx"] == 1
    # Long polls are not API calls: only getLongPollServer is in calls.
    assert [c.method for c in emulator.calls] == ["groups.getLongPollServer"]


# ----------------------------------------------------------------- the bot's API call path


async def test_resilient_api_gets_every_message_through_exactly_once(
    emulator: VKEmulator,
) -> None:
    emulator.set_faults(
        Faults(
            error_rate={"*": 0.3},
            error_codes=(6, 9, 10),
            http_5xx_rate=0.1,
            drop_rate=0.05,
            drop_after_rate=0.1,
            # VK's 20 a second, scaled down tenfold on both sides so the test is fast; the
            # emulator is a little stricter than the client, as when another process shares
            # the token, so the limit does bite.
            rate_limit=16,
            rate_window=0.1,
            latency=0.001,
            jitter=0.002,
            seed=11,
        )
    )
    # The emulator's rate limit runs on the real clock here.
    emulator.monotonic = None
    http = AiohttpClient()
    # attempts: with these faults about 6 calls in 10 fail, and 0.6 ** 8 is 1.7% per message;
    # with 8 attempts one of the 50 messages ran out of them in 2 runs of 6.
    api = ResilientAPI(TOKEN, http_client=http, base_delay=0.001, max_delay=0.01, attempts=40)
    api.API_URL = emulator.api_url
    api.limiter.capacity, api.limiter.window = 20, 0.1
    try:
        answers = await asyncio.gather(
            *(
                api.request(
                    "messages.send",
                    {"peer_id": USER + n, "message": f"сообщение {n}", "random_id": 1000 + n},
                )
                for n in range(50)
            )
        )
    finally:
        await http.close()

    assert all(isinstance(a["response"], int) for a in answers)
    assert sorted(m.random_id for m in emulator.sent) == [1000 + n for n in range(50)]
    assert len({a["response"] for a in answers}) == 50
    counts = emulator.fault_counts
    print(f"faults injected: {counts}; retries: {api.retries}")
    for kind in ("error", "http_5xx", "drop", "drop_after", "rate_limit"):
        assert counts[kind] > 0, kind
    # Each drop after the method ran was a message already sent, answered again on retry.
    ran_then_dropped = [c for c in emulator.calls_to("messages.send") if c.fault == "drop_after"]
    for dropped in ran_then_dropped:
        peer = int(dropped.params["peer_id"])
        assert len(emulator.messages_to(peer)) == 1


# ------------------------------------------------------------------------ the whole bot


async def test_the_bot_survives_faults_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    campaign = load_campaign(default_campaign_path())
    schools, people = district(40)
    box = await start_sandbox(
        tmp_path,
        schools=schools,
        people=people,
        admins=[ADMIN],
        clock=FakeClock(campaign.deadline - dt.timedelta(days=3)),
        campaign=campaign,
    )
    emulator = box.emulator
    heads: list[int] = []
    kinds = ("failed", "poll_drop", "poll_5xx")
    try:
        emulator.set_faults(
            Faults(
                # The bot's ResilientAPI keeps its production settings (6 attempts from
                # 0.25 s): API faults stay moderate, long-poll faults are frequent.
                error_rate={"*": 0.1},
                error_codes=(6, 9, 10),
                http_5xx_rate=0.05,
                drop_rate=0.05,
                drop_after_rate=0.05,
                latency=0.005,
                rate_limit=20,
                # Code 3 loses what is pending by VK's rules: see the test below.
                failed_rate=0.3,
                failed_codes=(1, 2),
                poll_drop_rate=0.15,
                poll_5xx_rate=0.15,
                seed=5,
            )
        )
        # One head after another, so that every answer needs long polls of its own; at least
        # ten, and on until every kind of long-poll fault has struck (how many polls an answer
        # takes depends on timing, so a fixed number of heads could see none of one kind).
        for n in range(1, 41):
            head = head_of(n)
            heads.append(head)
            box.say(head, "3.1 выполнено")
            await emulator.wait_for_message(head, contains="Принято", timeout=20)
            if n >= 10 and all(emulator.fault_counts[kind] > 0 for kind in kinds):
                break
        answers = await box.app.repos.answers.history(campaign.id)
        print(f"faults injected: {emulator.fault_counts}")
    finally:
        await box.close()
    assert sorted(a.answered_by for a in answers) == sorted(heads)
    for head in heads:
        receipts = [m for m in emulator.messages_to(head) if "Принято" in m.text]
        assert len(receipts) == 1, head
    counts = emulator.fault_counts
    for kind in kinds:
        assert counts[kind] > 0, kind
    assert sum(counts[k] for k in ("error", "http_5xx", "drop", "drop_after")) > 0


async def test_a_message_lost_at_failed_3_is_asked_for_by_the_next_reminder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    campaign = load_campaign(default_campaign_path())
    schools, people = district(1)
    box = await start_sandbox(
        tmp_path,
        schools=schools,
        people=people,
        admins=[ADMIN],
        clock=FakeClock(campaign.deadline - dt.timedelta(days=3)),
        campaign=campaign,
    )
    emulator = box.emulator
    try:
        # The poll waiting now wakes to find failed 3 and the message both queued: failed wins.
        emulator.force_failed(3)
        box.say(head_of(1), "3.1 выполнено")
        after_message = emulator.ts
        # The bot asks for the next batch only once it has handled the one before, so once it
        # polls from past the message, it has either answered it or skipped it for good.
        await emulator.wait_for(
            lambda: any(int(p.get("ts", 0)) >= after_message for p in emulator.poll_requests),
            timeout=10,
            description="a long poll from past the message",
        )
        # VK's failed 3: the events since ts are gone, for any client (nothing to catch up).
        assert await box.app.repos.answers.history(campaign.id) == []
        # The next reminder lists what the school still owes, which asks for it again.
        await box.app.notifier.remind()
        reminder = await emulator.wait_for_message(head_of(1), contains="⏰")
        owed = [line for line in reminder.text.splitlines() if line.startswith("• ")]
        assert "• 3.1 Структура классов и бесед — нет ответа" in owed
        box.say(head_of(1), "3.1 выполнено")
        await emulator.wait_for_message(head_of(1), contains="Принято")
        answers = await box.app.repos.answers.history(campaign.id)
    finally:
        await box.close()
    assert [a.answered_by for a in answers] == [head_of(1)]
