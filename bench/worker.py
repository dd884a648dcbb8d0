"""The processes the benchmark measures, each in a process of its own.

    python -m bench.worker confirmbot --config CFG   # the bot: build_app + serve, until SIGTERM
    python -m bench.worker confirmbot --config CFG --keep-limit   # with VK's 20 requests/s
    python -m bench.worker echo --api-url URL        # a bare vkbottle echo bot, until SIGTERM
    python -m bench.worker status --config CFG ...   # row 3: status, pending, report; JSON out

In `confirmbot` (unless `--keep-limit`) and `status` the bot's own limit of 20 requests a
second is lifted: the emulator enforces no limit there, and these rows measure the bot's work,
not VK's limit (rows 1a, 1c and 2 measure that). The echo bot has no limiter at all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
from vkbottle import API, Bot, GroupEventType
from vkbottle.bot import Message, MessageEvent
from vkbottle.http import AiohttpClient
from vkbottle.polling import BotPolling

from bench.common import ADMIN, GROUP_ID, TOKEN, EmulatorClient, order47, six_step_campaign
from bench.common import vm_hwm_mb as hwm
from bot.actions import Incoming
from bot.app import App, Runner, build_app, serve
from bot.clock import SystemClock
from bot.config import load_config
from bot.parsing import parse_admin_command
from bot.report import write_xlsx
from bot.texts import split_message
from bot.vk_api import RateLimiter, ResilientAPI
from storage.reports import ReportRepository

# Far above anything the emulator can serve: the limiter never waits.
UNLIMITED = 1_000_000.0
# A bare SQL count over the same table `статус` reads: row 3's baseline.
BARE_COUNT = (
    "SELECT step_id, state, COUNT(*) FROM current_answers WHERE campaign_id = ? "
    "GROUP BY step_id, state"
)


def setup_logging() -> None:
    """As `confirmbot run` logs: INFO, vkbottle and aiohttp at WARNING."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("vkbottle").setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


def lift_limit(app: App) -> None:
    if not isinstance(app.api, ResilientAPI):
        raise TypeError("build_app made an API without the rate limiter")
    app.api.limiter = RateLimiter(UNLIMITED)


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def run_confirmbot(config_path: Path, *, keep_limit: bool = False) -> None:
    config = load_config(config_path)
    app = await build_app(config, campaign=order47(SystemClock().now()))
    if not keep_limit:
        lift_limit(app)
    # What the bot's connection runs with, for the table: read from the connection itself.
    durability = {
        "synchronous": await app.db.fetchval("PRAGMA synchronous"),
        "journal_mode": await app.db.fetchval("PRAGMA journal_mode"),
    }
    await asyncio.to_thread(Path("durability.json").write_text, json.dumps(durability))
    stop = stop_on_signals()
    try:
        await serve(app, stop, scheduler=False)
    finally:
        await app.close()


