"""The department's web page (issue 18): aiohttp with Jinja2 templates, served by the bot.

Routes are thin: they read the request, ask storage/web.py, hand the rows to web/table.py and
render a template. Everything but the static files and the login link's own address needs a
live session of someone who is staff now (`is_staff` is asked on every request, so a person
taken off the staff list loses the page at their next click).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot import texts
from bot.clock import Clock
from bot.config import ConfigError
from bot.domain import Campaign, StepState
from bot.russian import percent_of
from bot.weblogin import WebLogin
from storage.db import Database
from storage.web import LinkRefusal, OrderRecord, StaffActionRow, WebQueries, WebSession
from web import export
from web.cache import TableCache
from web.chart import progress_chart
from web.security import (
    PERSON,
    SESSION,
    SESSION_COOKIE,
    RateLimiter,
    access_log,
    client_of,
    security_headers,
)
from web.table import (
    SORT_NAMES,
    STATE_FILTER_NAMES,
    TableQuery,
    cell_view,
    counts_words,
    finished_items,
    page_of,
    school_steps,
    select,
    totals,
)

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PUBLIC_PREFIXES = ("/login/", "/static/")
PUBLIC_PATHS = frozenset({"/bye"})


@dataclass(frozen=True)
class WebDeps:
    queries: WebQueries
    login: WebLogin
    clock: Clock
    is_staff: Callable[[int], bool]
    secure: bool  # cookies over HTTPS only
    limiter: RateLimiter
    tables: TableCache
    poll_seconds: float = 10.0


DEPS = web.AppKey("deps", WebDeps)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _deps(request: web.Request) -> WebDeps:
    return request.app[DEPS]


def _session(request: web.Request) -> WebSession:
    session = request.get(SESSION)
    if not isinstance(session, WebSession):  # the middleware lets no one here without one
        raise web.HTTPUnauthorized
    return session


def _page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    session = request.get(SESSION)
    context = {
        "csrf": session.csrf if isinstance(session, WebSession) else "",
        "logged_in": isinstance(session, WebSession),
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, context, status=status)


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    deps = _deps(request)
    now = deps.clock.now()
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await deps.login.session(token, now) if token else None
    wants_json = request.path.endswith("/version")
    if session is None:
        if wants_json:
            return web.json_response({"login": True}, status=401)
        return _page(request, "login_needed.html", {}, status=401)
    request[PERSON] = session.person_id
    if not deps.is_staff(session.person_id):
        await deps.login.end(token, now)
        log.warning("web session of %s ended: no longer staff", session.person_id)
        if wants_json:
            return web.json_response({"login": True}, status=403)
        return _page(request, "not_staff.html", {}, status=403)
    request[SESSION] = session
    return await handler(request)


# --- login and logout -------------------------------------------------------------------------

_REFUSALS = {
    LinkRefusal.UNKNOWN: "unknown",
    LinkRefusal.USED: "used",
    LinkRefusal.EXPIRED: "expired",
}


def _refused(request: web.Request, deps: WebDeps, client: str, why: LinkRefusal) -> web.Response:
    deps.limiter.failed(client)
    log.info("login link refused (%s) from %s", why.value, client)
    return _page(request, "login_refused.html", {"why": _REFUSALS[why]}, status=403)


def _limited(request: web.Request, client: str) -> web.Response:
    log.warning("login links from %s refused: too many wrong ones", client)
    return _page(request, "login_refused.html", {"why": "limited"}, status=429)


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login/{token}: the link from the bot. Opening it spends nothing: messengers fetch
    the links in messages to draw previews. The page's form (sent at once by app.js, or by
    its button) spends it; a link that would open nothing says what to do instead."""
    deps = _deps(request)
    client = client_of(request)
    if deps.limiter.blocked(client):
        return _limited(request, client)
    token = request.match_info["token"]
    why = await deps.login.check(token, deps.clock.now())
    if why is not None:
        return _refused(request, deps, client, why)
    return _page(request, "login.html", {"action": f"/login/{token}"})


