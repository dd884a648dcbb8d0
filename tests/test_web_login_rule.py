"""«войти» and «выйти» (issue 18) through the real rules on a real SQLite file: the message in,
the replies and the outbox out, and what the login tables hold."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot import texts
from bot.app import build_app
from bot.clock import FakeClock
from bot.config import WebConfig
from bot.sandbox import ADMIN_CHAT, sandbox_config
from bot.weblogin import LINK_LIFETIME, WebLogin
from storage.web import LinkRefusal
from tests.conftest import ADMIN, CONTROLLER, STRANGER, district, head_of
from tests.test_understanding import CAMPAIGN, World, replies

PUBLIC = "https://bot.example.ru"
LINK = re.compile(re.escape(PUBLIC) + r"/login/([A-Za-z0-9_-]{43})")


@contextmanager
def web_world(tmp: Path, *, web: bool = True) -> Iterator[World]:
    config = sandbox_config(
        tmp, "http://127.0.0.1:9/method/", admins=[ADMIN], controller=CONTROLLER
    )
    if web:
        config = config.model_copy(update={"web": WebConfig(public_url=PUBLIC)})
    clock = FakeClock(CAMPAIGN.deadline - dt.timedelta(days=3))
    with asyncio.Runner() as runner:
        app = runner.run(build_app(config, clock=clock, campaign=CAMPAIGN))
        try:
            schools, people = district(3)
            runner.run(app.repos.roster.apply(schools, people, clock.now()))
            yield World(runner, app, clock)
        finally:
            runner.run(app.close())


def _login(w: World) -> WebLogin:
    login = w.app.flow.settings.web
    assert login is not None
    return login


def _outbox_texts(w: World) -> list[str]:
    pending = w.run(w.app.outbox.repo.pending_messages(limit=1000))
    return [r.message.text for r in pending]


def _links(w: World) -> list[tuple[str, int]]:
    rows = w.run(w.app.db.fetchall("SELECT token_hash, person_id FROM web_links"))
    return [(r[0], r[1]) for r in rows]


def test_staff_get_a_one_time_link_in_private_through_the_outbox(tmp_path: Path) -> None:
    with web_world(tmp_path) as w:
        said = replies(w.say(ADMIN, "войти"))
        assert len(said) == 1
        found = LINK.search(said[0])
        assert found is not None, said
        token = found.group(1)
        assert said[0] == texts.web_login_link(found.group(0), 10)
        # Sent like every reply: it waits in the outbox for the sender.
        assert any(found.group(0) in text for text in _outbox_texts(w))
        # Stored hashed: the token itself is nowhere in the login tables.
        links = _links(w)
        assert [person for _, person in links] == [ADMIN]
        assert token not in links[0][0]
        opened = w.run(_login(w).open(token, w.clock.now()))
        assert not isinstance(opened, LinkRefusal)
        assert opened.person_id == ADMIN
        assert w.run(_login(w).open(token, w.clock.now())) is LinkRefusal.USED


def test_the_controller_is_staff_and_the_command_has_its_forms(tmp_path: Path) -> None:
    with web_world(tmp_path) as w:
        for text in ("/войти", "Войти", "login"):
            assert LINK.search(replies(w.say(CONTROLLER, text))[0])
        assert {person for _, person in _links(w)} == {CONTROLLER}


def test_a_link_dies_after_ten_minutes(tmp_path: Path) -> None:
    with web_world(tmp_path) as w:
        found = LINK.search(replies(w.say(ADMIN, "войти"))[0])
        assert found is not None
        w.clock.advance(LINK_LIFETIME.total_seconds() + 1)
        assert w.run(_login(w).open(found.group(1), w.clock.now())) is LinkRefusal.EXPIRED


def test_no_link_in_a_chat_even_for_staff(tmp_path: Path) -> None:
    with web_world(tmp_path) as w:
        said = replies(w.say(ADMIN, "/войти", peer=ADMIN_CHAT))
        assert said == [texts.WEB_LOGIN_PRIVATE_ONLY]
        assert _links(w) == []


def test_nobody_but_staff_ever_gets_a_link(tmp_path: Path) -> None:
    with web_world(tmp_path) as w:
        head = replies(w.say(head_of(1), "войти"))
        stranger = replies(w.say(STRANGER, "войти"))
        assert head  # a head's message is answered as a head's message
        assert stranger == [texts.stranger(w.app.flow.settings.department)]
        assert not any("/login/" in text for text in head + stranger + _outbox_texts(w))
        assert _links(w) == []


def test_logout_in_the_bot_ends_every_session_and_unused_link(tmp_path: Path) -> None:
    with web_world(tmp_path) as w:
        first = LINK.search(replies(w.say(ADMIN, "войти"))[0])
        second = LINK.search(replies(w.say(ADMIN, "войти"))[0])
        assert first is not None
        assert second is not None
        opened = w.run(_login(w).open(first.group(1), w.clock.now()))
        assert not isinstance(opened, LinkRefusal)
        assert w.run(_login(w).session(opened.token, w.clock.now())) is not None
        assert replies(w.say(ADMIN, "выйти")) == [texts.web_logged_out(1)]
        assert w.run(_login(w).session(opened.token, w.clock.now())) is None
        assert w.run(_login(w).open(second.group(1), w.clock.now())) is LinkRefusal.USED
        assert replies(w.say(ADMIN, "выйти")) == [texts.web_logged_out(0)]


def test_without_a_web_section_the_bot_says_so(tmp_path: Path) -> None:
    with web_world(tmp_path, web=False) as w:
        assert replies(w.say(ADMIN, "войти")) == [texts.WEB_NOT_CONFIGURED]