async def run_echo(api_url: str) -> None:
    """The framework's ceiling: one handler per kind of update, one API call each."""
    http = AiohttpClient()
    api = API(TOKEN, http_client=http)
    api.API_URL = api_url
    bot = Bot(api=api, polling=BotPolling(api, group_id=GROUP_ID))

    @bot.on.message()
    async def echo(message: Message) -> None:
        await message.answer("ok")

    @bot.on.raw_event(GroupEventType.MESSAGE_EVENT, dataclass=MessageEvent)
    async def press(event: MessageEvent) -> None:
        await event.show_snackbar("ok")

    stop = stop_on_signals()
    polling = asyncio.create_task(bot.run_polling())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({polling, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        bot.polling.stop()
        for task in (polling, stopped):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await http.close()


async def _timed(coro: Any) -> float:
    start = time.perf_counter()
    await coro
    return time.perf_counter() - start


async def _handled_and_sent(app: App, runner: Runner, update: dict[str, Any]) -> None:
    """The update handled and its messages through the outbox to the emulator."""
    await runner.handle(update)
    await app.sender.drain()


async def run_status(config_path: Path, iterations: int, report: Path) -> dict[str, Any]:
    """Row 3 in the bot's own process: `статус`, `должники`, the XLSX report, peak RSS."""
    config = load_config(config_path)
    campaign = six_step_campaign(SystemClock().now())
    app = await build_app(config, campaign=campaign)
    lift_limit(app)
    runner = Runner(app)
    out: dict[str, Any] = {"rss_start_mb": hwm()}
    async with aiohttp.ClientSession() as session:
        emulator = EmulatorClient.for_api_url(config.vk.api_url, session)
        try:
            sql = [
                await _timed(app.db.fetchall(BARE_COUNT, (campaign.id,)))
                for _ in range(iterations + 1)
            ]
            out["bare_count_ms"] = statistics.median(sql[1:]) * 1000
            # From the update to messages.send answered: vkbottle's dispatch, the handler,
            # the queries, the text, and the HTTP call to the emulator.
            sent_before = (await emulator.stats())["calls"].get("messages.send", 0)
            status = []
            for _ in range(iterations + 1):
                update = await emulator.message_new(ADMIN, "статус")
                status.append(await _timed(_handled_and_sent(app, runner, update)))
            sent = (await emulator.stats())["calls"].get("messages.send", 0) - sent_before
            out["status_cold_ms"] = status[0] * 1000
            out["status_median_ms"] = statistics.median(status[1:]) * 1000
            out["status_max_ms"] = max(status[1:]) * 1000
            out["status_replies"] = sent
            out["rss_after_status_mb"] = hwm()

            # `должники`: first the flow alone (the text), then the whole path with delivery.
            parsed = parse_admin_command("должники")
            if parsed is None:
                raise RuntimeError("«должники» is not a command")
            incoming = Incoming(user_id=ADMIN, peer_id=ADMIN, text="должники")
            start = time.perf_counter()
            actions = await app.flow.on_command(incoming, parsed)
            out["pending_compute_s"] = time.perf_counter() - start
            text = "\n".join(str(getattr(a, "text", "")) for a in actions)
            out["pending_chars"] = len(text)
            out["pending_parts"] = len(split_message(text))
            sent_before = (await emulator.stats())["calls"].get("messages.send", 0)
            update = await emulator.message_new(ADMIN, "должники")
            out["pending_reply_s"] = await _timed(_handled_and_sent(app, runner, update))
            after = (await emulator.stats())["calls"].get("messages.send", 0)
            out["pending_messages"] = after - sent_before
            out["rss_after_pending_mb"] = hwm()

            repo = ReportRepository(app.db)
            start, cpu = time.perf_counter(), time.process_time()
            summary = await write_xlsx(
                repo, campaign, campaign.timezone, report, SystemClock().now()
            )
            out["report_s"] = time.perf_counter() - start
            out["report_cpu_s"] = time.process_time() - cpu
            out["report_answers"] = summary.answers
            out["rss_peak_mb"] = hwm()
        finally:
            await app.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    commands = parser.add_subparsers(dest="command", required=True)
    bot = commands.add_parser("confirmbot")
    bot.add_argument("--config", type=Path, required=True)
    bot.add_argument("--keep-limit", action="store_true", help="keep VK's 20 requests/s")
    echo = commands.add_parser("echo")
    echo.add_argument("--api-url", required=True)
    status = commands.add_parser("status")
    status.add_argument("--config", type=Path, required=True)
    status.add_argument("--iterations", type=int, default=15)
    status.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    setup_logging()
    if args.command == "confirmbot":
        asyncio.run(run_confirmbot(args.config, keep_limit=args.keep_limit))
    elif args.command == "echo":
        asyncio.run(run_echo(args.api_url))
    else:
        result = asyncio.run(run_status(args.config, args.iterations, args.report))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