async def login(request: web.Request) -> web.StreamResponse:
    """POST /login/{token}: spend the link and start the session."""
    deps = _deps(request)
    client = client_of(request)
    if deps.limiter.blocked(client):
        return _limited(request, client)
    if not _same_origin(request):
        return _page(request, "error.html", {"message": _STALE_FORM}, status=403)
    opened = await deps.login.open(request.match_info["token"], deps.clock.now())
    if isinstance(opened, LinkRefusal):
        return _refused(request, deps, client, opened)
    request[PERSON] = opened.person_id
    if not deps.is_staff(opened.person_id):
        await deps.login.end(opened.token, deps.clock.now())
        return _page(request, "not_staff.html", {}, status=403)
    log.info("web session opened for %s", opened.person_id)
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=int((opened.expires_at - deps.clock.now()).total_seconds()),
        path="/",
        httponly=True,
        secure=deps.secure,
        samesite="Lax",
    )
    return response


_STALE_FORM = "Форма устарела или открыта с другого сайта: обновите страницу и попробуйте ещё раз."


def _same_origin(request: web.Request) -> bool:
    """A form posted from another site names that site in Origin. None or «null» (a browser
    that withholds it) leaves the decision to the CSRF token alone."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    host = request.headers.get("X-Forwarded-Host") or request.host
    return origin.split("://", 1)[-1] == host


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /logout with the session's CSRF token: the session ends."""
    deps = _deps(request)
    session = _session(request)
    form = await request.post()
    sent = form.get("csrf")
    if (
        not isinstance(sent, str)
        or not hmac.compare_digest(sent.encode(), session.csrf.encode())
        or not _same_origin(request)
    ):
        log.warning("logout without a valid CSRF token for %s", session.person_id)
        return _page(request, "error.html", {"message": _STALE_FORM}, status=403)
    await deps.login.end(request.cookies.get(SESSION_COOKIE, ""), deps.clock.now())
    log.info("web session closed by %s", session.person_id)
    response = web.HTTPSeeOther("/bye")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def bye(request: web.Request) -> web.StreamResponse:
    return _page(request, "bye.html", {})


# --- pages ------------------------------------------------------------------------------------


def _order_summary(record: OrderRecord, progress: Any, now: dt.datetime) -> dict[str, Any]:
    campaign = record.campaign
    steps = school_steps(campaign)
    schools = progress.schools
    items = []
    for step in steps:
        states = progress.states.get(step.id, {})
        done = states.get(StepState.DONE, 0)
        not_required = states.get(StepState.NOT_REQUIRED, 0)
        owed = schools - not_required
        items.append(
            {
                "step": step,
                "done": done,
                "owed": owed,
                "percent": percent_of(done, owed) if owed else "",
                "states": [
                    (state, texts.STATE_NAME[state], states.get(state, 0))
                    for state in (
                        StepState.DONE,
                        StepState.IN_PROGRESS,
                        StepState.PROBLEM,
                        StepState.NONE,
                        StepState.NOT_REQUIRED,
                    )
                    if states.get(state, 0)
                ],
            }
        )
    return {
        "record": record,
        "campaign": campaign,
        "schools": schools,
        "finished": progress.finished,
        "percent": percent_of(progress.finished, schools) if schools else "",
        "time_left": texts.time_left(campaign, now),
        "deadline": texts.fmt_deadline(campaign),
        "items": items,
        "staff_items": campaign.staff_steps,
    }


async def orders(request: web.Request) -> web.StreamResponse:
    """GET /: the open orders with their progress, the closed ones below."""
    deps = _deps(request)
    now = deps.clock.now()
    records = await deps.queries.orders()
    open_orders: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    for record in records:
        progress = await deps.queries.progress(
            record.campaign.id, [s.id for s in school_steps(record.campaign)]
        )
        summary = _order_summary(record, progress, now)
        (closed if record.closed_at is not None else open_orders).append(summary)
    return _page(request, "orders.html", {"open_orders": open_orders, "closed": closed, "tz": _tz})


