"""The composition root: config -> database -> repositories -> rules -> handlers -> Bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import ClientError, web
from vkbottle import API, Bot, ErrorHandler, VKAPIError
from vkbottle.http import AiohttpClient
from vkbottle.polling import BotPolling

from bot.actions import Action, Incoming
from bot.campaign import load_campaign
from bot.chats import ChatDirectory
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.domain import Campaign
from bot.flow import Flow, Settings
from bot.max import (
    PLATFORM,
    MaxAccounts,
    MaxDirectory,
    MaxMessenger,
    MaxTransport,
    max_address,
    poll,
    webhook_handler,
)
from bot.max_api import MaxAPIError, MaxClient, MaxConfig, MaxUnreachable, Update
from bot.messages import Address
from bot.notify import Audience, Notifier
from bot.onboarding import Onboarding, refresh
from bot.orders import Desk, Orders
from bot.outbox import Outbox, Sender, Transport, Transports, Uploader
from bot.pipeline import Pipeline, tune_process
from bot.ports import Messenger
from bot.rules.base import Context
from bot.rules.chats import ChatRules
from bot.rules.heads import HeadRules
from bot.rules.onboarding import OnboardingRules
from bot.rules.own_steps import StaffStepRules
from bot.rules.staff import StaffRules
from bot.scheduler import Scheduler
from bot.service import CampaignService, Repositories
from bot.vk import CURRENT_UPDATE, VKMessenger, VKTransport, update_author, vk_address
from bot.vk_api import AUTH_FAILED, DEFAULT_TIMEOUT, ResilientAPI, TransientError
from bot.weblogin import WebLogin
from handlers.admins import admins_labeler
from handlers.chat_events import chat_events_labeler
from handlers.heads import heads_labeler
from handlers.max import MaxHandlers, author, users_of, wrap
from storage.accounts import FIRST_OTHER_PERSON, AccountRepository
from storage.db import Database
from storage.onboarding import ChatRepository, RegistrationRepository
from storage.outbox import OutboxRepository
from storage.repositories import Membership
from storage.web import WebAuthRepository
from web.server import serve_page

log = logging.getLogger(__name__)

# How long a stopping bot keeps sending what is already in the outbox.
SHUTDOWN_SEND_SECONDS = 5.0


class MaxTokenRejected(Exception):
    """MAX refused the bot's token (401). Only MAX's side stops (see MaxRunner.run)."""

    def __str__(self) -> str:
        return (
            "MAX rejected the bot's token (HTTP 401): it was revoked or is wrong; VK goes on "
            "and MAX's side stops (its messages are retried as when MAX is down, about 20 "
            "minutes, then given up); put the bot's token in CONFIRMBOT_MAX_TOKEN and restart "
            "the bot / MAX отклонил ключ бота: укажите верный ключ в CONFIRMBOT_MAX_TOKEN и "
            "перезапустите бота"
        )


class TokenRejected(Exception):
    """VK refused the token (error 5): it was revoked, or never right. Retrying cannot help:
    the bot stops, and says so once."""

    def __str__(self) -> str:
        return (
            "VK rejected the access token (error 5): it was revoked or is wrong; put a new "
            "community token in CONFIRMBOT_VK_TOKEN (or [vk] token) and start the bot again / "
            "ВКонтакте отклонил ключ доступа: создайте новый ключ сообщества и перезапустите бота"
        )


def _polling_errors() -> ErrorHandler:
    """vkbottle's polling logs an error with its traceback and tries again, forever; error 5
    goes to the runner instead, which stops the bot."""
    errors = ErrorHandler()

    async def token_rejected(error: Exception) -> None:
        raise error

    errors.register_error_handler(VKAPIError[AUTH_FAILED])(token_rejected)
    return errors


class StatePolling(BotPolling):
    """vkbottle's polling, keeping its `ts` file beside our database instead of the cwd."""

    def __init__(self, api: API, group_id: int, state_dir: Path, wait: int = 25) -> None:
        super().__init__(
            api,
            group_id=group_id,
            wait=wait,
            skip_old_events=False,
            error_handler=_polling_errors(),
        )
        self._state_dir = state_dir

    @property
    def ts_state_path(self) -> Path:
        return self._state_dir / f"long-poll-{self.group_id}.json"

    def restore_server_ts(self, server: dict[str, Any]) -> dict[str, Any]:
        """The saved position; on the very first start, save VK's at once, so a crash before
        the first batch is handled resumes from there instead of skipping what came since."""
        if not self.ts_state_path.exists():
            self.save_server_ts(server)
            return server
        return super().restore_server_ts(server)


