"""The department's web page (issue 18) over HTTP with aiohttp's test client, on a real SQLite
file: login by link, sessions, CSRF, headers, escaping, filters, exports, one school."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook

from bot.campaign import default_campaign_path, load_campaign
from bot.clock import FakeClock
from bot.config import ConfigError
from bot.domain import Answer, AnswerSource, Count, Person, Role, School, StepState
from bot.weblogin import WebLogin
from storage.db import Database
from storage.repositories import (
    AnswerRepository,
    CampaignRepository,
    Extension,
    ExtensionRepository,
    RosterRepository,
)
from storage.web import WebAuthRepository, WebQueries
from web.cache import TableCache
from web.security import CONTENT_SECURITY_POLICY, SESSION_COOKIE
from web.server import build_web_app, run_web, web_deps

ADMIN = 900_001
OTHER_ADMIN = 900_003
HEAD = 500_001
ORDER = load_campaign(default_campaign_path())
# The order with an item for the department's own staff, which is no school's.
# Order No. 47 as the bot carries it: items 2.1–2.4 for the staff, 3.1–3.5 for the schools.
CAMPAIGN = ORDER
HEADS = ORDER.for_heads().steps  # 3.1 … 3.5
EVIL = '<script>alert("x")</script>'
SCHOOLS = [
    School(id="001", name="МКОУ «Аксайская СОШ №1»"),
    School(id="002", name="МКОУ «Бабаюртовская СОШ»"),
    School(id="003", name=EVIL),
    School(id="=cmd", name='=HYPERLINK("http://x")'),
]


@dataclass
class Site:
    client: TestClient
    clock: FakeClock
    login: WebLogin
    staff: set[int]
    db: Database

    async def link(self, person: int = ADMIN) -> str:
        url = await self.login.issue_link(person, self.clock.now())
        return url.removeprefix("http://bot.test")

    async def enter(self, person: int = ADMIN) -> None:
        response = await self.client.post(await self.link(person), allow_redirects=False)
        assert response.status == 303, await response.text()

    async def csrf(self) -> str:
        page = await (await self.client.get("/")).text()
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found is not None
        return found.group(1)


def _answer(school: str, step: str, state: StepState, at: dt.datetime, **more: object) -> Answer:
    return Answer.model_validate(
        {
            "campaign_id": CAMPAIGN.id,
            "school_id": school,
            "step_id": step,
            "state": state,
            "answered_by": HEAD,
            "answered_at": at,
            "source": AnswerSource.BUTTON,
            **more,
        }
    )


async def _seed(db: Database, now: dt.datetime) -> None:
    await CampaignRepository(db).save(CAMPAIGN, now)
    people = [
        Person(person_id=HEAD, school_id="001", full_name="Иванова Анна", role=Role.HEAD),
        Person(person_id=600_001, school_id="001", full_name="Петров Пётр", role=Role.DEPUTY),
        Person(person_id=500_003, school_id="003", full_name=EVIL, role=Role.HEAD),
    ]
    await RosterRepository(db).apply(SCHOOLS, people, now)
    answers = AnswerRepository(db)
    earlier = now - dt.timedelta(days=1)
    for step in CAMPAIGN.steps:
        if step.audience != "heads":
            continue
        counts = {p.key: Count(done=45, total=45) for p in step.parts} if step.parts else {}
        await answers.record(_answer("001", step.id, StepState.DONE, earlier, counts=counts))
    await answers.record(_answer("002", "3.1", StepState.PROBLEM, now, reason="нет интернета"))
    parts = {p.key: Count(done=45, total=50) for p in HEADS[1].parts}
    await answers.record(
        _answer("002", "3.2", StepState.IN_PROGRESS, now, counts=parts, late=True)
    )
    await answers.record(
        _answer(
            "003",
            "3.4",
            StepState.NOT_REQUIRED,
            earlier,
            answered_by=ADMIN,
            source=AnswerSource.ADMIN,
            reason="нет компьютеров",
        )
    )
    await answers.record(
        _answer(
            "003", "3.1", StepState.DONE, earlier, answered_by=ADMIN, source=AnswerSource.ADMIN
        )
    )
    await ExtensionRepository(db).grant(
        CAMPAIGN.id,
        Extension(
            school_id="002",
            step_id="",
            deadline=CAMPAIGN.deadline + dt.timedelta(days=5),
            granted_by=ADMIN,
            granted_at=now,
        ),
    )


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    clock = FakeClock(CAMPAIGN.deadline - dt.timedelta(days=1))
    db = await Database.open(tmp_path / "web.db")
    try:
        await _seed(db, clock.now())
        login = WebLogin(WebAuthRepository(db), "http://bot.test", dt.timedelta(hours=10))
        staff = {ADMIN, OTHER_ADMIN}
        deps = web_deps(db, login, clock, lambda person: person in staff, secure=False)
        async with TestClient(TestServer(build_web_app(deps))) as client:
            yield Site(client, clock, login, staff, db)
    finally:
        await db.close()


ORDER_PAGE = f"/orders/{CAMPAIGN.id}"
PROTECTED = [
    "/",
    ORDER_PAGE,
    f"{ORDER_PAGE}/table",
    f"{ORDER_PAGE}/version",
    f"{ORDER_PAGE}/export.csv",
    f"{ORDER_PAGE}/export.xlsx",
    f"{ORDER_PAGE}/schools/001",
    "/orders/nope",
]


# --- sessions ----------------------------------------------------------------------------------


async def test_no_page_or_download_without_a_session(site: Site) -> None:
    for path in PROTECTED:
        response = await site.client.get(path)
        body = await response.text()
        assert response.status == 401, path
        assert "Аксайская" not in body
        assert "Иванова" not in body
    forged = {SESSION_COOKIE: "A" * 43}
    response = await site.client.get("/", cookies=forged)
    assert response.status == 401
    assert "Напишите боту «войти»" in " ".join((await response.text()).split())


async def test_a_link_opens_a_session_once(site: Site) -> None:
    link = await site.link()
    # Opening the link shows a form that spends it (app.js sends it at once): a messenger's
    # link preview, which fetches the address, spends nothing.
    for _ in range(2):
        shown = await site.client.get(link)
        assert shown.status == 200
        assert f'<form method="post" action="{link}" id="login-form">' in await shown.text()
    assert (await site.client.get("/")).status == 401
    response = await site.client.post(link, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the page is reached over plain http here
    page = await site.client.get("/")
    assert page.status == 200
    assert "Приказ № 47" in await page.text()
    for again in (
        await site.client.post(link, allow_redirects=False),
        await site.client.get(link, allow_redirects=False),
    ):
        assert again.status == 403
        assert "уже использована" in await again.text()


async def test_a_link_is_not_spent_from_another_site(site: Site) -> None:
    link = await site.link()
    foreign = await site.client.post(
        link, headers={"Origin": "https://evil.example"}, allow_redirects=False
    )
    assert foreign.status == 403
    assert (await site.client.post(link, allow_redirects=False)).status == 303


async def test_an_expired_or_unknown_link_says_what_to_do(site: Site) -> None:
    link = await site.link()
    site.clock.advance(10 * 60 + 1)
    response = await site.client.get(link)
    assert response.status == 403
    text = await response.text()
    assert "Срок ссылки истёк" in text
    assert "«войти»" in text
    assert (await site.client.get("/")).status == 401
    unknown = await site.client.get("/login/" + "B" * 43)
    assert unknown.status == 403
    assert "Такой ссылки нет" in await unknown.text()
    assert (await site.client.get("/login/short")).status == 403


async def test_the_cookie_is_secure_behind_https(tmp_path: Path, site: Site) -> None:
    login = WebLogin(WebAuthRepository(site.db), "https://bot.test", dt.timedelta(hours=10))
    deps = web_deps(site.db, login, site.clock, lambda person: True, secure=True)
    async with TestClient(TestServer(build_web_app(deps))) as client:
        url = await login.issue_link(ADMIN, site.clock.now())
        path = url.removeprefix("https://bot.test")
        response = await client.post(path, allow_redirects=False)
        assert "Secure" in response.headers["Set-Cookie"]


async def test_a_session_lasts_a_working_day(site: Site) -> None:
    await site.enter()
    site.clock.advance(9 * 3600)
    assert (await site.client.get("/")).status == 200
    site.clock.advance(3600 + 1)
    assert (await site.client.get("/")).status == 401


async def test_someone_no_longer_staff_loses_the_page_at_once(site: Site) -> None:
    await site.enter()
    site.staff.discard(ADMIN)
    response = await site.client.get(ORDER_PAGE)
    assert response.status == 403
    assert "Доступ закрыт" in await response.text()
    site.staff.add(ADMIN)  # back on the list: the old session stays ended
    assert (await site.client.get("/")).status == 401


async def test_logout_needs_the_forms_csrf_token(site: Site) -> None:
    await site.enter()
    token = await site.csrf()
    refused = await site.client.post("/logout", data={"csrf": "wrong"}, allow_redirects=False)
    assert refused.status == 403
    foreign = await site.client.post(
        "/logout",
        data={"csrf": token},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert foreign.status == 403
    assert (await site.client.get("/")).status == 200  # neither ended the session
    done = await site.client.post("/logout", data={"csrf": token}, allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"] == "/bye"
    assert (await site.client.get("/")).status == 401
    assert (await site.client.get("/bye")).status == 200


async def test_a_burst_of_wrong_links_is_limited(site: Site) -> None:
    for _ in range(10):
        assert (await site.client.get("/login/" + "C" * 43)).status == 403
    good = await site.link()
    limited = await site.client.get(good)
    assert limited.status == 429
    assert "Слишком много неверных ссылок" in await limited.text()
    assert (await site.client.post(good, allow_redirects=False)).status == 429
    site.clock.advance(5 * 60 + 1)
    assert (await site.client.post(good, allow_redirects=False)).status == 303


async def test_every_answer_carries_the_security_headers(site: Site) -> None:
    await site.enter()
    for path in ["/", ORDER_PAGE, f"{ORDER_PAGE}/schools/003", "/bye", "/nope"]:
        response = await site.client.get(path)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        body = await response.text()
        # No inline script: every <script> has a src of our own.
        assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", body) == []
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    static = await site.client.get("/static/app.js")
    assert static.status == 200


async def test_access_is_logged_without_tokens(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="web.access")
    link = await site.link()
    await site.client.get(link)
    await site.client.post(link, allow_redirects=False)
    await site.client.get(ORDER_PAGE)
    lines = [r.getMessage() for r in caplog.records if r.name == "web.access"]
    assert any(f"GET {ORDER_PAGE} person={ADMIN} -> 200" in line for line in lines), lines
    assert any("GET /login/… person=- -> 200" in line for line in lines), lines
    assert any(f"POST /login/… person={ADMIN} -> 303" in line for line in lines), lines
    token = link.rsplit("/", 1)[1]
    assert not any(token in r.getMessage() for r in caplog.records)


# --- what the pages show -----------------------------------------------------------------------


async def test_the_orders_page_shows_progress(site: Site) -> None:
    await site.enter()
    page = await (await site.client.get("/")).text()
    assert "Выполнили все пункты: <strong>1 из 4</strong>" in page
    assert "До срока 1 день" in page
    assert "Регистрация в Сферуме" in page  # named apart, not among the schools' items
    await CampaignRepository(site.db).close(CAMPAIGN.id, site.clock.now())
    page = await (await site.client.get("/")).text()
    assert "Открытых приказов нет" in page
    assert "Закрытые приказы" in page


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr data-school="([^"]+)"', page)


async def test_the_table_shows_states_in_words_counts_late_and_not_required(site: Site) -> None:
    await site.enter()
    page = await (await site.client.get(ORDER_PAGE)).text()
    assert _rows(page) == ["003", "=cmd", "001", "002"]  # by name: «<», «=», «М…А», «М…Б»
    assert "45 из 50" in page
    assert "с опозданием" in page
    assert "не требуется" in page
    assert "срок продлён до 25.10.2023 23:59" in page
    assert 'class="cell state-problem"' in page
    assert "проблема" in page
    # The staff's own item is not a column of the schools' table.
    assert "Регистрация в Сферуме" not in page.split('id="schools"')[1]
    # The totals row: 3.1 done by 2 of 4, the count item summed over the schools.
    totals = page.split('class="totals"')[1]
    assert "выполнено 2 из 4 (50\xa0%)" in totals
    assert "90 из 95" in totals


async def test_a_school_named_script_is_shown_as_text(site: Site) -> None:
    await site.enter()
    for path in [ORDER_PAGE, f"{ORDER_PAGE}/schools/003", f"{ORDER_PAGE}?q=%3Cscript"]:
        body = await (await site.client.get(path)).text()
        assert EVIL not in body
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body


async def test_filters_come_from_the_address_and_combine(site: Site) -> None:
    await site.enter()

    async def shown(query: str) -> list[str]:
        return _rows(await (await site.client.get(f"{ORDER_PAGE}?{query}")).text())

    assert await shown("state=problem") == ["002"]
    assert await shown("state=finished") == ["001"]
    assert await shown("state=not_required") == ["003"]
    assert await shown("state=late") == ["002"]
    assert await shown("state=extended") == ["002"]
    assert await shown("state=done&step=3.1") == ["003", "001"]
    assert await shown("state=none&step=3.2") == ["003", "=cmd"]
    assert await shown("q=бабаюрт") == ["002"]
    assert await shown("q=001") == ["001"]
    assert await shown("q=БАБАЮРТ&state=owing") == ["002"]
    assert await shown("sort=progress") == ["=cmd", "002", "003", "001"]
    assert await shown("sort=last") == ["002", "003", "001", "=cmd"]
    # A bad value falls back to its default and keeps the others.
    assert await shown("state=bogus&q=001&page=x&sort=?") == ["001"]
    page = await (await site.client.get(f"{ORDER_PAGE}?state=problem&q=СОШ")).text()
    assert '<option value="problem" selected>' in page
    assert 'value="СОШ"' in page
    assert 'Показано школ: <strong id="shown-count">1</strong> из 4' in page


async def test_the_table_alone_keeps_the_filters_and_the_version_moves(site: Site) -> None:
    await site.enter()
    before = (await (await site.client.get(f"{ORDER_PAGE}/version")).json())["version"]
    table = await (await site.client.get(f"{ORDER_PAGE}/table?state=problem")).text()
    assert _rows(table) == ["002"]
    assert "<html" not in table
    await AnswerRepository(site.db).record(
        _answer("=cmd", "3.1", StepState.PROBLEM, site.clock.now())
    )
    after = (await (await site.client.get(f"{ORDER_PAGE}/version")).json())["version"]
    assert after != before
    table = await (await site.client.get(f"{ORDER_PAGE}/table?state=problem")).text()
    assert _rows(table) == ["=cmd", "002"]


async def test_exports_hold_exactly_what_is_shown(site: Site) -> None:
    await site.enter()
    query = "state=owing&sort=progress"
    page = await (await site.client.get(f"{ORDER_PAGE}?{query}")).text()
    assert f'href="{ORDER_PAGE}/export.xlsx?state=owing&amp;sort=progress"' in page
    response = await site.client.get(f"{ORDER_PAGE}/export.csv?{query}")
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    raw = await response.read()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert header[:3] == ["№ школы", "Школа", "3.1 " + HEADS[0].short_title]
    assert [r[0] for r in body] == ["'=cmd", "002", "003"]  # no formula reaches Excel
    assert body[0][1].startswith("'=HYPERLINK")
    assert body[1][2].startswith("проблема")
    assert "45 из 50" in body[1][3]
    assert "с опозданием" in body[1][3]
    assert total[1].startswith("Итого школ: 3")
    xlsx = await site.client.get(f"{ORDER_PAGE}/export.xlsx?{query}")
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == header
    assert [r[0] for r in values[1:-1]] == ["=cmd", "002", "003"]
    assert all(isinstance(v, str) for v in values[1][:2])  # text, not a formula
    assert values[2][2] == body[1][2]


async def test_one_school_shows_its_people_and_every_answer(site: Site) -> None:
    await site.enter()
    page = await (await site.client.get(f"{ORDER_PAGE}/schools/002")).text()
    assert "нет интернета" in page
    assert "с опозданием" in page
    assert "кнопкой" in page
    # The history names a count item's parts as the order does.
    titles = [p.title for p in HEADS[1].parts]
    assert f"{titles[0]} 45 из 50, {titles[1]} 45 из 50" in page
    page = await (await site.client.get(f"{ORDER_PAGE}/schools/001")).text()
    assert "Иванова Анна" in page
    assert "Петров Пётр" in page
    assert "зарегистрирован(а)" in page
    assert page.count('class="cell state-done"') >= 2 * 5  # the items and their history
    page = await (await site.client.get(f"{ORDER_PAGE}/schools/003")).text()
    assert "внёс сотрудник" in page
    assert f"сотрудник, id {ADMIN}" in page
    assert "нет компьютеров" in page
    missing = await site.client.get(f"{ORDER_PAGE}/schools/999")
    assert missing.status == 404
    assert "Такой страницы нет" in await missing.text()


async def test_the_kept_table_rereads_only_the_schools_that_answered(site: Site) -> None:
    tables = TableCache(WebQueries(site.db))
    first, marks = await tables.rows(CAMPAIGN.id)
    again, same = await tables.rows(CAMPAIGN.id)
    assert again is first
    assert same == marks
    await AnswerRepository(site.db).record(
        _answer("=cmd", "3.5", StepState.DONE, site.clock.now())
    )
    second, newer = await tables.rows(CAMPAIGN.id)
    assert newer.answers > marks.answers
    by_id = {r.id: r for r in second}
    assert by_id["=cmd"].cells["3.5"].state is StepState.DONE
    # Every other school's row is the one kept before.
    assert all(by_id[r.id] is r for r in first if r.id != "=cmd")
    assert [r.id for r in second] == [r.id for r in first]
    # An extension is no answer: the order is read afresh, and shows it.
    await ExtensionRepository(site.db).grant(
        CAMPAIGN.id,
        Extension(
            school_id="001",
            step_id="3.2",
            deadline=CAMPAIGN.deadline + dt.timedelta(days=2),
            granted_by=ADMIN,
            granted_at=site.clock.now(),
        ),
    )
    third, _ = await tables.rows(CAMPAIGN.id)
    assert {r.id: r for r in third}["001"].extensions.keys() == {"3.2"}
    assert not any(r is s for r, s in zip(third, second, strict=True))


@pytest.mark.parametrize("page", [1, 3, 4, 1000])
async def test_the_order_is_read_in_pages_with_nothing_lost(
    site: Site, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = WebQueries(site.db)
    whole = await queries.table(CAMPAIGN.id)
    monkeypatch.setattr("storage.web.TABLE_PAGE", page)
    assert await queries.table(CAMPAIGN.id) == whole
    assert [r.id for r in whole] == sorted(s.id for s in SCHOOLS)


async def test_a_taken_port_is_a_config_problem_said_plainly(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        deps = web_deps(site.db, site.login, site.clock, lambda person: True, secure=False)
        with pytest.raises(ConfigError) as caught:
            await run_web(deps, "127.0.0.1", port)
    assert caught.value.problems[0].startswith(f"web.listen: 127.0.0.1:{port} не удаётся занять")


async def test_a_closed_school_leaves_the_table_and_the_totals(site: Site) -> None:
    """Issue 17: as in the reports, a closed school is in no row and no total; its own page
    with its history stays."""
    await site.enter()
    await RosterRepository(site.db).close_school("001", "реорганизация", site.clock.now())
    page = await (await site.client.get(ORDER_PAGE)).text()
    assert "001" not in _rows(page)
    assert len(_rows(page)) == 3
    orders = await (await site.client.get("/")).text()
    assert "Выполнили все пункты: <strong>0 из 3</strong>" in orders
    school = await site.client.get(f"{ORDER_PAGE}/schools/001")
    assert school.status == 200