def _tz(moment: dt.datetime | None, campaign: Campaign) -> str:
    return "—" if moment is None else texts.fmt_moment(moment, campaign.timezone)


async def _order_or_404(request: web.Request) -> OrderRecord:
    record = await _deps(request).queries.order(request.match_info["order"])
    if record is None:
        raise web.HTTPNotFound
    return record


async def _table_context(request: web.Request, record: OrderRecord) -> dict[str, Any]:
    deps = _deps(request)
    now = deps.clock.now()
    campaign = record.campaign
    query = TableQuery.parse(dict(request.query))
    rows, marks = await deps.tables.rows(campaign.id)
    shown = select(campaign, rows, query, now)
    page = page_of(shown, query.page)
    steps = school_steps(campaign)
    return {
        "campaign": campaign,
        "record": record,
        "query": query,
        "steps": steps,
        "page": page,
        "all_schools": len(rows),
        "totals": totals(campaign, shown),
        "cells": {row.id: [cell_view(campaign, row, s, now) for s in steps] for row in page.rows},
        "finished_items": {row.id: finished_items(row, steps) for row in page.rows},
        "state_names": STATE_FILTER_NAMES,
        "sort_names": SORT_NAMES,
        # What the rows were read at: the page's poll compares it with the latest.
        "version": marks.version,
        "tz": _tz,
    }


async def order(request: web.Request) -> web.StreamResponse:
    """GET /orders/{order}: schools × items, filtered by the URL's query."""
    deps = _deps(request)
    record = await _order_or_404(request)
    campaign = record.campaign
    context = await _table_context(request, record)
    now = deps.clock.now()
    steps = school_steps(campaign)
    progress = await deps.queries.progress(campaign.id, [s.id for s in steps])
    days = await deps.queries.days(campaign.id)
    today = texts.local(now, campaign.timezone).date()
    context |= {
        "summary": _order_summary(record, progress, now),
        "chart": progress_chart(days, today, progress.finished, progress.schools),
        "poll_ms": int(deps.poll_seconds * 1000),
    }
    return _page(request, "order.html", context)


async def order_table(request: web.Request) -> web.StreamResponse:
    """GET /orders/{order}/table: the table alone, for the page to refresh itself."""
    record = await _order_or_404(request)
    return _page(request, "_table.html", await _table_context(request, record))


async def order_version(request: web.Request) -> web.StreamResponse:
    """GET /orders/{order}/version: changes whenever the table would."""
    record = await _order_or_404(request)
    return web.json_response({"version": await _deps(request).queries.version(record.campaign.id)})


async def order_export(request: web.Request) -> web.StreamResponse:
    """GET /orders/{order}/export.{csv|xlsx}: what the page shows with these filters."""
    deps = _deps(request)
    record = await _order_or_404(request)
    campaign = record.campaign
    kind = request.match_info["kind"]
    now = deps.clock.now()
    query = TableQuery.parse(dict(request.query))
    rows, _ = await deps.tables.rows(campaign.id)
    shown = select(campaign, rows, query, now)
    total = totals(campaign, shown)
    stamp = texts.local(now, campaign.timezone).strftime("%Y-%m-%d_%H-%M")
    name = f"prikaz_{campaign.number}_{stamp}.{kind}".replace("/", "-")
    if kind == "csv":
        body = export.to_csv(campaign, shown, total, now)
        content_type = "text/csv"
    else:
        body = await asyncio.to_thread(export.to_xlsx, campaign, shown, total, now)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    log.info("export %s of %s: %d schools", kind, campaign.id, len(shown))
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8" if kind == "csv" else None,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def school(request: web.Request) -> web.StreamResponse:
    """GET /orders/{order}/schools/{school}: its people and every answer."""
    deps = _deps(request)
    record = await _order_or_404(request)
    campaign = record.campaign
    detail = await deps.queries.school(campaign.id, request.match_info["school"])
    if detail is None:
        raise web.HTTPNotFound
    now = deps.clock.now()
    steps = school_steps(campaign)
    titles = {s.id: s for s in campaign.steps}
    return _page(
        request,
        "school.html",
        {
            "campaign": campaign,
            "record": record,
            "school": detail,
            "steps": steps,
            "titles": titles,
            "cells": [cell_view(campaign, detail.row, s, now) for s in steps],
            "finished": finished_items(detail.row, steps),
            "state_name": texts.STATE_NAME,
            "source_name": texts.SOURCE_NAME,
            "role_name": texts.ROLE_NAME,
            "actions": [_action_words(a, campaign) for a in detail.actions],
            "history_counts": {
                h.id: counts_words(step, h.counts)
                for h in detail.history
                if h.counts and (step := titles.get(h.step_id)) is not None
            },
            "tz": _tz,
        },
    )


