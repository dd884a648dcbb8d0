"""The emulator's upload servers: documents and photos in messages, with VK's shapes.

Each test talks plain HTTP to the emulator, as a client of VK would; the shapes and where they
come from are in `bot/vk_emulator_uploads.py`.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from PIL import Image

from bot.vk_emulator import CHAT_PEER_OFFSET, VKEmulator
from bot.vk_emulator_uploads import UPLOAD_REFUSED, image_size

TOKEN = "upload-test-token"
GROUP_ID = 222_333_444
CHAT = CHAT_PEER_OFFSET + 7
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
async def emulator() -> AsyncIterator[VKEmulator]:
    async with VKEmulator(TOKEN, GROUP_ID, max_wait=1.0) as emu:
        emu.add_chat(CHAT, [1001])
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession, emulator: VKEmulator, method: str, **params: Any
) -> dict[str, Any]:
    data = {"access_token": TOKEN, "v": "5.199", **{k: str(v) for k, v in params.items()}}
    async with session.post(emulator.api_url + method, data=data) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def upload(
    session: aiohttp.ClientSession,
    url: str,
    field: str,
    data: bytes,
    filename: str = "report.xlsx",
    content_type: str = XLSX,
) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field(field, io.BytesIO(data), filename=filename, content_type=content_type)
    async with session.post(url, data=form) as response:
        assert response.status == 200  # VK's upload servers refuse with 200 and a JSON body
        body: dict[str, Any] = await response.json()
        return body


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "#2DA44E").save(out, format="PNG")
    return out.getvalue()


async def doc_server(session: aiohttp.ClientSession, emulator: VKEmulator) -> str:
    body = await call(session, emulator, "docs.getMessagesUploadServer", type="doc", peer_id=CHAT)
    url: str = body["response"]["upload_url"]
    return url


async def photo_server(session: aiohttp.ClientSession, emulator: VKEmulator) -> dict[str, Any]:
    body = await call(session, emulator, "photos.getMessagesUploadServer", peer_id=CHAT)
    server: dict[str, Any] = body["response"]
    return server


# -- documents ------------------------------------------------------------------------------


async def test_document_upload_save_and_send_with_vk_shapes(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    url = await doc_server(session, emulator)
    parts = urlsplit(url)
    assert parts.scheme == "http"
    assert parts.hostname == "127.0.0.1"  # on loopback, beside the API
    assert TOKEN not in url  # an upload URL is signed on its own, never with the token

    content = b"PK\x03\x04 not really a workbook"
    uploaded = await upload(session, url, "file", content, "47_2023-10-17_1030.xlsx")
    assert set(uploaded) == {"file"}
    assert isinstance(uploaded["file"], str)
    assert uploaded["file"]

    saved = await call(
        session, emulator, "docs.save", file=uploaded["file"], title="Отчет_приказ_47.xlsx"
    )
    answer = saved["response"]
    assert answer["type"] == "doc"
    doc = answer["doc"]
    assert {"id", "owner_id", "title", "size", "ext", "url", "date", "type"} <= set(doc)
    assert doc["owner_id"] == -GROUP_ID  # a community's files are its own
    assert doc["title"] == "Отчет_приказ_47.xlsx"
    assert doc["size"] == len(content)
    assert doc["ext"] == "xlsx"
    assert doc["type"] == 1  # VK's "text documents"

    attachment = f"doc{doc['owner_id']}_{doc['id']}"
    sent = await call(
        session,
        emulator,
        "messages.send",
        peer_id=CHAT,
        random_id=5,
        message="Отчёт",
        attachment=attachment,
    )
    assert sent["response"] == 0  # in a chat a community's message id is 0
    message = emulator.messages_to(CHAT)[-1]
    assert message.attachment == attachment
    stored = emulator.upload_of(message)
    assert stored is not None
    assert stored.data == content
    assert stored.kind == "doc"
    assert stored.peer_id == CHAT
    assert stored.filename == "47_2023-10-17_1030.xlsx"
    assert stored.content_type == XLSX
    assert emulator.uploads == [stored]
    assert emulator.upload_server.docs[attachment].title == "Отчет_приказ_47.xlsx"


async def test_saving_the_same_file_twice_gives_the_same_document(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    url = await doc_server(session, emulator)
    uploaded = await upload(session, url, "file", b"data")
    first = await call(session, emulator, "docs.save", file=uploaded["file"], title="a.xlsx")
    again = await call(session, emulator, "docs.save", file=uploaded["file"], title="a.xlsx")
    assert first["response"]["doc"]["id"] == again["response"]["doc"]["id"]


@pytest.mark.parametrize(
    ("field", "data"),
    [("file", b""), ("document", b"data")],
    ids=["empty file", "wrong field"],
)
async def test_an_empty_or_missing_document_is_refused(
    emulator: VKEmulator, session: aiohttp.ClientSession, field: str, data: bytes
) -> None:
    url = await doc_server(session, emulator)
    assert await upload(session, url, field, data) == UPLOAD_REFUSED
    assert emulator.uploads == []
    assert emulator.upload_server.rejected


async def test_an_upload_url_the_server_did_not_issue_is_refused(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    url = await doc_server(session, emulator)
    forged = url.rsplit("/", 1)[0] + "/not-a-token"
    assert await upload(session, forged, "file", b"data") == UPLOAD_REFUSED
    # A photo server's URL does not take documents either.
    photo_url = (await photo_server(session, emulator))["upload_url"]
    as_doc = photo_url.replace("/upload/photo/", "/upload/doc/")
    assert await upload(session, as_doc, "file", b"data") == UPLOAD_REFUSED
    assert emulator.uploads == []


async def test_docs_save_without_or_with_an_unknown_file_is_error_100(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    missing = await call(session, emulator, "docs.save", title="a.xlsx")
    assert missing["error"]["error_code"] == 100
    assert "file is undefined" in missing["error"]["error_msg"]
    unknown = await call(session, emulator, "docs.save", file="-1|nothing|0")
    assert unknown["error"]["error_code"] == 100


async def test_docs_upload_server_takes_only_known_types(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    default = await call(session, emulator, "docs.getMessagesUploadServer", peer_id=CHAT)
    assert set(default["response"]) == {"upload_url"}  # type defaults to doc
    wrong = await call(
        session, emulator, "docs.getMessagesUploadServer", type="spreadsheet", peer_id=CHAT
    )
    assert wrong["error"]["error_code"] == 100


# -- photos ---------------------------------------------------------------------------------


async def test_photo_upload_save_and_send_with_vk_shapes(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await photo_server(session, emulator)
    assert set(server) == {"upload_url", "album_id", "group_id"}
    assert server["group_id"] == GROUP_ID
    assert urlsplit(server["upload_url"]).hostname == "127.0.0.1"

    picture = png(1080, 1400)
    uploaded = await upload(
        session, server["upload_url"], "photo", picture, "chart.png", "image/png"
    )
    assert set(uploaded) == {"server", "photo", "hash"}
    assert isinstance(uploaded["server"], int)
    assert json.loads(uploaded["photo"])  # a JSON text with one photo in it

    saved = await call(
        session,
        emulator,
        "photos.saveMessagesPhoto",
        photo=uploaded["photo"],
        server=uploaded["server"],
        hash=uploaded["hash"],
    )
    photos = saved["response"]
    assert isinstance(photos, list)
    assert len(photos) == 1
    photo = photos[0]
    assert {"id", "owner_id", "album_id", "sizes", "date", "text"} <= set(photo)
    assert photo["owner_id"] == -GROUP_ID
    sizes = photo["sizes"]
    assert all({"type", "url", "width", "height"} <= set(size) for size in sizes)
    assert (sizes[-1]["width"], sizes[-1]["height"]) == (1080, 1400)
    assert sizes[0]["type"] == "s"
    assert max(sizes[0]["width"], sizes[0]["height"]) == 75

    attachment = f"photo{photo['owner_id']}_{photo['id']}"
    await call(
        session,
        emulator,
        "messages.send",
        peer_id=CHAT,
        random_id=9,
        message="",
        attachment=attachment,
    )
    message = emulator.messages_to(CHAT)[-1]
    assert message.text == ""  # an attachment alone is a message
    stored = emulator.upload_of(message)
    assert stored is not None
    assert stored.kind == "photo"
    assert stored.data == picture
    assert (stored.width, stored.height) == (1080, 1400)


@pytest.mark.parametrize("data", [b"", b"not a picture"], ids=["empty", "not an image"])
async def test_a_photo_that_is_no_picture_saves_to_error_100(
    emulator: VKEmulator, session: aiohttp.ClientSession, data: bytes
) -> None:
    server = await photo_server(session, emulator)
    uploaded = await upload(session, server["upload_url"], "photo", data, "x.png", "image/png")
    assert uploaded["photo"] == "[]"  # VK takes the upload and finds no photo in it
    saved = await call(
        session,
        emulator,
        "photos.saveMessagesPhoto",
        photo=uploaded["photo"],
        server=uploaded["server"],
        hash=uploaded["hash"],
    )
    assert saved["error"]["error_code"] == 100
    assert "photos_list is invalid" in saved["error"]["error_msg"]
    assert emulator.uploads == []


async def test_a_photo_saved_with_a_wrong_hash_is_error_100(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await photo_server(session, emulator)
    uploaded = await upload(session, server["upload_url"], "photo", png(10, 10), "a.png")
    saved = await call(
        session,
        emulator,
        "photos.saveMessagesPhoto",
        photo=uploaded["photo"],
        server=uploaded["server"],
        hash="0" * 32,
    )
    assert saved["error"]["error_code"] == 100


async def test_a_forged_photo_upload_url_is_refused(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    server = await photo_server(session, emulator)
    forged = server["upload_url"].rsplit("/", 1)[0] + "/forged"
    assert await upload(session, forged, "photo", png(10, 10), "a.png") == UPLOAD_REFUSED


# -- attachments in messages.send -------------------------------------------------------------


async def test_send_refuses_this_communitys_file_that_was_never_saved(
    emulator: VKEmulator, session: aiohttp.ClientSession
) -> None:
    unknown = await call(
        session,
        emulator,
        "messages.send",
        peer_id=CHAT,
        random_id=1,
        message="x",
        attachment=f"doc-{GROUP_ID}_1",
    )
    assert unknown["error"]["error_code"] == 100
    # Someone else's public file is not the emulator's to check.
    foreign = await call(
        session,
        emulator,
        "messages.send",
        peer_id=CHAT,
        random_id=2,
        message="x",
        attachment="photo1_456239017",
    )
    assert "response" in foreign
    assert emulator.messages_to(CHAT)[-1].attachment == "photo1_456239017"


def test_image_size_reads_png_gif_and_jpeg_headers() -> None:
    assert image_size(png(321, 123)) == (321, 123)
    for fmt in ("GIF", "JPEG"):
        out = io.BytesIO()
        Image.new("RGB", (64, 48), "white").save(out, format=fmt)
        assert image_size(out.getvalue()) == (64, 48)
    assert image_size(b"") is None
    assert image_size(b"\xff\xd8\x00garbage") is None
