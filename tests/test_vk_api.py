"""The outgoing call path: VK's per-second limit kept, transient errors retried, others not."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vkbottle import VKAPIError
from vkbottle.http import AiohttpClient

from bot.ratelimit import RateLimiter
from bot.vk_api import ResilientAPI, TransientError, form_urlencode
from bot.vk_emulator import VKEmulator

TOKEN = "api-test-token"


async def test_rate_limiter_never_exceeds_the_rate_in_any_second() -> None:
    now = 0.0
    stamps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        nonlocal now
        now += seconds

    limiter = RateLimiter(20, clock=lambda: now, sleep=fake_sleep)
    for _ in range(95):
        await limiter.acquire()
        stamps.append(now)
        now += 0.001
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s - start < 1.0]
        assert len(in_window) <= 20
    # And it does not wait more than it must: 95 calls at 20/s take a little over 4 s
    # (each window has 50 ms of slack for the trip to VK).
    assert 4.0 <= stamps[-1] < 4.3


def test_rate_limiter_rejects_a_nonpositive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


@pytest.fixture
async def emulator() -> AsyncIterator[VKEmulator]:
    emu = VKEmulator(token=TOKEN, group_id=1)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def api(emulator: VKEmulator) -> AsyncIterator[ResilientAPI]:
    http = AiohttpClient()
    client = ResilientAPI(TOKEN, http_client=http, base_delay=0.001, max_delay=0.01, attempts=4)
    client.API_URL = emulator.api_url
    try:
        yield client
    finally:
        await http.close()


async def send(api: ResilientAPI) -> object:
    return await api.request("messages.send", {"peer_id": 5, "message": "привет", "random_id": 0})


@pytest.mark.parametrize("code", [6, 9, 10])
async def test_transient_errors_are_retried(
    api: ResilientAPI, emulator: VKEmulator, code: int
) -> None:
    emulator.fail_next("messages.send", code, times=2)
    response = await send(api)
    assert isinstance(response, dict)
    assert "response" in response
    assert [c.error_code for c in emulator.calls_to("messages.send")] == [code, code, None]
    assert api.retries == 2


async def test_retries_give_up_after_the_last_attempt(
    api: ResilientAPI, emulator: VKEmulator
) -> None:
    emulator.fail_next("messages.send", 10, times=10)
    with pytest.raises(TransientError, match="VK error 10"):
        await send(api)
    assert len(emulator.calls_to("messages.send")) == 4


@pytest.mark.parametrize("code", [5, 15, 100, 901, 917])
async def test_permanent_errors_are_raised_at_once(
    api: ResilientAPI, emulator: VKEmulator, code: int
) -> None:
    emulator.fail_next("messages.send", code)
    with pytest.raises(VKAPIError) as raised:
        await send(api)
    assert raised.value.code == code
    assert len(emulator.calls_to("messages.send")) == 1


async def test_unreachable_server_is_retried_then_reported(api: ResilientAPI) -> None:
    api.API_URL = "http://127.0.0.1:9/method/"  # discard port: nothing listens
    with pytest.raises(TransientError, match=r"VK unreachable \(ClientConnectorError\)"):
        await send(api)
    assert api.retries == 3


async def test_token_goes_in_the_body_not_the_url(api: ResilientAPI, emulator: VKEmulator) -> None:
    await send(api)
    call = emulator.calls_to("messages.send")[0]
    assert call.ok
    assert TOKEN not in str(call.params)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.one_of(st.text(max_size=200), st.integers()),
        max_size=5,
    )
)
def test_the_fast_form_encoding_is_urllibs(form: dict[str, object]) -> None:
    assert form_urlencode(form) == urllib.parse.urlencode(form).encode()