_ACTION_NAMES = {
    "required": "«не требуется» отменено",
    "extended": "срок продлён",
    "extension_cancelled": "продление отменено",
}


def _action_words(action: StaffActionRow, campaign: Campaign) -> str:
    words = [_tz(action.done_at, campaign), _ACTION_NAMES.get(action.action, action.action)]
    if action.step_id:
        words.append(f"пункт {action.step_id}")
    if action.action == "extended" and action.detail:
        try:
            words.append("до " + _tz(dt.datetime.fromisoformat(action.detail), campaign))
        except ValueError:
            words.append(action.detail)
    elif action.detail:
        words.append(action.detail)
    words.append(f"сотрудник id {action.done_by}")
    return " · ".join(words)


@web.middleware
async def pages_for_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A page in Russian where aiohttp would answer «404: Not Found»."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _page(request, "error.html", {"message": "Такой страницы нет."}, status=404)
    except web.HTTPMethodNotAllowed:
        return _page(request, "error.html", {"message": "Так эту страницу не открыть."}, 405)


def build_web_app(deps: WebDeps) -> web.Application:
    app = web.Application(
        middlewares=[security_headers, access_log, pages_for_errors, require_session],
        client_max_size=64 * 1024,
    )
    app[DEPS] = deps
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["state_class"] = lambda state: f"state-{state.value}"
    app.router.add_get("/login/{token}", login_page)
    app.router.add_post("/login/{token}", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/bye", bye)
    app.router.add_get("/", orders)
    app.router.add_get("/orders/{order}", order)
    app.router.add_get("/orders/{order}/table", order_table)
    app.router.add_get("/orders/{order}/version", order_version)
    app.router.add_get(r"/orders/{order}/export.{kind:csv|xlsx}", order_export)
    app.router.add_get("/orders/{order}/schools/{school}", school)
    app.router.add_static("/static/", HERE / "static")
    return app


def web_deps(
    db: Database,
    login: WebLogin,
    clock: Clock,
    is_staff: Callable[[int], bool],
    *,
    secure: bool,
    poll_seconds: float = 10.0,
) -> WebDeps:
    return WebDeps(
        queries=WebQueries(db),
        login=login,
        clock=clock,
        is_staff=is_staff,
        secure=secure,
        limiter=RateLimiter(clock.now),
        tables=TableCache(WebQueries(db)),
        poll_seconds=poll_seconds,
    )


async def run_web(deps: WebDeps, host: str, port: int) -> None:
    """Serve the page until cancelled."""
    runner = web.AppRunner(build_web_app(deps), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            # Taken by another program, or an address this machine does not have: the config
            # must change, and the bot says so as it says any config problem (exit status 2).
            raise ConfigError(
                [
                    f"web.listen: {host}:{port} не удаётся занять ({error.strerror or error}); "
                    'укажите свободный порт этой машины, например "127.0.0.1:8080"'
                ]
            ) from None
        log.info("the web page is served on %s:%s", host, port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def serve_page(app: App) -> None:
    """`confirmbot run` with [web] configured: the page beside the bot, until cancelled."""
    config, login = app.config.web, app.flow.settings.web
    if config is None or login is None:
        return
    deps = web_deps(
        app.db,
        login,
        app.clock,
        app.flow.is_staff,
        secure=config.secure,
        poll_seconds=config.refresh.total_seconds(),
    )
    host, port = config.address
    await run_web(deps, host, port)
