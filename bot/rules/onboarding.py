"""Onboarding: a registration code, then the person's role by button."""

from __future__ import annotations

import logging

from bot import texts
from bot.actions import Action, Incoming, Reply
from bot.domain import Role
from bot.keyboards import role_keyboard
from bot.onboarding import CodeCheck
from bot.rules.base import Context, Rules, as_message, school_of
from bot.rules.heads import HeadRules

log = logging.getLogger(__name__)


class OnboardingRules(Rules):
    def __init__(self, ctx: Context, heads: HeadRules) -> None:
        super().__init__(ctx)
        self.heads = heads

    async def register(self, msg: Incoming, code: str) -> list[Action]:
        """`регистрация КОД`: a good code asks for the person's role by button."""
        if msg.in_chat:
            return [Reply(texts.REG_IN_PRIVATE)] if msg.addressed else []
        if await self.onboarding.linked(msg.user_id, code):
            log.info("account linked: person=%s on %s", msg.user_id, msg.platform)
            memberships = await self.service.memberships(msg.user_id)
            card = await self.heads.show_card(as_message(msg), memberships, None)
            return [Reply(texts.MAX_LINKED), *card]
        if await self.onboarding.link_refused(msg.user_id, code, self.service.now()):
            return [Reply(texts.max_link_refused(self.settings.department))]
        result = await self.onboarding.check_code(msg.user_id, code, self.service.now())
        log.info("registration code from %s: %s", msg.user_id, result.check.value)
        if result.check is CodeCheck.OK and result.school is not None:
            text = texts.REG_CHOOSE_ROLE.format(school=result.school.name)
            return [Reply(text, role_keyboard(self.campaign))]
        return [Reply(_CODE_REPLIES[result.check](self.settings.department))]

    async def max_link(self, msg: Incoming) -> list[Action]:
        """«max»: a registered person's own link to the bot on MAX, so that they are the same
        person there (one school, one history)."""
        if not await self.service.memberships(msg.user_id):
            return [Reply(texts.MAX_LINK_UNREGISTERED)]
        code = await self.onboarding.new_link(msg.user_id, self.service.now())
        if code is None or not self.settings.max_bot:
            return [Reply(texts.MAX_LINK_UNREGISTERED)]
        log.info("MAX link code issued to person %s", msg.user_id)
        return [Reply(texts.max_link(f"https://max.ru/{self.settings.max_bot}?start={code}"))]

    async def choose_role(self, msg: Incoming, role: Role) -> list[Action]:
        name = await self.messenger.user_name(msg.user_id) or f"id{msg.user_id}"
        school_id = await self.onboarding.choose_role(msg.user_id, role, name, self.service.now())
        if school_id is None:
            return [self._notice(msg, texts.REG_NO_PENDING)]
        log.info("registered: user=%s school=%s role=%s", msg.user_id, school_id, role.value)
        memberships = await self.service.memberships(msg.user_id)
        school = school_of(memberships, school_id)
        name_of_school = school.name if school is not None else school_id
        done = texts.REG_DONE.format(role=texts.ROLE_NAME[role], school=name_of_school)
        return [Reply(done), *await self.heads.show_card(as_message(msg), memberships, school_id)]


_CODE_REPLIES = {
    CodeCheck.UNKNOWN: texts.reg_unknown,
    CodeCheck.EXPIRED: texts.reg_expired,
    CodeCheck.REVOKED: texts.reg_revoked,
    CodeCheck.TOO_MANY: texts.reg_too_many,
}
