"""`confirmbot run` as a real separate process against the VK API emulator.

Every wait is bounded; the process is killed in `finally` whatever happens, so a failing test
leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.__main__ import EXIT_TOKEN_REJECTED
from bot.app import build_app, serve
from bot.clock import SystemClock
from bot.config import load_config
from bot.domain import Person, Role, School
from bot.vk_api import ResilientAPI
from bot.vk_emulator import VKEmulator
from storage.db import Database
from storage.repositories import RosterRepository

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "vk1.a.RUN-secret-7f3c9d"
GROUP = 4343
ADMIN = 900_001
HEAD = 500_001
DEPUTY = 600_001
START_TIMEOUT = 15.0  # a cold interpreter importing vkbottle, on a slow CI machine
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A port nobody listens on: bound by us to learn it, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(tmp_path: Path, api_url: str) -> Path:
    """Write a config pointing at `api_url` and import a small roster into its database."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[vk]\ntoken = "{TOKEN}"\ngroup_id = {GROUP}\napi_url = "{api_url}"\n'
        '[storage]\npath = "bot.db"\n'
        f"[bot]\nadmins = [{ADMIN}]\n"
        "[reminders]\nbefore = []\n",
        encoding="utf-8",
    )
    db = await Database.open(tmp_path / "bot.db")
    try:
        await RosterRepository(db).apply(
            [School(id="s1", name="МКОУ «СОШ №1»"), School(id="s2", name="МКОУ «СОШ №2»")],
            [
                Person(vk_id=HEAD, school_id="s1", full_name="Директор 1", role=Role.HEAD),
                Person(vk_id=DEPUTY, school_id="s1", full_name="Завуч 1", role=Role.DEPUTY),
                Person(vk_id=500_002, school_id="s2", full_name="Директор 2", role=Role.HEAD),
            ],
            SystemClock().now(),
        )
    finally:
        await db.close()
    return config


async def stored_answers(tmp_path: Path) -> list[tuple[str, str, str, int]]:
    db = await Database.open(tmp_path / "bot.db")
    try:
        rows = await db.fetchall(
            "SELECT school_id, step_id, state, answered_by FROM answers ORDER BY id"
        )
    finally:
        await db.close()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


