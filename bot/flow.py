"""What the bot does with each incoming message or button press, as a list of outgoing actions.

Messenger-neutral: an adapter turns a VK (or MAX) update into `Incoming`; the actions go to the
outbox. This module routes each message to its order (`bot.orders`: several may be open at
once) and within it to its part of the rules (`bot/rules/`): heads' answers, staff commands,
onboarding, chat events.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot import texts
from bot.actions import Action, Edit, Incoming, Reply, Snackbar
from bot.keyboards import order_choice_keyboard, orders_card_keyboard
from bot.onboarding import bare_code, registration_code, wants_max_link
from bot.orders import Desk, Orders, order_prefix
from bot.parsing import (
    MAX_INPUT_LENGTH,
    STAFF_ONLY,
    AdminCommand,
    ParsedAdminCommand,
    clean,
    parse_admin_command,
    read,
    step_token,
)
from bot.payloads import (
    AcknowledgePayload,
    KeptOrderPayload,
    MyAnswerPayload,
    MyCardPayload,
    MyStepPayload,
    Payload,
    RolePayload,
    decode,
)
from bot.rules.base import Rules, Settings, as_message, valid_unicode
from bot.rules.heads import REASON
from storage.repositories import Membership, PendingInput, Speaker

log = logging.getLogger(__name__)

__all__ = ["Flow", "Settings"]

ORDER = "order"

# Commands about one order: with several open, the order's number comes first («статус 47»).
_ORDER_COMMANDS = frozenset(
    {
        AdminCommand.STATUS,
        AdminCommand.PENDING,
        AdminCommand.REPORT,
        AdminCommand.REMIND,
        AdminCommand.ANNOUNCE,
        AdminCommand.PAUSE,
        AdminCommand.RESUME,
        AdminCommand.SCHEDULE,
        AdminCommand.MARK,
        AdminCommand.NOT_REQUIRED,
        AdminCommand.REQUIRED,
        AdminCommand.EXTEND,
    }
)
# Commands whose school argument is followed by a step: the step can tell the order.
_STEP_COMMANDS = frozenset(
    {AdminCommand.MARK, AdminCommand.NOT_REQUIRED, AdminCommand.REQUIRED, AdminCommand.EXTEND}
)
# Commands that act on every open order when none is named.
_EVERY_ORDER = frozenset(
    {AdminCommand.REMIND, AdminCommand.PAUSE, AdminCommand.RESUME, AdminCommand.SCHEDULE}
)


class Flow(Rules):
    """The router. `home` is the config's campaign: the rules that need no order use it."""

    def __init__(self, orders: Orders, home: Desk) -> None:
        super().__init__(home.heads.ctx)
        self.orders = orders
        self.home = home

    def _current(self) -> Desk:
        """The newest open order (or the config's, before the first refresh)."""
        try:
            return self.orders.current()
        except LookupError:
            return self.home

    async def on_message(self, msg: Incoming) -> list[Action]:
        """A text message (or a text button, whose payload rides along)."""
        msg = replace(
            msg, text=valid_unicode(msg.text), ref=valid_unicode(msg.ref) if msg.ref else None
        )
        conversations = self.service.repos.conversations
        if not msg.in_chat:
            # Writing to the community is what lets it write back (VK error 901 otherwise).
            await conversations.mark_reachable(msg.user_id)
        if msg.payload is not None:
            payload = decode(msg.payload)
            if payload is not None:
                return await self.on_payload(msg, payload)
            # A text button press of an old keyboard: treat its label as text below.
        # A vk.me link's `ref` rides on the first message, whatever its text («Начать»).
        cleaned = clean(msg.text)
        code = registration_code(cleaned) or msg.ref
        if code:
            return await self._current().joining.register(msg, code)
        if (
            not msg.in_chat
            and msg.platform != "max"
            and self.settings.max_bot
            and wants_max_link(cleaned)
        ):
            return await self._current().joining.max_link(msg)
        command = parse_admin_command(msg.text)
        if command is not None and (
            command.command not in STAFF_ONLY or self.is_staff(msg.user_id)
        ):
            return await self.on_command(msg, command)
        if not msg.in_chat and self.is_staff(msg.user_id):
            own = await self._own_steps(msg)
            if own is not None:
                return own
        # Who writes and what the bot waits for from them here: one query.
        speaker = await self.service.speaker(msg.user_id, msg.peer_id)
        if speaker.memberships:
            return await self._head_text(msg, speaker)
        if not msg.addressed:
            return []
        bare = None if msg.in_chat else bare_code(cleaned)
        if bare is not None:
            return await self._current().joining.register(msg, bare)
        if self.is_staff(msg.user_id):
            return [Reply(texts.help_admin(self.settings.department))]
        return await self._stranger(msg)

    def _owing(self, user_id: int) -> list[Desk]:
        """The open orders with items for this staff member."""
        return [d for d in self.orders.open() if d.own.owes_here(user_id)]

    async def _own_steps(self, msg: Incoming) -> list[Action] | None:
        """A staff member's answer to their own item of an order; None when it is not one."""
        desks = self._owing(msg.user_id)
        if not desks:
            return None
        if clean(msg.text).casefold().rstrip(".!") in texts.MY_ITEMS_WORDS:
            cards: list[Action] = []
            for each in desks:
                cards += await each.own.card(msg)
            return cards
        named = order_prefix(msg.text)
        if named is not None:
            ref, rest = named
            named_desk = self.orders.named(ref)
            said = replace(msg, text=rest)
            if named_desk in desks and named_desk is not None and named_desk.own.reads(said):
                return await named_desk.own.on_text(said)
        fits = [d for d in desks if d.own.reads(msg)]
        if len(fits) == 1:
            return await fits[0].own.on_text(msg)
        if len(fits) > 1:
            numbers = [d.campaign.number for d in fits]
            return [Reply(texts.name_the_order_for_own_step(numbers))]
        return None

    async def on_callback(self, msg: Incoming) -> list[Action]:
        payload = decode(msg.payload)
        if payload is None:
            log.info("rejected payload from %s", msg.user_id)
            return [Snackbar(texts.BAD_BUTTON)]
        return await self.on_payload(msg, payload)

    async def on_payload(self, msg: Incoming, payload: Payload) -> list[Action]:
        desk = self.orders.get(payload.c)
        if desk is None:
            return [self._notice(msg, texts.BAD_BUTTON)]
        if not self.orders.is_open(payload.c):
            short = texts.order_closed_short(desk.campaign)
            return [
                Snackbar(short) if msg.is_callback else Reply(texts.order_closed(desk.campaign))
            ]
        ended: list[Action] = []
        if len(self.orders.open()) > 1:
            # A prompt of another order ends with that order's rules, as any button ends one.
            pending = await self.service.repos.conversations.pending_input(
                msg.user_id, msg.peer_id
            )
            other = pending is not None and pending.campaign_id != desk.campaign.id
            if other and pending is not None and pending.kind != ORDER:
                ended = await self._end_prompt(msg)
        return ended + await self._on_order_payload(msg, desk, payload)

    async def _on_order_payload(self, msg: Incoming, desk: Desk, payload: Payload) -> list[Action]:
        if isinstance(payload, KeptOrderPayload):
            return await self._kept_order(msg, desk)
        if isinstance(payload, (MyCardPayload, MyStepPayload, MyAnswerPayload)):
            return await desk.own.on_payload(msg, payload)
        if isinstance(payload, AcknowledgePayload):
            ended = await self._end_prompt(msg)
            return ended + await desk.heads.acknowledge(msg)
        if isinstance(payload, RolePayload):
            ended = await self._end_prompt(msg)
            return ended + await desk.joining.choose_role(msg, payload.r)
        return await desk.heads.on_payload(msg, payload)

    # --- heads' text: which order it is for -----------------------------------------------

    async def _head_text(self, msg: Incoming, speaker: Speaker) -> list[Action]:
        pending = speaker.pending
        conversations = self.service.repos.conversations
        if pending is not None and (
            pending.kind == ORDER or not self.orders.is_open(pending.campaign_id)
        ):
            # A new message replaces an answer kept for its order; a prompt of an order closed
            # since is over.
            await conversations.clear_input(msg.user_id, msg.peer_id)
            speaker = speaker.model_copy(update={"pending": None})
        elif pending is not None:
            desk = self.orders.get(pending.campaign_id)
            elsewhere = [
                d
                for d in self.orders.open()
                if d is not desk and read(msg.text, d.campaign).names_known_steps
            ]
            if desk is not None and (
                not elsewhere or read(msg.text, desk.campaign).names_known_steps
            ):
                return await desk.heads.on_text(msg, speaker)
            if desk is not None:
                # An answer for another order: it ends this order's prompt (a reason never
                # given goes to staff now) and is read there.
                ended = await desk.heads.cancel_prompt(msg, speaker, None)
                fresh = speaker.model_copy(update={"pending": None})
                return ended + await self._head_text(msg, fresh)
        named = order_prefix(msg.text)
        if named is not None:
            ref, rest = named
            desk = self.orders.named(ref)
            if desk is not None and self.orders.is_open(desk.campaign.id):
                return await desk.heads.on_text(replace(msg, text=rest), speaker)
            if desk is not None:
                return [Reply(texts.order_closed(desk.campaign))]
        opened = self.orders.open()
        if not opened:
            quiet = msg.in_chat and not msg.addressed
            return [] if quiet else [Reply(texts.NO_OPEN_ORDERS)]
        if len(opened) == 1:
            return await opened[0].heads.on_text(msg, speaker)
        fits = [d for d in opened if read(msg.text, d.campaign).names_known_steps]
        if len(fits) == 1:
            return await fits[0].heads.on_text(msg, speaker)
        if len(fits) > 1:
            return await self._which_order(msg, fits)
        # No order's step named: the newest order's rules answer (help, a question, the card,
        # which then lists every open order).
        return await opened[-1].heads.on_text(msg, speaker)

    async def orders_card(
        self, msg: Incoming, memberships: list[Membership], school_id: str | None
    ) -> list[Action] | None:
        """With several orders open, the card lists them with what each still needs from the
        school and a button to each order's card; None with one order (its own card)."""
        opened = self.orders.open()
        if len(opened) < 2:
            return None
        schools = [m.school for m in memberships if school_id in (None, m.school.id)]
        if not schools:
            return [self._notice(msg, texts.NOT_YOUR_SCHOOL)]
        items = []
        for desk in opened:
            for school in schools:
                status = await desk.service.school_status(school)
                items.append((desk.campaign, school, len(status.owed())))
        # What is owed first, then the orders already done (their answers can still change).
        items.sort(key=lambda item: item[2] == 0)
        keyboard = orders_card_keyboard(
            [(campaign, school) for campaign, school, _ in items], name_school=len(schools) > 1
        )
        text = texts.orders_card(items, self.service.now())
        return self.home.heads.deliver_card(msg, text, keyboard)

    async def _which_order(self, msg: Incoming, fits: list[Desk]) -> list[Action]:
        """The answer's step is in several open orders: keep it and ask which order."""
        await self.service.repos.conversations.expect_input(
            msg.user_id,
            msg.peer_id,
            PendingInput(
                campaign_id=fits[0].campaign.id,
                school_id="",
                step_id="",
                kind=ORDER,
                created_at=self.service.now(),
                text=msg.text.strip()[:MAX_INPUT_LENGTH],
            ),
        )
        keyboard = order_choice_keyboard([d.campaign for d in fits])
        return [Reply(texts.choose_order_for_answer(msg.text), keyboard)]

    async def _kept_order(self, msg: Incoming, desk: Desk) -> list[Action]:
        """The order chosen for a kept answer: the answer goes to that order's rules."""
        conversations = self.service.repos.conversations
        speaker = await self.service.speaker(msg.user_id, msg.peer_id)
        if not speaker.memberships:
            return [self._notice(msg, await self._not_a_head(msg))]
        pending = speaker.pending
        if pending is None or pending.kind != ORDER:
            # Chosen already, or replaced by a newer message: this order's card.
            return await desk.heads.show_card(msg, speaker.memberships, None, overview=False)
        await conversations.clear_input(msg.user_id, msg.peer_id)
        kept = replace(as_message(msg), text=pending.text, payload=None)
        actions: list[Action] = [Edit(texts.answer_for_order(pending.text, desk.campaign))]
        return actions + await desk.heads.on_text(
            kept, speaker.model_copy(update={"pending": None})
        )

    async def _end_prompt(self, msg: Incoming) -> list[Action]:
        """A command or an order's own button ends the prompt waiting here, of any order."""
        pending = await self.service.repos.conversations.take_input(msg.user_id, msg.peer_id)
        if pending is None or pending.kind != REASON:
            return []
        desk = self.orders.get(pending.campaign_id)
        if desk is None:
            return []
        memberships = await self.service.memberships(msg.user_id)
        return await desk.heads.unanswered(memberships, pending, msg.user_id)

    # --- staff commands: which order they are about ---------------------------------------

    async def on_command(self, msg: Incoming, parsed: ParsedAdminCommand) -> list[Action]:
        """A command; it ends a prompt waiting for its writer here."""
        ended = await self._end_prompt(msg) if msg.addressed else []
        return ended + await self._command(msg, parsed)

    async def _command(self, msg: Incoming, parsed: ParsedAdminCommand) -> list[Action]:
        command = parsed.command
        current = self._current()
        if not self.is_staff(msg.user_id) or command not in (
            *_ORDER_COMMANDS,
            AdminCommand.ORDERS,
        ):
            return await current.staff.on_command(msg, parsed)
        if msg.in_chat and msg.peer_id not in await self.settings.chats.admin_chats():
            return await current.staff.on_command(msg, parsed)  # it says where to ask
        if command is AdminCommand.ORDERS:
            await self.orders.refresh()
            return [Reply(await self._overview(with_closed=True))]
        first, _, rest = parsed.argument.partition(" ")
        desk = self.orders.named(first) if first else None
        if desk is None and first and _looks_like_order(first):
            # Perhaps added from the command line a moment ago.
            await self.orders.refresh()
            desk = self.orders.named(first)
        if desk is not None:
            return await desk.staff.on_command(msg, replace(parsed, argument=rest.strip()))
        opened = self.orders.open()
        if len(opened) <= 1:
            return await (opened[0] if opened else current).staff.on_command(msg, parsed)
        if command is AdminCommand.STATUS and not parsed.argument:
            return [Reply(await self._overview(with_closed=False))]
        if command in _STEP_COMMANDS:
            by_step = self._by_step(opened, parsed.argument)
            if by_step is not None:
                return await by_step.staff.on_command(msg, parsed)
        if command in _EVERY_ORDER:
            actions: list[Action] = []
            for each in opened:
                replies = await each.staff.on_command(msg, parsed)
                actions += [_titled(a, each) for a in replies]
            return actions
        word = texts.COMMAND_WORD.get(command, command.value)
        return [Reply(texts.name_the_order(word, [d.campaign.number for d in opened]))]

    def _by_step(self, opened: list[Desk], argument: str) -> Desk | None:
        """`отметить 009 3.1 выполнено`: the one open order that has step 3.1."""
        words = argument.split()
        if len(words) < 2:
            return None
        step_id = step_token(words[1])
        with_step = [d for d in opened if d.campaign.step(step_id) is not None]
        return with_step[0] if len(with_step) == 1 else None

    async def _overview(self, *, with_closed: bool) -> str:
        items = []
        for record in self.orders.records():
            if record.closed_at is not None and not with_closed:
                continue
            desk = self.orders.get(record.campaign.id)
            if desk is None:
                continue
            items.append((await desk.service.district_status(), record.closed_at))
        opened = [item for item in items if item[1] is None]
        opened.sort(key=lambda item: item[0].campaign.deadline)
        closed = [item for item in items if item[1] is not None][:5]
        return texts.orders_overview(opened + closed)

    async def announce(self, *, reply: bool = False) -> list[Action]:
        return await self.home.staff.announce(reply=reply)

    async def on_chat_action(self, peer_id: int, kind: str, member_id: int) -> None:
        await self.home.chats.on_chat_action(peer_id, kind, member_id)

    def on_bot_added(self) -> list[Action]:
        return self._current().chats.on_bot_added()


def _looks_like_order(word: str) -> bool:
    return word.lstrip("№").isdigit() or word.startswith("order")


def _titled(action: Action, desk: Desk) -> Action:
    """A reply of one of several orders says which order it is about."""
    if isinstance(action, Reply):
        return replace(action, text=f"{texts.order_name(desk.campaign)}:\n{action.text}")
    return action