def both_address(peer_id: int, accounts: MaxAccounts | None = None) -> Address:
    """A conversation on VK or MAX, told apart by its number: MAX group chats are negative,
    MAX people's person ids start at 2^40; everything else is VK's (bot/vk.py), except a
    VK-born person who linked a MAX account (migration 0021): they moved to MAX, so the bot
    writes to them there first. An answer to an update goes back where the update came from
    whatever this says (Outbox._on)."""
    if peer_id < 0 or peer_id >= FIRST_OTHER_PERSON:
        return max_address(peer_id)
    if accounts is not None and accounts.user(peer_id) is not None:
        return max_address(peer_id)
    return vk_address(peer_id)


class BothMessengers:
    """What the rules read from a messenger, asked of the one the person or chat is on."""

    def __init__(self, vk: VKMessenger, max_side: MaxMessenger) -> None:
        self.vk = vk
        self.max = max_side

    async def user_name(self, user_id: int) -> str | None:
        if user_id >= FIRST_OTHER_PERSON:
            return await self.max.user_name(user_id)
        return await self.vk.user_name(user_id)

    async def chat_members(self, peer_id: int) -> list[int] | None:
        if peer_id < 0:
            return await self.max.chat_members(peer_id)
        return await self.vk.chat_members(peer_id)

    async def resolve_screen_name(self, screen_name: str) -> int | None:
        return await self.vk.resolve_screen_name(screen_name)


@dataclass
class MaxSide:
    """The MAX half of a deployment that runs both."""

    config: MaxConfig
    session: aiohttp.ClientSession
    client: MaxClient
    directory: MaxDirectory
    accounts: MaxAccounts
    transport: MaxTransport
    messenger: MaxMessenger
    # None until MAX answers GET /me: the bot starts without MAX (MaxRunner.connect).
    bot_id: int | None = None
    handlers: MaxHandlers | None = None

    def connected(self, bot_id: int) -> None:
        """MAX answered: its side may send and take updates from now on."""
        self.bot_id = self.transport.bot_id = bot_id
        if self.handlers is not None:
            self.handlers.bot_id = bot_id


async def _build_max(config: MaxConfig, db: Database) -> MaxSide:
    """MAX's half, without a call to MAX: VK's must start even when MAX is unreachable."""
    session = aiohttp.ClientSession()
    try:
        client = MaxClient(
            config.token.get_secret_value(),
            config.api_url,
            session=session,
            rate=config.rate,
            timeout=config.timeout,
        )
        directory = MaxDirectory()
        accounts = MaxAccounts(AccountRepository(db))
        await accounts.load()
        await accounts.learn((*config.admins, *filter(None, [config.controller])))
        await accounts.load_dialogs(directory)
        transport = MaxTransport(
            client, directory, bot_id=None, chat_rate=config.chat_rate, user_of=accounts.user
        )
        # No random_id on MAX: what a process that died left pending may have been sent
        # already; each is looked for in its conversation before it is sent again.
        suspects = await OutboxRepository(db).pending_keys(PLATFORM)
        transport.suspect(suspects)
        if suspects:
            log.info("%d MAX messages pending from before: each is checked first", len(suspects))
        messenger = MaxMessenger(client, directory, accounts)
    except BaseException:
        await session.close()
        raise
    return MaxSide(config, session, client, directory, accounts, transport, messenger)


