"""Chat events: who joined or left a chat, the evidence for a step verified by the bot."""

from __future__ import annotations

from bot import texts
from bot.actions import Action, Reply
from bot.rules.base import Rules


class ChatRules(Rules):
    def on_bot_added(self) -> list[Action]:
        """The bot was added to a chat: say hello, with how to bind it and answer there."""
        return [Reply(texts.welcome_chat(self.settings.department, self.campaign.number))]

    async def on_chat_action(self, peer_id: int, kind: str, member_id: int) -> None:
        """Someone joined or left a chat: keep step 3.3's evidence current."""
        chats = self.settings.chats.repo
        if kind in ("chat_invite_user", "chat_invite_user_by_link") and member_id > 0:
            await chats.joined(peer_id, member_id)
        elif kind == "chat_kick_user" and member_id > 0:
            await chats.left(peer_id, member_id)