class BotProcess:
    """`python -m bot run` with its stdout and stderr read line by line as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._pumps = [
            asyncio.create_task(self._pump(proc.stdout)),
            asyncio.create_task(self._pump(proc.stderr)),
        ]

    @classmethod
    async def start(cls, config: Path, cwd: Path) -> BotProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("CONFIRMBOT_VK_TOKEN", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(config),
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def exited(self) -> bool:
        return self.proc.returncode is not None

    async def wait_for_line(self, *needles: str, timeout: float) -> str:  # noqa: ASYNC109
        """The first output line containing one of `needles`; fails at once if the process
        ends first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        needle = " or ".join(repr(n) for n in needles)
        while True:
            found = next((line for line in self.lines if any(n in line for n in needles)), None)
            if found is not None:
                return found
            if all(pump.done() for pump in self._pumps):
                await self.proc.wait()
                pytest.fail(
                    f"the bot exited with code {self.proc.returncode} before logging "
                    f"{needle}; its output:\n{self.output}"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                pytest.fail(f"no {needle} in the bot's output after {timeout} s:\n{self.output}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))

    async def terminate(self, timeout: float = STOP_TIMEOUT) -> int:  # noqa: ASYNC109
        """SIGTERM, then the exit code; fails if the process does not end within `timeout`."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout=timeout)
        except TimeoutError:
            pytest.fail(f"the bot did not stop within {timeout} s of SIGTERM:\n{self.output}")
        await self._drain()
        return code

    async def wait_exit(self, timeout: float) -> int:  # noqa: ASYNC109
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout=timeout)
        except TimeoutError:
            pytest.fail(f"the bot is still running after {timeout} s:\n{self.output}")
        await self._drain()
        return code

    async def _drain(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._pumps), timeout=2)

    async def kill(self) -> None:
        """Make sure the process is gone and reaped (no zombie), whatever happened before."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), timeout=5)
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)


@contextlib.asynccontextmanager
async def running_bot(config: Path, cwd: Path) -> AsyncIterator[BotProcess]:
    bot = await BotProcess.start(config, cwd)
    try:
        yield bot
    finally:
        await bot.kill()


@contextlib.asynccontextmanager
async def emulator_on(port: int = 0, token: str = TOKEN) -> AsyncIterator[VKEmulator]:
    emulator = VKEmulator(token=token, group_id=GROUP, port=port)
    await emulator.start()
    try:
        yield emulator
    finally:
        emulator.release_pollers()
        await emulator.stop()


async def answer_and_get_receipt(emulator: VKEmulator, text: str = "3.1 выполнено") -> str:
    emulator.push_message_new(from_id=HEAD, peer_id=HEAD, text=text)
    reply = await emulator.wait_for_message(HEAD, contains="Принято", timeout=10)
    return reply.text


async def test_answers_survives_lost_vk_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    emulator = VKEmulator(token=TOKEN, group_id=GROUP, port=port)
    await emulator.start()
    try:
        config = await prepare(tmp_path, emulator.api_url)
        async with running_bot(config, tmp_path) as bot:
            await bot.wait_for_line("confirmbot started", timeout=START_TIMEOUT)
            await emulator.wait_for(
                lambda: bool(emulator.poll_requests), timeout=START_TIMEOUT, description="a poll"
            )
            assert "3.1" in await answer_and_get_receipt(emulator)
            assert await stored_answers(tmp_path) == [("s1", "3.1", "done", HEAD)]

            # VK goes away while the bot runs: vkbottle's polling loop (or the runner) logs it
            # and retries; when VK is back the bot answers again.
            await emulator.stop()  # answers the poll in flight; the next one finds no server
            await bot.wait_for_line("VK unreachable", "Unable to make request", timeout=10)
            assert not bot.exited
            polls = len(emulator.poll_requests)
            await emulator.start()  # the same instance and port: the same long-poll history
            await emulator.wait_for(
                lambda: len(emulator.poll_requests) > polls, timeout=15, description="re-poll"
            )
            emulator.push_message_new(from_id=HEAD, peer_id=HEAD, text="3.4 выполнено")
            await emulator.wait_for_message(HEAD, contains="Принято", count=2, timeout=10)

            assert await bot.terminate() == 0
    finally:
        emulator.release_pollers()
        await emulator.stop()
    assert "confirmbot stopped" in bot.output
    assert "Traceback" not in bot.output
    assert TOKEN not in bot.output
    assert await stored_answers(tmp_path) == [
        ("s1", "3.1", "done", HEAD),
        ("s1", "3.4", "done", HEAD),
    ]


async def test_vk_down_at_start_then_up_connects_answers_and_stops_on_sigint(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = await prepare(tmp_path, f"http://127.0.0.1:{port}/method/")
    async with running_bot(config, tmp_path) as bot:
        # The first failed attempt to reach VK is in the log (as a retry of the API call or
        # as the runner's "VK unreachable").
        await bot.wait_for_line("ClientConnectorError", "VK unreachable", timeout=START_TIMEOUT)
        assert not bot.exited
        async with emulator_on(port) as emulator:
            await emulator.wait_for(
                lambda: bool(emulator.poll_requests), timeout=15, description="a poll"
            )
            await answer_and_get_receipt(emulator)
            bot.proc.send_signal(signal.SIGINT)
            assert await bot.wait_exit(STOP_TIMEOUT) == 0
    assert "confirmbot stopped" in bot.output
    assert "Traceback" not in bot.output
    assert TOKEN not in bot.output
    assert await stored_answers(tmp_path) == [("s1", "3.1", "done", HEAD)]


async def test_vk_unreachable_at_start_is_retried_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    config = await prepare(tmp_path, f"http://127.0.0.1:{port}/method/")
    async with running_bot(config, tmp_path) as bot:
        line = await bot.wait_for_line("VK unreachable", timeout=20)
        assert "retry" in line
        assert not bot.exited
        assert await bot.terminate() == 0
    assert "confirmbot stopped" in bot.output
    assert TOKEN not in bot.output


async def test_runner_outlives_exhausted_retries_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process, with ResilientAPI's retries cut short: when they run out at start-up the
    runner logs "VK unreachable" and keeps trying instead of dying (the separate process would
    need ~8 s of retries to get there)."""
    config = load_config(
        await prepare(tmp_path, f"http://127.0.0.1:{free_port()}/method/"), env={}
    )
    app = await build_app(config)
    api = app.api
    assert isinstance(api, ResilientAPI)
    api.attempts, api.base_delay = 2, 0.01
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, scheduler=False))

    def runner_lines() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "bot.app" and "VK unreachable" in r.getMessage()
        ]

    try:
        for _ in range(100):
            if runner_lines() or task.done():
                break
            await asyncio.sleep(0.05)
        assert not task.done(), task.exception()
        assert runner_lines(), caplog.text
        assert "TransientError" in runner_lines()[0]
        assert "retrying in" in runner_lines()[0]
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=STOP_TIMEOUT)
        finally:
            await app.close()
    assert TOKEN not in caplog.text


REJECTED = "VK rejected the access token (error 5)"


async def test_a_token_revoked_while_running_stops_the_bot_with_one_clear_line(
    tmp_path: Path,
) -> None:
    async with emulator_on() as emulator:
        config = await prepare(tmp_path, emulator.api_url)
        async with running_bot(config, tmp_path) as bot:
            await bot.wait_for_line("confirmbot started", timeout=START_TIMEOUT)
            await emulator.wait_for(
                lambda: bool(emulator.poll_requests), timeout=START_TIMEOUT, description="a poll"
            )
            await answer_and_get_receipt(emulator)

            emulator.revoke_token()  # the poll in flight ends; every call is error 5 from now

            code = await bot.wait_exit(STOP_TIMEOUT + 10)
    assert code == EXIT_TOKEN_REJECTED, bot.output
    assert [line for line in bot.lines if REJECTED in line] != []
    assert len([line for line in bot.lines if REJECTED in line]) == 1, bot.output
    assert "Traceback" not in bot.output
    assert "confirmbot stopped" in bot.output
    assert TOKEN not in bot.output
    assert await stored_answers(tmp_path) == [("s1", "3.1", "done", HEAD)]


async def test_wrong_token_exits_non_zero_naming_the_token(tmp_path: Path) -> None:
    async with emulator_on(token="the-right-token") as emulator:
        config = await prepare(tmp_path, emulator.api_url)
        async with running_bot(config, tmp_path) as bot:
            code = await bot.wait_exit(START_TIMEOUT)
    assert code == EXIT_TOKEN_REJECTED
    assert len([line for line in bot.lines if REJECTED in line]) == 1, bot.output
    assert "Traceback" not in bot.output
    assert TOKEN not in bot.output
    assert TOKEN.removeprefix("vk1.a.") not in bot.output
    # Nothing was answered or stored: the bot never got to poll.
    assert emulator.poll_requests == []
    assert emulator.sent == []