@dataclass
class App:
    config: Config
    clock: Clock
    db: Database
    repos: Repositories
    campaign: Campaign
    service: CampaignService
    orders: Orders
    flow: Flow
    messenger: VKMessenger
    outbox: Outbox
    sender: Sender
    pipeline: Pipeline
    notifier: Notifier
    scheduler: Scheduler
    api: ResilientAPI
    http: AiohttpClient
    bot: Bot
    polling: StatePolling
    max: MaxSide | None = None

    async def close(self) -> None:
        await self.http.close()
        if self.max is not None:
            await self.max.session.close()
        await self.db.close()


async def build_app(
    config: Config, *, clock: Clock | None = None, campaign: Campaign | None = None
) -> App:
    clock = clock or SystemClock()
    campaign = campaign or load_campaign(config.campaign.file)
    db = await Database.open(config.storage.path)
    max_side: MaxSide | None = None
    try:
        repos = Repositories.on(db)
        await repos.campaigns.save(campaign, clock.now())
        http = AiohttpClient()
        api = ResilientAPI(
            config.vk.secret(),
            http_client=http,
            rate=config.vk.requests_per_second,
            timeout=config.vk.request_timeout or DEFAULT_TIMEOUT,
        )
        api.API_URL = config.vk.api_url
        messenger = VKMessenger(api)
        if config.max is not None:
            max_side = await _build_max(config.max, db)
        outbox = Outbox(
            OutboxRepository(db),
            repos.conversations,
            repos.roster,
            clock,
            platform=VKTransport.platform,
            address=vk_address
            if max_side is None
            else partial(both_address, accounts=max_side.accounts),
        )
        transport: Transport = VKTransport(api)
        uploader: Uploader = messenger
        rules_messenger: Messenger = messenger
        admins = set(config.bot.admins)
        controller = config.bot.controller
        admin_chats, heads_chats = config.bot.admin_chats, config.bot.heads_chats
        if max_side is not None:
            # One outbox and one sender: each message goes by its address's platform.
            transport = uploader = Transports(
                [transport, max_side.transport], {"vk": messenger, "max": max_side.messenger}
            )
            rules_messenger = BothMessengers(messenger, max_side.messenger)
            admins |= {p for a in max_side.config.admins if (p := max_side.accounts.person(a))}
            if max_side.config.controller is not None:
                # The district moved its controller to MAX: escalations go there.
                controller = max_side.accounts.person(max_side.config.controller)
            admin_chats += max_side.config.admin_chats
            heads_chats += max_side.config.heads_chats
        sender = Sender(db, outbox, transport, uploader=uploader)
        pipeline = Pipeline(db, repos.events, outbox, sender, clock, author=update_author)
        chats = ChatDirectory(tuple(admin_chats), tuple(heads_chats), ChatRepository(db))
        settings = Settings(
            admins=frozenset(admins),
            controller=controller,
            chats=chats,
            timezone=config.bot.timezone,
            prompt_expires_after=config.bot.prompt_expires_after,
            department=config.department,
            web=None
            if config.web is None
            else WebLogin(WebAuthRepository(db), config.web.public_url, config.web.session),
            max_bot=None if config.max is None else config.max.username,
        )
        audience = Audience(chats=chats, controller=controller)

        async def orders_card(
            msg: Incoming, memberships: list[Membership], school_id: str | None
        ) -> list[Action] | None:
            return await flow.orders_card(msg, memberships, school_id)

        def make_desk(each: Campaign) -> Desk:
            """One order's services and rules; every order shares the rest of the bot."""
            each_service = CampaignService(each, repos, clock, staff=settings.admins)
            each_notifier = Notifier(each_service, outbox, audience)
            ctx = Context(
                each_service,
                settings,
                each_notifier,
                config.reminders,
                Onboarding(each, RegistrationRepository(db), chats.repo, AccountRepository(db)),
                rules_messenger,
                orders_card,
            )
            heads = HeadRules(ctx)
            return Desk(
                each_service,
                each_notifier,
                heads,
                StaffRules(ctx, heads),
                OnboardingRules(ctx, heads),
                ChatRules(ctx),
                StaffStepRules(ctx),
            )

        orders = Orders(repos.campaigns, make_desk)
        await orders.refresh()
        home = orders.get(campaign.id) or make_desk(campaign)
        service, notifier = home.service, home.notifier
        flow = Flow(orders, home)
        if max_side is not None:
            max_side.handlers = MaxHandlers(
                flow,
                pipeline,
                max_side.accounts,
                max_side.directory,
                username=max_side.config.username,
            )
        scheduler = Scheduler(
            orders,
            config.reminders,
            repos.schedule,
            notifier,
            clock,
            db,
            sender,
            prompt_expires_after=config.bot.prompt_expires_after,
        )
        group_id = config.vk.group_id
        polling = StatePolling(api, group_id, _state_dir(config))
        # vkbottle's Bot overwrites the polling's skip_old_events with its own argument: say it
        # here too, or a restart would skip what arrived while the bot was down.
        # A handler's exception reaches the pipeline, which rolls that update back alone.
        bot = Bot(
            api=api,
            polling=polling,
            skip_old_events=False,
            error_handler=ErrorHandler(raise_exceptions=True),
        )
        for labeler in (
            chat_events_labeler(flow, pipeline, group_id),
            admins_labeler(flow, pipeline, group_id),
            heads_labeler(flow, pipeline, group_id),
        ):
            bot.labeler.load(labeler)
    except BaseException:
        if max_side is not None:
            await max_side.session.close()
        await db.close()
        raise
    return App(
        config,
        clock,
        db,
        repos,
        home.campaign,  # as heads see it: the staff's items are the order's own (issue 14)
        service,
        orders,
        flow,
        messenger,
        outbox,
        sender,
        pipeline,
        notifier,
        scheduler,
        api,
        http,
        bot,
        polling,
        max_side,
    )


