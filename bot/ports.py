"""What the rules read from a messenger, beside sending (which goes through the outbox)."""

from __future__ import annotations

from typing import Protocol


class Messenger(Protocol):
    async def user_name(self, user_id: int) -> str | None:
        """The person's name as the messenger shows it ("Имя Фамилия")."""
        ...

    async def chat_members(self, peer_id: int) -> list[int] | None:
        """The people in a chat, or None if the messenger will not show them to the bot."""
        ...

    async def resolve_screen_name(self, screen_name: str) -> int | None:
        """A person's id for a screen name (`ivanov_ii`), or None if it names nobody."""
        ...
