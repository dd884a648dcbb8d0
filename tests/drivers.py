"""One test body, either messenger: a driver plays the people on the VK emulator or on the MAX
emulator, and reads back what the bot sent them, over HTTP like any client."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.max import strip_marker
from bot.max_emulator import MaxEmulator
from bot.sandbox import ADMIN_CHAT, HEADS_CHAT, MAX_ADMIN_CHAT, MAX_HEADS_CHAT, Sandbox


class Shown(Protocol):
    """A message as a person sees it: its text and its buttons (edits show through)."""

    @property
    def text(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...


class Driver(Protocol):
    name: str
    box: Sandbox

    def person(self, user: int) -> int:
        """The product's person id of a person known to the messenger as `user`."""
        ...

    def say(self, user: int, text: str) -> None: ...

    def start(self, user: int, code: str) -> None:
        """The person opens the bot by a link that carries a registration code."""
        ...

    def press(self, user: int, message: Any, label: str) -> None: ...

    def new_chat(self, members: list[int], added_by: int) -> int:
        """A group chat the bot is added to by `added_by`; its id as the core names it."""
        ...

    def say_in_chat(self, user: int, chat: int, text: str) -> None: ...

    async def message_in_chat(self, chat: int, contains: str, count: int = 1) -> Any: ...

    async def message_to(self, user: int, contains: str, count: int = 1) -> Any: ...

    def texts_to(self, user: int) -> list[str]: ...

    def answers(self) -> list[str]:
        """What the bot said in answer to button presses (VK's snackbar, MAX's notification)."""
        ...

    @property
    def admin_chat(self) -> int:
        """The configured admin chat on this messenger."""
        ...

    @property
    def heads_chat(self) -> int:
        """The configured heads chat on this messenger (every head and deputy in it)."""
        ...

    def leave_chat(self, chat: int, user: int, by: int) -> None:
        """`by` removes `user` from the chat; the messenger tells the bot."""
        ...

    def join_chat(self, chat: int, user: int, by: int) -> None: ...

    def bot_is_admin(self, chat: int, is_admin: bool) -> None:
        """Give the bot admin rights in the chat, or take them away."""
        ...

    async def file_in_chat(self, chat: int, kind: str) -> tuple[str, bytes]:
        """The first file ("file") or picture ("image") the bot sent to the chat, as uploaded:
        its name and its bytes."""
        ...

    async def handled(self) -> None:
        """Wait until the bot has handled every update pushed so far."""
        ...

    async def until(self, condition: Callable[[], object], what: str) -> None:
        """Wait for a change the bot makes on the messenger's side (an edit in place)."""
        ...


@dataclass
class VKDriver:
    box: Sandbox
    name: str = "vk"

    def person(self, user: int) -> int:
        return user

    def say(self, user: int, text: str) -> None:
        self.box.say(user, text)

    def start(self, user: int, code: str) -> None:
        # vk.me/club<id>?ref=CODE: the first message («Начать») carries `ref`.
        # The emulator's message, again with `ref` (as tests/test_onboarding.py does it).
        emu = self.box.emulator
        update = emu.push_message_new(from_id=user, peer_id=user, text="Начать")
        first = json.loads(json.dumps(update))
        first["event_id"] = f"with-ref-{code}"
        first["object"]["message"]["ref"] = code
        emu.push_raw(first)

    def press(self, user: int, message: Any, label: str) -> None:
        self.box.emulator.press(user, message, label)

    def new_chat(self, members: list[int], added_by: int) -> int:
        chat = 2_000_000_009
        self.box.emulator.add_chat(chat, members)
        self.box.emulator.push_message_new(
            from_id=added_by,
            peer_id=chat,
            text="",
            action={"type": "chat_invite_user", "member_id": -self.box.config.vk.group_id},
        )
        return chat

    def say_in_chat(self, user: int, chat: int, text: str) -> None:
        self.box.say(user, text, peer_id=chat)

    async def message_in_chat(self, chat: int, contains: str, count: int = 1) -> Any:
        return await self.box.emulator.wait_for_message(chat, contains=contains, count=count)

    async def message_to(self, user: int, contains: str, count: int = 1) -> Any:
        return await self.box.emulator.wait_for_message(user, contains=contains, count=count)

    def texts_to(self, user: int) -> list[str]:
        return [m.text for m in self.box.emulator.messages_to(user)]

    admin_chat = ADMIN_CHAT
    heads_chat = HEADS_CHAT

    def _member_action(self, chat: int, user: int, by: int, kind: str) -> None:
        self.box.emulator.push_message_new(
            from_id=by, peer_id=chat, text="", action={"type": kind, "member_id": user}
        )

    def leave_chat(self, chat: int, user: int, by: int) -> None:
        self._member_action(chat, user, by, "chat_kick_user")

    def join_chat(self, chat: int, user: int, by: int) -> None:
        self._member_action(chat, user, by, "chat_invite_user")

    def bot_is_admin(self, chat: int, is_admin: bool) -> None:
        self.box.emulator.set_bot_is_admin(chat, is_admin)

    async def file_in_chat(self, chat: int, kind: str) -> tuple[str, bytes]:
        emu = self.box.emulator
        prefix = {"file": "doc", "image": "photo"}[kind]

        def found() -> list[Any]:
            return [
                m
                for m in emu.messages_to(chat)
                if m.attachment is not None and m.attachment.startswith(prefix)
            ]

        await emu.wait_for(lambda: bool(found()), description=f"a {kind} in chat {chat}")
        upload = emu.upload_of(found()[0])
        assert upload is not None
        return upload.filename, upload.data

    def answers(self) -> list[str]:
        calls = self.box.emulator.calls_to("messages.sendMessageEventAnswer")
        return [str(c.params.get("event_data", "")) for c in calls]

    async def handled(self) -> None:
        emu = self.box.emulator
        target = emu.ts

        def done() -> bool:
            return bool(emu.poll_requests) and int(emu.poll_requests[-1].get("ts", 0)) >= target

        await emu.wait_for(done, description=f"the bot handled the updates before ts {target}")

    async def until(self, condition: Callable[[], object], what: str) -> None:
        await self.box.emulator.wait_for(condition, description=what)