def _state_dir(config: Config) -> Path:
    return Path(config.storage.path).resolve().parent


class Runner:
    """Long-polls VK and handles each batch before asking for the next.

    vkbottle saves the long-poll `ts` when the consumer asks for the next batch, so handling a
    batch to the end first means a restart never skips an update that was not handled.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self._batch: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Poll until cancelled; VK being unreachable is retried with back-off."""
        backoff = 1.0
        while True:
            try:
                async for event in self.app.polling.listen():
                    backoff = 1.0
                    self._batch = asyncio.create_task(self.handle_batch(event.get("updates", [])))
                    await asyncio.shield(self._batch)
            except VKAPIError as error:
                if error.code == AUTH_FAILED:
                    raise TokenRejected from None
                log.warning("VK error %s at start-up; retrying in %.0f s", error.code, backoff)
            except (TimeoutError, ClientError, OSError, TransientError) as error:
                log.warning(
                    "VK unreachable (%s); retrying in %.0f s", type(error).__name__, backoff
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)

    async def drain(self) -> None:
        """Let the batch being handled finish, so acknowledged answers are stored."""
        if self._batch is not None:
            with contextlib.suppress(Exception):
                await self._batch

    async def handle_batch(self, updates: Any) -> None:
        """The batch in arrival order, in one transaction (see bot/pipeline.py).

        What is not an update is skipped with one line for the batch: raising here would stop
        the bot, and a restart would meet the same batch again.
        """
        if not isinstance(updates, list):
            log.warning("the long poll answered updates that are not a list; skipped")
            return
        objects = [u for u in updates if isinstance(u, dict)]
        if len(objects) < len(updates):
            log.warning(
                "skipping %d entries of the long poll's updates that are not objects",
                len(updates) - len(objects),
            )
        ours = [u for u in objects if u.get("group_id") in (None, self.app.config.vk.group_id)]
        if len(ours) < len(objects):
            log.warning("ignoring %d updates for another community", len(objects) - len(ours))
        await self.app.pipeline.handle_batch(ours, self._dispatch)

    async def handle(self, update: dict[str, Any]) -> None:
        await self.handle_batch([update])

    async def _dispatch(self, update: dict[str, Any]) -> None:
        token = CURRENT_UPDATE.set(update)
        try:
            await self.app.bot.process_event(update, self.app.api)
        finally:
            CURRENT_UPDATE.reset(token)


