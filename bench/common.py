"""What the benchmark's processes share: campaigns, configs, and the emulator in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from bot.campaign import default_campaign_path, load_campaign
from bot.domain import Campaign, Step, StepKind

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"  # noqa: S105 - the emulator's own, not a VK secret
GROUP_ID = 222_000_777
ADMIN = 900_001

# Every wait of the benchmark is bounded by one of these.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def head_of(n: int) -> int:
    return 10_000_000 + n


def deputy_of(n: int) -> int:
    return 20_000_000 + n


def school_id(n: int) -> str:
    return f"s{n:05d}"


def order47(now: dt.datetime) -> Campaign:
    """The default campaign (order No. 47: five steps for heads, four for staff) with its
    deadline three days ahead."""
    campaign = load_campaign(default_campaign_path())
    return campaign.model_copy(update={"deadline": now + dt.timedelta(days=3)})


def six_step_campaign(now: dt.datetime) -> Campaign:
    """A campaign of six steps, one of them counted, built in code (row 3)."""
    base = load_campaign(default_campaign_path())
    extra = Step(
        id="3.6",
        title="провести родительские собрания о переходе на Сферум",
        short_title="Родительские собрания",
        kind=StepKind.CONFIRM,
    )
    return Campaign(
        id="bench_six",
        title=base.title,
        number="48",
        date=base.date,
        issuer=base.issuer,
        deadline=now + dt.timedelta(days=30),
        timezone=base.timezone,
        steps=(*base.for_heads().steps, extra),
    )


def write_config(
    path: Path, *, api_url: str, db_path: Path, admins: Sequence[int] = (ADMIN,)
) -> Path:
    """A config file as an administrator writes it (the token is the emulator's)."""
    path.write_text(
        f'[vk]\ntoken = "{TOKEN}"\ngroup_id = {GROUP_ID}\napi_url = "{api_url}"\n'
        f'[storage]\npath = "{db_path}"\n'
        f"[bot]\nadmins = [{', '.join(str(a) for a in admins)}]\n",
        encoding="utf-8",
    )
    return path


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CONFIRMBOT_VK_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    return env


async def spawn(
    args: Sequence[str], *, cwd: Path, log: Path, stdout_pipe: bool = False
) -> asyncio.subprocess.Process:
    """Start `python ARGS` with stderr (and stdout unless piped) going to `log`."""
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE if stdout_pipe else sink,
            stderr=sink,
            env=child_env(),
        )


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it is still there after STOP_TIMEOUT seconds."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class EmulatorClient:
    """The emulator's control endpoints (`/_emulator/...`), over loopback HTTP."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session

    @classmethod
    def for_api_url(cls, api_url: str, session: aiohttp.ClientSession) -> EmulatorClient:
        return cls(api_url.removesuffix("/").removesuffix("/method"), session)

    async def push(self, updates: list[dict[str, Any]]) -> None:
        url = f"{self.base_url}/_emulator/updates"
        async with self.session.post(url, params={"access_token": TOKEN}, json=updates) as r:
            if r.status != 200:
                raise RuntimeError(f"POST /_emulator/updates: {r.status} {await r.text()}")

    async def message_new(self, from_id: int, text: str) -> dict[str, Any]:
        """Queue one private message; the update as the bot would get it."""
        url = f"{self.base_url}/_emulator/message_new"
        body = {"from_id": from_id, "peer_id": from_id, "text": text}
        async with self.session.post(url, params={"access_token": TOKEN}, json=body) as r:
            if r.status != 200:
                raise RuntimeError(f"POST /_emulator/message_new: {r.status}")
            update: dict[str, Any] = await r.json()
            return update

    async def sent(self) -> list[dict[str, Any]]:
        """Every message the bot sent, as the emulator stored it (with `sent_at`)."""
        url = f"{self.base_url}/_emulator/sent"
        async with self.session.get(url, params={"access_token": TOKEN}) as r:
            if r.status != 200:
                raise RuntimeError(f"GET /_emulator/sent: {r.status}")
            body: list[dict[str, Any]] = await r.json()
            return body

    async def stats(
        self, *, contains: str | None = None, until: int | None = None, within: float = 30.0
    ) -> dict[str, Any]:
        """GET /_emulator/stats; with `until`, once `until` calls contain `contains` (the
        emulator waits at most `within` seconds)."""
        query = {"access_token": TOKEN}
        if contains is not None:
            query["contains"] = contains
        if until is not None:
            query["until"] = str(until)
            query["timeout"] = str(within)
        url = f"{self.base_url}/_emulator/stats"
        async with self.session.get(url, params=query) as r:
            if r.status != 200:
                raise RuntimeError(f"GET /_emulator/stats: {r.status} {await r.text()}")
            body: dict[str, Any] = await r.json()
            return body

    async def wait_polling(self, process: asyncio.subprocess.Process) -> None:
        """Wait until a bot has sent its first long poll (it is then listening)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the bot exited with {process.returncode} before polling")
            if (await self.stats())["polls"] > 0:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the bot did not long-poll within START_TIMEOUT")


class EmulatorProcess:
    """`python -m bot.vk_emulator` in a subprocess; `client` drives it."""

    def __init__(self, workdir: Path, *, rate_limit: int | None = None) -> None:
        self.workdir = workdir
        self.rate_limit = rate_limit
        self.api_url = ""
        self._process: asyncio.subprocess.Process | None = None
        self._client: EmulatorClient | None = None

    async def __aenter__(self) -> Self:
        args = ["-m", "bot.vk_emulator", "--port", "0", "--token", TOKEN]
        args += ["--group-id", str(GROUP_ID)]
        if self.rate_limit is not None:
            args += ["--rate-limit", str(self.rate_limit)]
        self._process = await spawn(
            args, cwd=self.workdir, log=self.workdir / "emulator.log", stdout_pipe=True
        )
        try:
            self.api_url = await self._read_api_url(self._process)
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600))
            self._client = EmulatorClient.for_api_url(self.api_url, session)
        except BaseException:
            await stop(self._process)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.session.close()
        if self._process is not None:
            await stop(self._process)

    @property
    def client(self) -> EmulatorClient:
        if self._client is None:
            raise RuntimeError("the emulator is not running")
        return self._client

    @staticmethod
    async def _read_api_url(process: asyncio.subprocess.Process) -> str:
        assert process.stdout is not None  # noqa: S101 - piped above
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(20):  # the banner is a few lines
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            line = await asyncio.wait_for(process.stdout.readline(), timeout=remaining)
            if not line:
                break
            text = line.decode().strip()
            if text.startswith("api_url: "):
                return text.removeprefix("api_url: ")
        raise RuntimeError("the emulator did not print its api_url")


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident memory (VmHWM) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
