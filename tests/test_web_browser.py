"""The department's web page in a real browser (issue 18): Debian's headless Chromium driven by
Selenium through Debian's chromedriver, against the whole bot on the VK API emulator.

A staff member asks the bot for a link, opens it, sees the table, filters it, watches a new
answer appear without reloading, downloads the Excel file, opens a school and logs out; an
expired link is refused and a head never gets one.

Needs the packages `chromium` and `chromium-driver` (`.ci/run` installs them). Without them
the test is skipped and says why, except where CONFIRMBOT_BROWSER_TESTS=1 (CI): there it fails.
Never downloads a browser.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.campaign import default_campaign_path, load_campaign
from bot.clock import FakeClock
from bot.sandbox import Sandbox
from tests.conftest import ADMIN, head_of, start_district

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRED = os.environ.get("CONFIRMBOT_BROWSER_TESTS") == "1"
LINK = re.compile(r"http://\S+/login/[A-Za-z0-9_-]{43}")
_T = TypeVar("_T")


def _missing() -> str | None:
    """Why the browser cannot run here, or None."""
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if absent:
        return (
            f"{', '.join(absent)} not found: the browser tests did not run "
            "(install Debian's packages: apt-get install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: the browser tests did not run (make install)"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium; asked for first, so a machine without it skips before the bot starts."""
    why = _missing()
    if why is not None:
        if REQUIRED:
            pytest.fail(f"CONFIRMBOT_BROWSER_TESTS=1 but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    # The console, to see that nothing the page needs is blocked by its own CSP.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandbox]:
    monkeypatch.chdir(tmp_path)
    campaign = load_campaign(default_campaign_path())
    clock = FakeClock(campaign.deadline - dt.timedelta(days=2))
    sandbox = await start_district(
        tmp_path, clock, campaign, schools=3, web_listen=f"127.0.0.1:{_free_port()}"
    )
    try:
        yield sandbox
    finally:
        await sandbox.close()


async def _in_thread(work: Callable[[], _T]) -> _T:
    """Selenium blocks; the bot serving the page runs on this loop."""
    return await asyncio.to_thread(work)


async def _until(condition: Callable[[], object], what: str, timeout: float = 8.0) -> None:  # noqa: ASYNC109
    """Wait for the browser to show something, asking it from a thread."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await _in_thread(condition):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _link(box: Sandbox, count: int) -> str:
    message = await box.emulator.wait_for_message(ADMIN, contains="/login/", count=count)
    found = LINK.search(message.text)
    assert found is not None, message.text
    return found.group(0)


def _rows(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        row.get_attribute("data-school")
        for row in driver.find_elements(By.CSS_SELECTOR, "#schools tbody tr[data-school]")
    ]


async def test_staff_log_in_by_the_bots_link_and_work_the_table(
    browser: Any, box: Sandbox
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    box.say(head_of(1), "3.1 выполнено")
    box.say(head_of(2), "3.1 проблема нет интернета")
    await box.emulator.wait_for_message(head_of(2), contains="3.1")

    # A head asks too: the bot answers as it answers a head, never with a link.
    box.say(head_of(3), "войти")
    box.say(ADMIN, "войти")
    link = await _link(box, 1)
    await box.emulator.wait_for_message(head_of(3))
    assert not any("/login/" in m.text for m in box.emulator.messages_to(head_of(3)))

    await _in_thread(lambda: driver.get(link))
    await _until(lambda: "Открытые приказы" in driver.page_source, "the orders page")
    await _in_thread(lambda: driver.find_element(By.LINK_TEXT, "Таблица школ").click())
    await _until(lambda: _rows(driver) == ["s1", "s2", "s3"], "the table of three schools")
    cell = await _in_thread(
        lambda: driver.find_element(By.CSS_SELECTOR, 'tr[data-school="s2"] td.cell').text
    )
    assert "проблема" in cell

    # Filter: the form applies itself when a choice changes, and the address keeps it.
    await _in_thread(
        lambda: Select(driver.find_element(By.ID, "f-state")).select_by_value("problem")
    )
    await _until(lambda: _rows(driver) == ["s2"], "only the school with a problem")
    assert "state=problem" in driver.current_url

    # A new answer appears without reloading the page, and the filter stays.
    await _in_thread(lambda: driver.execute_script("window.stayed = 'yes';"))
    box.say(head_of(3), "3.1 проблема нет света")
    await _until(lambda: _rows(driver) == ["s2", "s3"], "the new problem, without a reload")
    assert await _in_thread(lambda: driver.execute_script("return window.stayed;")) == "yes"
    assert "state=problem" in driver.current_url

    # The Excel file of what is shown, downloaded with the session's cookie.
    href = await _in_thread(
        lambda: driver.find_element(By.ID, "export-xlsx").get_attribute("href")
    )
    assert href.endswith("/export.xlsx?state=problem")
    fetched = await _in_thread(
        lambda: driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0]).then(r => r.arrayBuffer().then(b => done("
            "[r.status, r.headers.get('content-type'), b.byteLength])));",
            href,
        )
    )
    assert fetched[0] == 200
    assert fetched[1].startswith("application/vnd.openxmlformats")
    assert fetched[2] > 1000

    # One school: its people and its answers.
    await _in_thread(lambda: driver.find_element(By.LINK_TEXT, "МКОУ «СОШ №2»").click())
    await _until(lambda: "История ответов" in driver.page_source, "the school's page")
    page = driver.page_source
    assert "Директор 2" in page
    assert "нет интернета" in page

    # Everything ran under the page's Content-Security-Policy, with nothing refused.
    console = await _in_thread(lambda: driver.get_log("browser"))
    refused = [e["message"] for e in console if "Content Security Policy" in e["message"]]
    assert refused == []

    # Logging out ends the session: the page asks to log in again.
    await _in_thread(lambda: driver.find_element(By.ID, "logout").click())
    await _until(lambda: "Вы вышли" in driver.page_source, "the page after logout")
    base = link.split("/login/")[0]
    await _in_thread(lambda: driver.get(base + "/"))
    await _until(lambda: "Нужен вход" in driver.page_source, "the login-needed page")

    # A link opened after its ten minutes is refused in Russian.
    box.say(ADMIN, "войти")
    late = await _link(box, 2)
    clock = box.app.clock
    assert isinstance(clock, FakeClock)
    clock.advance(11 * 60)
    await _in_thread(lambda: driver.get(late))
    await _until(lambda: "Срок ссылки истёк" in driver.page_source, "the expired link's page")