class MaxRunner:
    """MAX's updates into the same pipeline: long polling (development, the demo) or the
    webhook served on `[max] webhook_listen` (production)."""

    def __init__(self, app: App, side: MaxSide) -> None:
        self.app = app
        self.side = side
        # Webhook deliveries come side by side; one at a time keeps each person's in order.
        self._one_at_a_time = asyncio.Lock()

    async def handle(self, updates: list[Update]) -> None:
        """A batch in arrival order: first the accounts of the people it names, in a
        transaction of their own, then the batch in the pipeline's (see bot/pipeline.py)."""
        handlers = self.side.handlers
        if handlers is None:
            raise RuntimeError("the MAX side was built without its handlers")
        async with self._one_at_a_time:
            async with self.app.db.transaction():
                await self.side.accounts.learn(u for update in updates for u in users_of(update))
                await self.side.accounts.keep_dialogs(updates)
                await handlers.link_accounts(updates)
            await self.app.pipeline.handle_batch(
                [wrap(update) for update in updates], handlers.dispatch, author=author
            )

    async def run(self) -> None:
        """Reach MAX, then take its updates; VK's side runs meanwhile whatever MAX does.

        A token MAX refuses (401, at start or later) stops MAX's side alone, with one line in
        the journal: VK's heads go on answering (a deployment that runs both is one moving
        from VK to MAX, and a MAX setting must not silence the VK half). VK's own refused
        token still stops the whole bot (exit 78): without VK's long poll nothing runs.
        """
        client = self.side.client
        serving = asyncio.create_task(self._connect_and_serve())
        rejected = asyncio.create_task(client.token_rejected.wait())
        try:
            done, _ = await asyncio.wait({serving, rejected}, return_when=asyncio.FIRST_COMPLETED)
            if serving in done and not client.token_rejected.is_set():
                serving.result()
                return
        finally:
            for task in (serving, rejected):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        log.error("%s", MaxTokenRejected())
        await asyncio.Event().wait()  # MAX's side stays down until a restart; VK's goes on

    async def _connect_and_serve(self) -> None:
        await self.connect()
        await self._refresh_members()
        if self.side.config.webhook_url is not None:
            await self._serve_webhook()
        else:
            await self._poll()

    async def connect(self, *, first_backoff: float = 1.0) -> None:
        """GET /me until MAX answers, with back-off; a refused token ends it (see run)."""
        backoff = first_backoff
        while True:
            try:
                me = await self.side.client.request("GET", "/me")
                bot_id = int(me["user_id"])
            except MaxAPIError as error:
                if error.token_rejected:
                    return
                log.warning(
                    "MAX answered GET /me with %s at start-up: VK runs meanwhile, MAX is "
                    "tried again in %.0f s",
                    error,
                    backoff,
                )
            except (MaxUnreachable, KeyError, TypeError, ValueError) as error:
                log.warning(
                    "MAX unreachable at start-up (%s): VK runs meanwhile, MAX is tried again "
                    "in %.0f s",
                    error,
                    backoff,
                )
            else:
                self.side.connected(bot_id)
                log.info("MAX reached: bot %s; its updates are taken from now on", bot_id)
                # What waited for MAX (Outcome.WAIT) goes now, not at its next half-minute.
                await self.app.outbox.repo.due_now(
                    self.side.transport.platform, self.app.clock.now()
                )
                self.app.sender.wake()
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)

    async def _refresh_members(self) -> None:
        """Who is in our MAX chats (step 3.3): the start-up refresh ran before MAX was reached."""
        chats = self.app.flow.settings.chats
        for peer in await chats.all():
            if peer < 0:
                members = await self.side.messenger.chat_members(peer)
                if members is not None:
                    await chats.repo.replace_members(peer, members, self.app.clock.now())

    async def _poll(self) -> None:
        backoff = 1.0

        async def unreachable(error: Exception) -> None:
            nonlocal backoff
            if isinstance(error, MaxAPIError) and error.token_rejected:
                await asyncio.Event().wait()  # run() stops MAX's side and says why
            log.warning("MAX long poll failed (%s); retrying in %.0f s", error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)

        async for updates in poll(self.side.client, on_error=unreachable):
            backoff = 1.0
            await self.handle(updates)

    async def _serve_webhook(self) -> None:
        config = self.side.config
        secret = (
            None if config.webhook_secret is None else config.webhook_secret.get_secret_value()
        )

        async def one(update: Update) -> None:
            await self.handle([update])

        web_app = web.Application()
        web_app.router.add_post(config.webhook_path, webhook_handler(secret, one))
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        host, port = config.listen
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("MAX webhook served on %s:%s%s", host, port, config.webhook_path)
            await asyncio.Event().wait()  # until cancelled
        finally:
            await runner.cleanup()


