"""Which chats are the administration's and which the heads': the config's plus those an admin
bound with `привязать`."""

from __future__ import annotations

from storage.onboarding import ChatRepository

ADMIN = "admin"
HEADS = "heads"


class ChatDirectory:
    def __init__(
        self, admin_chats: tuple[int, ...], heads_chats: tuple[int, ...], repo: ChatRepository
    ) -> None:
        self._configured = {ADMIN: admin_chats, HEADS: heads_chats}
        self.repo = repo

    async def _chats(self, kind: str) -> tuple[int, ...]:
        kinds = await self.repo.kinds()
        # A chat an admin bound as the other kind follows the bind, not the config.
        configured = [p for p in self._configured[kind] if kinds.get(p, kind) == kind]
        return tuple(dict.fromkeys([*configured, *(p for p, k in kinds.items() if k == kind)]))

    async def admin_chats(self) -> tuple[int, ...]:
        return await self._chats(ADMIN)

    async def heads_chats(self) -> tuple[int, ...]:
        return await self._chats(HEADS)

    async def all(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys([*await self.admin_chats(), *await self.heads_chats()]))
