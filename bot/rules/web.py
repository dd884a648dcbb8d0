"""«войти» and «выйти»: staff ask the bot for a link to the department's web page (issue 18).

The link goes back like every reply, through the outbox, and only in a private conversation:
in a chat others would see it. Only staff get here (`STAFF_ONLY` in bot/parsing.py and the
check in StaffRules); anyone else's «войти» is read as their ordinary message.
"""

from __future__ import annotations

import logging

from bot import texts
from bot.actions import Action, Incoming, Reply
from bot.parsing import AdminCommand
from bot.rules.base import Rules
from bot.weblogin import LINK_LIFETIME

log = logging.getLogger(__name__)

WEB_COMMANDS = frozenset({AdminCommand.LOGIN, AdminCommand.LOGOUT})


class WebRules(Rules):
    async def on_command(self, msg: Incoming, command: AdminCommand) -> list[Action]:
        if not self.is_staff(msg.user_id):  # the callers check it; a link is worth a second
            return []
        if msg.in_chat:
            return [Reply(texts.WEB_LOGIN_PRIVATE_ONLY)]
        web = self.settings.web
        if web is None:
            return [Reply(texts.WEB_NOT_CONFIGURED)]
        now = self.service.now()
        if command is AdminCommand.LOGIN:
            url = await web.issue_link(msg.user_id, now)
            log.info("web login link issued to %s", msg.user_id)
            minutes = int(LINK_LIFETIME.total_seconds() // 60)
            return [Reply(texts.web_login_link(url, minutes))]
        ended = await web.end_all(msg.user_id, now)
        log.info("web sessions of %s ended from the bot: %d", msg.user_id, ended)
        return [Reply(texts.web_logged_out(ended))]
