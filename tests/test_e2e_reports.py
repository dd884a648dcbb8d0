"""Files in the chat, end to end: the Excel report on `отчет`, the progress picture on
`статус картинка` and with the daily summary; and the picture itself.

The real vkbottle Bot runs against the VK API emulator over loopback HTTP; what the bot uploads
is read back from the emulator (`emulator.uploads`, `emulator.upload_of(message)`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from PIL import Image

from bot import texts
from bot.campaign import load_campaign
from bot.chart import WIDTH, render_progress
from bot.clock import FakeClock
from bot.config import DepartmentConfig
from bot.domain import Campaign, StepKind
from bot.sandbox import ADMIN_CHAT, HEADS_CHAT, TOKEN, Sandbox, start_sandbox
from bot.status import DistrictStatus, PartProgress, StepSummary
from bot.vk_emulator import SentMessage, Upload
from tests.conftest import ADMIN, STRANGER, district, head_of

# The department as the sandbox config names it: [department] left at its defaults.
DEPT = DepartmentConfig()

MSK = ZoneInfo("Europe/Moscow")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def with_attachment(box: Sandbox, peer_id: int, kind: str) -> list[SentMessage]:
    return [
        m
        for m in box.emulator.messages_to(peer_id)
        if m.attachment is not None and m.attachment.startswith(kind)
    ]


async def wait_for_file(box: Sandbox, peer_id: int, kind: str) -> tuple[SentMessage, Upload]:
    await box.emulator.wait_for(
        lambda: bool(with_attachment(box, peer_id, kind)),
        description=f"a message with a {kind} to {peer_id}",
    )
    message = with_attachment(box, peer_id, kind)[0]
    upload = box.emulator.upload_of(message)
    assert upload is not None
    return message, upload


def open_png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every row: a truncated or corrupt PNG fails here
    assert image.format == "PNG"
    return image


# -- `отчет` ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "command"),
    [(ADMIN_CHAT, "/отчет"), (ADMIN, "отчёт"), (ADMIN_CHAT, "report")],
    ids=["admin chat", "private", "english"],
)
async def test_report_uploads_the_workbook_to_the_conversation_it_was_asked_in(
    sandbox: Sandbox, peer: int, command: str
) -> None:
    emu, app = sandbox.emulator, sandbox.app
    sandbox.say(head_of(1), "3.1 выполнено")
    await emu.wait_for_message(head_of(1), contains="Принято")
    sandbox.say(ADMIN, command, peer_id=peer)
    message, upload = await wait_for_file(sandbox, peer, "doc")

    assert upload.kind == "doc"
    assert upload.peer_id == peer
    book = openpyxl.load_workbook(io.BytesIO(upload.data), read_only=True)
    try:
        assert book.sheetnames == ["Сводка", "Должники", "История"]
        history = list(book["История"].iter_rows(values_only=True))
        assert any("s1" in row for row in history)  # the answer just given is in it
    finally:
        book.close()

    now = app.clock.now()
    filename = texts.report_filename(app.campaign, now)
    assert filename == "Отчет_приказ_47_2023-10-17_2359.xlsx"
    assert emu.upload_server.docs[message.attachment or ""].title == filename
    assert upload.filename == "47_2023-10-17_2359.xlsx"  # ASCII on the wire, the suffix kept
    assert message.text == texts.report_caption(app.campaign, now, 3, 0)
    server_calls = emu.calls_to("docs.getMessagesUploadServer")
    assert [c.params["peer_id"] for c in server_calls] == [str(peer)]
    assert server_calls[0].params["type"] == "doc"
    assert TOKEN not in server_calls[0].response["upload_url"]
    assert [c.params["title"] for c in emu.calls_to("docs.save")] == [filename]


async def test_nobody_else_gets_the_report(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    sandbox.say(head_of(2), "/отчет", peer_id=HEADS_CHAT)
    await emu.wait_for_message(HEADS_CHAT, contains=texts.admin_only(DEPT))
    sandbox.say(STRANGER, "отчет")
    await emu.wait_for_message(STRANGER, contains=texts.stranger(DEPT)[:40])
    assert emu.uploads == []
    assert emu.calls_to("docs.getMessagesUploadServer") == []
    assert [m for m in emu.sent if m.attachment] == []


async def test_a_refused_upload_is_answered_in_russian(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    emu.fail_next("docs.save", 15)  # "Access denied": not one VK takes back on a retry
    sandbox.say(ADMIN, "/отчет", peer_id=ADMIN_CHAT)
    await emu.wait_for_message(ADMIN_CHAT, contains=texts.REPORT_UPLOAD_FAILED[:40])
    assert [m for m in emu.sent if m.attachment] == []


# -- `статус картинка` -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/статус картинка", "status chart", "статус Картинка"])
async def test_status_with_a_picture(sandbox: Sandbox, command: str) -> None:
    emu, app = sandbox.emulator, sandbox.app
    sandbox.say(head_of(1), "3.2 педагоги 45/50 ученики 380/412")
    await emu.wait_for_message(head_of(1), contains="Принято")
    sandbox.say(ADMIN, command, peer_id=ADMIN_CHAT)
    message, upload = await wait_for_file(sandbox, ADMIN_CHAT, "photo")

    text = emu.messages_to(ADMIN_CHAT)[0].text
    assert text.startswith("📊 Приказ № 47")  # the status text first, then the picture
    assert "не найдена" not in text  # not taken for a school's name (texts.unknown_school)
    assert message.text == texts.chart_caption(app.campaign, app.clock.now())
    assert upload.kind == "photo"
    image = open_png(upload.data)
    assert image.width == WIDTH
    assert (upload.width, upload.height) == image.size
    assert 1000 < image.height < 2500
    assert [c.params["peer_id"] for c in emu.calls_to("photos.getMessagesUploadServer")] == [
        str(ADMIN_CHAT)
    ]


async def test_plain_status_has_no_picture(sandbox: Sandbox) -> None:
    sandbox.say(ADMIN, "/статус", peer_id=ADMIN_CHAT)
    await sandbox.emulator.wait_for_message(ADMIN_CHAT, contains="📊 Приказ № 47")
    assert sandbox.emulator.uploads == []


# -- the daily summary ------------------------------------------------------------------------


@pytest.fixture
async def box(
    tmp_path: Path, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sandbox]:
    monkeypatch.chdir(tmp_path)
    schools, people = district()
    clock = FakeClock(dt.datetime(2023, 10, 17, 9, 0, tzinfo=MSK))
    sandbox = await start_sandbox(
        tmp_path, schools=schools, people=people, admins=[ADMIN], clock=clock, campaign=campaign
    )
    try:
        yield sandbox
    finally:
        await sandbox.close()


async def test_the_daily_summary_carries_the_picture(box: Sandbox) -> None:
    emu = box.emulator
    fired = await box.app.scheduler.tick()
    assert [s.key for s in fired] == ["summary:2023-10-17"]
    await box.settle()
    messages = emu.messages_to(ADMIN_CHAT)
    assert texts.DAILY_SUMMARY_HEAD in messages[0].text
    pictures = with_attachment(box, ADMIN_CHAT, "photo")
    assert len(pictures) == 1
    assert messages.index(pictures[0]) > 0  # after the text
    upload = emu.upload_of(pictures[0])
    assert upload is not None
    assert open_png(upload.data).width == WIDTH
    # The same slot again (a crash before it was recorded): the picture's key is the slot's,
    # and VK drops a repeat of its random_id.
    jobs = await box.app.notifier.summary("summary:2023-10-17")
    await box.app.sender.send_files(jobs)
    await box.settle()
    assert len(with_attachment(box, ADMIN_CHAT, "photo")) == 1


async def test_a_picture_that_fails_leaves_the_summary_alone(box: Sandbox) -> None:
    emu = box.emulator
    emu.fail_next("photos.saveMessagesPhoto", 15)
    fired = await box.app.scheduler.tick()
    assert [s.key for s in fired] == ["summary:2023-10-17"]
    await box.settle()
    assert texts.DAILY_SUMMARY_HEAD in emu.messages_to(ADMIN_CHAT)[0].text
    assert with_attachment(box, ADMIN_CHAT, "photo") == []
    assert await box.app.repos.schedule.finished_slots(box.app.campaign.id) >= {
        "summary:2023-10-17"
    }


# -- the picture ------------------------------------------------------------------------------


def district_status(campaign: Campaign, schools: int) -> DistrictStatus:
    steps = []
    for n, step in enumerate(campaign.steps):
        done = min(schools, n * 7)
        parts = tuple(
            PartProgress(part.title, 40 * (i + 1), 50 * (i + 1))
            for i, part in enumerate(step.parts)
        )
        steps.append(
            StepSummary(
                step=step,
                done=done,
                in_progress=min(schools - done, 3),
                problem=0,
                none=max(schools - done - 3, 0),
                parts=parts if step.kind is StepKind.COUNT else (),
            )
        )
    return DistrictStatus(
        campaign=campaign,
        now=dt.datetime(2023, 10, 17, 7, 30, tzinfo=dt.UTC),
        schools=schools,
        finished=min(schools, 5),
        steps=tuple(steps),
        acknowledged_people=10,
        people=20,
    )


def test_the_picture_is_a_png_1080_wide_and_as_tall_as_its_rows(campaign: Campaign) -> None:
    picture = open_png(render_progress(district_status(campaign, 40)))
    assert picture.width == WIDTH
    assert picture.mode == "RGB"
    small = load_campaign(Path(__file__).parent / "data" / "order_112.toml")
    fewer = open_png(render_progress(district_status(small, 40)))
    assert fewer.width == WIDTH
    assert len(small.steps) < len(campaign.steps)
    assert fewer.height < picture.height
    # A phone shows it whole: VK wants width + height <= 14000 and at most 1:20.
    assert picture.width + picture.height <= 14000


def green_pixels(picture: Image.Image) -> int:
    done = (0x2D, 0xA4, 0x4E)
    return sum(n for n, color in picture.getcolors(maxcolors=1 << 20) or [] if color == done)


def test_the_bars_follow_the_numbers(campaign: Campaign) -> None:
    empty = open_png(render_progress(district_status(campaign, 0)))
    some = open_png(render_progress(district_status(campaign, 40)))
    assert empty.width == some.width == WIDTH
    # With no schools only the legend's square is green; with schools done the bars are.
    assert 0 < green_pixels(empty) < green_pixels(some)


def test_the_picture_draws_the_trend_of_finished_schools_once_there_are_two_summaries(
    campaign: Campaign,
) -> None:
    status = district_status(campaign, 40)
    without = open_png(render_progress(status))
    one_day = open_png(render_progress(replace(status, trend=((dt.date(2023, 10, 17), 3),))))
    rising = ((dt.date(2023, 10, 17), 3), (dt.date(2023, 10, 18), 9), (dt.date(2023, 10, 19), 20))
    trend = open_png(render_progress(replace(status, trend=rising)))
    assert one_day.height == without.height  # one point is no line
    assert trend.height > without.height
    assert green_pixels(trend) > green_pixels(without)
    assert trend.width + trend.height <= 14000