async def serve(app: App, stop: asyncio.Event, *, scheduler: bool = True) -> None:
    """Poll VK and run the scheduler until `stop` is set, then finish the batch in hand.

    Raise TokenRejected as soon as any call finds the token refused (error 5): the long poll,
    the sender and the scheduler would otherwise each retry it forever.
    """
    runner = Runner(app)
    untune = tune_process()
    tasks = {asyncio.create_task(runner.run()), asyncio.create_task(app.sender.run())}
    if app.max is not None:
        tasks.add(asyncio.create_task(MaxRunner(app, app.max).run()))
    if scheduler:
        tasks.add(asyncio.create_task(app.scheduler.run()))
    if app.config.web is not None:
        tasks.add(asyncio.create_task(serve_page(app)))
    housekeeping = asyncio.create_task(_refresh(app))
    stopper = asyncio.create_task(stop.wait())
    rejected = asyncio.create_task(app.api.token_rejected.wait())
    try:
        done, _ = await asyncio.wait(
            {*tasks, stopper, rejected}, return_when=asyncio.FIRST_COMPLETED
        )
        if rejected in done:
            raise TokenRejected
        for task in done & tasks:
            task.result()
    finally:
        untune()
        app.polling.stop()
        for task in (*tasks, stopper, housekeeping, rejected):
            task.cancel()
        for task in (*tasks, stopper, housekeeping, rejected):
            with contextlib.suppress(asyncio.CancelledError, TokenRejected):
                await task
        await runner.drain()
        await app.pipeline.drain()
        # What the last batch wrote goes out now if VK answers soon; otherwise at next start
        # (with a refused token, at the start with a new one).
        if not app.api.token_rejected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(app.sender.drain(), timeout=SHUTDOWN_SEND_SECONDS)


async def _refresh(app: App) -> None:
    """Read chat members and resolve screen names once at start; failure is not fatal."""
    try:
        await refresh(
            app.flow.ctx.messenger,
            app.flow.settings.chats,
            app.flow.onboarding.registrations,
            app.clock.now(),
        )
    except (TimeoutError, VKAPIError, TransientError, ClientError, OSError) as error:
        if isinstance(error, VKAPIError) and error.code == AUTH_FAILED:
            return  # serve() stops the bot and says why
        log.warning("start-up refresh failed (%s); it runs again at the next start", error)