@dataclass
class _MaxShown:
    """A MAX message with the bot's invisible idempotency marker taken off its text."""

    sent: Any

    @property
    def text(self) -> str:
        return strip_marker(self.sent.text)

    @property
    def labels(self) -> list[str]:
        return list(self.sent.labels)

    @property
    def edited(self) -> bool:
        return bool(self.sent.versions)


@dataclass
class MaxDriver:
    box: Sandbox
    name: str = "max"

    @property
    def emulator(self) -> MaxEmulator:
        assert self.box.max_emulator is not None
        return self.box.max_emulator

    def person(self, user: int) -> int:
        side = self.box.app.max
        assert side is not None
        found = side.accounts.person(user)
        assert found is not None, f"MAX user {user} has no person yet"
        return found

    def say(self, user: int, text: str) -> None:
        self.emulator.write(user, text)

    def start(self, user: int, code: str) -> None:
        # max.ru/<bot>?start=CODE: bot_started with the code as its payload.
        self.emulator.start_bot(user, payload=code)

    def press(self, user: int, message: Any, label: str) -> None:
        sent = message.sent if isinstance(message, _MaxShown) else message
        self.emulator.press(user, sent, label)

    def new_chat(self, members: list[int], added_by: int) -> int:
        chat = -70_000_000_009
        self.emulator.add_chat(chat, members, added_by=added_by)
        return chat

    def say_in_chat(self, user: int, chat: int, text: str) -> None:
        self.emulator.write(user, text, chat_id=chat)

    def _in_chat(self, chat: int, contains: str) -> list[_MaxShown]:
        shown = [_MaxShown(m) for m in self.emulator.messages_in_chat(chat)]
        return [m for m in shown if contains in m.text]

    async def message_in_chat(self, chat: int, contains: str, count: int = 1) -> Any:
        await self.emulator.wait_for(
            lambda: len(self._in_chat(chat, contains)) >= count,
            description=f"message #{count} in MAX chat {chat} containing {contains!r}",
        )
        return self._in_chat(chat, contains)[count - 1]

    def _matching(self, user: int, contains: str) -> list[_MaxShown]:
        shown = [_MaxShown(m) for m in self.emulator.messages_to_user(user)]
        return [m for m in shown if contains in m.text]

    async def message_to(self, user: int, contains: str, count: int = 1) -> Any:
        await self.emulator.wait_for(
            lambda: len(self._matching(user, contains)) >= count,
            description=f"message #{count} to MAX user {user} containing {contains!r}",
        )
        return self._matching(user, contains)[count - 1]

    def texts_to(self, user: int) -> list[str]:
        return [strip_marker(m.text) for m in self.emulator.messages_to_user(user)]

    admin_chat = MAX_ADMIN_CHAT
    heads_chat = MAX_HEADS_CHAT

    def leave_chat(self, chat: int, user: int, by: int) -> None:
        self.emulator.remove_member(chat, user, by=by)

    def join_chat(self, chat: int, user: int, by: int) -> None:
        self.emulator.add_member(chat, user, by=by)

    def bot_is_admin(self, chat: int, is_admin: bool) -> None:
        self.emulator.set_bot_is_admin(chat, is_admin)

    async def file_in_chat(self, chat: int, kind: str) -> tuple[str, bytes]:
        def tokens() -> list[str]:
            found = []
            for message in self.emulator.messages_in_chat(chat):
                for attachment in message.attachments:
                    if attachment.get("type") != kind:
                        continue
                    payload = attachment.get("payload", {})
                    photos = payload.get("photos") or {}
                    found += [p["token"] for p in photos.values()] or [payload.get("token")]
            return [t for t in found if t]

        await self.emulator.wait_for(
            lambda: bool(tokens()), description=f"a {kind} in MAX chat {chat}"
        )
        uploaded_as, filename, data = self.emulator.uploads[tokens()[0]]
        assert uploaded_as == kind
        return filename, data

    def answers(self) -> list[str]:
        return [str(a.get("notification", "")) for a in self.emulator.answers]

    async def handled(self) -> None:
        emu = self.emulator
        target = len(emu.updates)
        await emu.wait_for(
            lambda: emu.committed >= target,
            description=f"the bot handled the first {target} MAX updates",
        )

    async def until(self, condition: Callable[[], object], what: str) -> None:
        await self.emulator.wait_for(condition, description=what)
