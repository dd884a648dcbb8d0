"""VK's upload servers for messages, as the emulator serves them: documents and photos.

Sending a file in a VK message takes three steps, and the emulator answers each with VK's shapes:

1. Ask for an upload server.
   ``docs.getMessagesUploadServer(type=doc, peer_id)`` -> ``{"upload_url": "..."}``; ``type`` is
   one of ``doc``, ``audio_message``, ``graffiti`` (vk-io reference,
   ``Params.DocsGetMessagesUploadServerParams``).
   ``photos.getMessagesUploadServer(peer_id)`` -> ``{"upload_url", "album_id", "group_id"}``
   (vk-io ``Objects.PhotosPhotoUpload``: also ``user_id`` and ``fallback_upload_url``).
2. POST the file as ``multipart/form-data`` to ``upload_url``, no access token: field ``file`` for
   a document -> ``{"file": "<opaque string>"}``; field ``photo`` for a photo ->
   ``{"server": <int>, "photo": "<JSON text>", "hash": "<hex>"}`` (vkbottle's
   ``tools/uploader/doc.py`` and ``photo.py`` post exactly these fields).
3. Save what was uploaded.
   ``docs.save(file, title)`` -> ``{"type": "doc", "doc": {"id", "owner_id", "title", "size",
   "ext", "url", "date", "type"}}`` (krindra/VKKT ``DocsSaveResponse``: ``type`` and one of
   ``doc``, ``graffiti``, ``audio_message``; vk-io ``Objects.DocsDoc`` for the fields).
   ``photos.saveMessagesPhoto(photo, server, hash)`` -> ``[{"id", "album_id", "owner_id",
   "sizes": [{"type", "url", "width", "height"}], "date", "text"}]`` (vk-io
   ``Params.PhotosSaveMessagesPhotoParams``; the sizes as vkbottle/vkbottle#526 shows them).

Then ``messages.send(attachment="doc{owner_id}_{id}")`` or ``photo{owner_id}_{id}``, with
``_{access_key}`` appended when the object carries one (vkbottle's
``BaseUploader.generate_attachment_string``).

Refusals, as VK gives them:

- The upload server answers HTTP 200 with ``{"error": "unknown error"}`` for a document it cannot
  take (VKCOM/vk-android-sdk#350, VKCOM/vk-ios-sdk#425); the emulator answers the same for an
  empty document and for an upload URL it never issued (the exact words for that one are not
  documented).
- A photo that is empty or not an image is not refused by the upload server: it answers with
  ``"photo": "[]"``, and saving then fails with error 100 "photos_list is invalid"
  (VKCOM/vk-java-sdk#42, negezor/vk-io#350).
- ``docs.save`` without a ``file`` from an upload: error 100 "file is undefined"
  (VKCOM/bot-example-php#11).

Everything uploaded is kept in ``uploads`` so that tests can open the bytes the bot sent.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, Final, Literal

from aiohttp import web

__all__ = [
    "MAX_DOC_BYTES",
    "MAX_PHOTO_BYTES",
    "UPLOAD_REFUSED",
    "SavedDoc",
    "SavedPhoto",
    "Upload",
    "UploadServer",
    "image_size",
]

UploadKind = Literal["doc", "photo"]

# The upload server's refusal (VKCOM/vk-android-sdk#350).
UPLOAD_REFUSED: Final = {"error": "unknown error"}
# VK takes documents up to 200 MB and photos up to 50 MB (dev.vk.com, "Загрузка файлов").
MAX_DOC_BYTES: Final = 200 * 1024 * 1024
MAX_PHOTO_BYTES: Final = 50 * 1024 * 1024
# The multipart field each upload server reads.
FIELDS: Final[dict[str, str]] = {"doc": "file", "photo": "photo"}
# A photo's sizes by VK's letter, each the longest side it is cut to (vk.com/dev/photo_sizes).
PHOTO_SIZES: Final = (("s", 75), ("m", 130), ("x", 604), ("y", 807), ("z", 1080), ("w", 2560))
# VK's document types: 1 text, 2 archive, 3 gif, 4 image, 5 audio, 6 video, 7 e-book, 8 other.
DOC_TYPES: Final[dict[str, int]] = {
    "xlsx": 1,
    "xls": 1,
    "csv": 1,
    "docx": 1,
    "pdf": 1,
    "txt": 1,
    "zip": 2,
    "gif": 3,
    "png": 4,
    "jpg": 4,
    "jpeg": 4,
}
# The messages album of a community is a service album, with a negative id.
MESSAGES_ALBUM_ID: Final = -3

_ATTACHMENT = re.compile(r"^(photo|doc)(-?\d+)_(\d+)(?:_([0-9A-Za-z]+))?$")


@dataclass
class Upload:
    """A file the bot posted to an upload server, as that server kept it."""

    kind: UploadKind
    peer_id: int
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    key: str  # what the server answered: a document's `file`, a photo's `photo`
    width: int | None = None  # a photo's, read from the image
    height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class SavedDoc:
    id: int
    owner_id: int
    title: str
    upload: Upload

    @property
    def attachment(self) -> str:
        return f"doc{self.owner_id}_{self.id}"


@dataclass
class SavedPhoto:
    id: int
    owner_id: int
    upload: Upload

    @property
    def attachment(self) -> str:
        return f"photo{self.owner_id}_{self.id}"


@dataclass
class _Issued:
    kind: UploadKind
    peer_id: int


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG (the formats VK takes as photos), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        index = 2
        while index + 9 <= len(data):
            if data[index] != 0xFF:
                return None
            marker = data[index + 1]
            length = int.from_bytes(data[index + 2 : index + 4], "big")
            # Start-of-frame markers carry the size; C4, C8 and CC are other tables.
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return int(width), int(height)
            index += 2 + length
    return None


class UploadServer:
    """The upload servers and the four API methods around them, for one community.

    ``error(code, message)`` makes the exception the emulator answers as a VK error, so this
    module does not import the emulator.
    """

    def __init__(
        self,
        group_id: int,
        base_url: Callable[[], str],
        error: Callable[[int, str], Exception],
    ) -> None:
        self.group_id = group_id
        self._base_url = base_url
        self._error = error
        self.uploads: list[Upload] = []
        self.rejected: list[str] = []  # why each refused upload was refused
        self.docs: dict[str, SavedDoc] = {}  # by attachment string
        self.photos: dict[str, SavedPhoto] = {}
        self._issued: dict[str, _Issued] = {}
        self._files: dict[str, Upload] = {}  # a document's `file` -> its upload
        self._saved_files: dict[str, SavedDoc] = {}
        self._photo_uploads: dict[str, tuple[int, str, Upload]] = {}  # photo -> server, hash
        self._saved_photos: dict[str, SavedPhoto] = {}
        self._doc_ids = itertools.count(671_000_001)
        self._photo_ids = itertools.count(457_239_001)
        self._server_id = 520_236

    @property
    def owner_id(self) -> int:
        # A community's files belong to it: a negative owner id.
        return -self.group_id

    def methods(self) -> dict[str, Callable[[dict[str, str]], Any]]:
        return {
            "docs.getMessagesUploadServer": self._docs_get_messages_upload_server,
            "docs.save": self._docs_save,
            "photos.getMessagesUploadServer": self._photos_get_messages_upload_server,
            "photos.saveMessagesPhoto": self._photos_save_messages_photo,
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/upload/{kind}/{token}", self.handle_upload)

    # ------------------------------------------------------------------------- test hooks

    def find(self, attachment: str | None) -> Upload | None:
        """The upload behind an attachment string of ``messages.send`` (the first one)."""
        if not attachment:
            return None
        first = attachment.split(",")[0].strip()
        match = _ATTACHMENT.match(first)
        if match is None:
            return None
        key = f"{match.group(1)}{match.group(2)}_{match.group(3)}"
        saved = self.docs.get(key) or self.photos.get(key)
        return None if saved is None else saved.upload

    def attachment_problem(self, raw: str) -> str | None:
        """Why ``messages.send`` cannot attach ``raw``, or None.

        Only this community's documents and photos are checked: they must have been saved. VK
        does not document its answer for an unknown one; the emulator refuses it (error 100),
        so that a bot attaching what it never saved fails here rather than silently on VK.
        """
        items = [item.strip() for item in raw.split(",") if item.strip()]
        if len(items) > 10:  # dev.vk.com/method/messages.send: attachment, up to 10 objects
            return "attachment: at most 10 objects"
        for item in items:
            match = _ATTACHMENT.match(item)
            if match is None or int(match.group(2)) != self.owner_id:
                continue
            key = f"{match.group(1)}{match.group(2)}_{match.group(3)}"
            if key not in self.docs and key not in self.photos:
                return f"attachment {item} is not found"
        return None

    # ---------------------------------------------------------------------------- methods

    def _peer(self, params: dict[str, str]) -> int:
        raw = params.get("peer_id", "")
        try:
            return int(raw) if raw else 0
        except ValueError:
            raise self._invalid("peer_id not integer") from None

    def _invalid(self, detail: str) -> Exception:
        return self._error(
            100, f"One of the parameters specified was missing or invalid: {detail}"
        )

    def _issue(self, kind: UploadKind, peer_id: int) -> str:
        token = secrets.token_urlsafe(16)
        self._issued[token] = _Issued(kind, peer_id)
        return f"{self._base_url()}/upload/{kind}/{token}"

    def _docs_get_messages_upload_server(self, params: dict[str, str]) -> Any:
        kind = params.get("type") or "doc"
        if kind not in ("doc", "audio_message", "graffiti"):
            raise self._invalid("type is invalid")
        if kind != "doc":
            # The bot sends documents only; voice messages and graffiti are not emulated.
            raise self._invalid(f"type {kind} is not supported by the emulator")
        return {"upload_url": self._issue("doc", self._peer(params))}

    def _photos_get_messages_upload_server(self, params: dict[str, str]) -> Any:
        return {
            "upload_url": self._issue("photo", self._peer(params)),
            "album_id": MESSAGES_ALBUM_ID,
            "group_id": self.group_id,
        }

    def _docs_save(self, params: dict[str, str]) -> Any:
        file = params.get("file")
        if not file:
            raise self._invalid("file is undefined")
        saved = self._saved_files.get(file)
        if saved is None:
            upload = self._files.get(file)
            if upload is None:
                raise self._invalid("file is invalid")
            title = params.get("title") or upload.filename
            saved = SavedDoc(next(self._doc_ids), self.owner_id, title, upload)
            # Saving the same file again (a retry after a lost answer) gives the same document.
            self._saved_files[file] = saved
            self.docs[saved.attachment] = saved
        ext = PurePosixPath(saved.upload.filename).suffix.lstrip(".").lower()
        return {
            "type": "doc",
            "doc": {
                "id": saved.id,
                "owner_id": saved.owner_id,
                "title": saved.title,
                "size": saved.upload.size,
                "ext": ext,
                "date": int(datetime.now(UTC).timestamp()),
                "type": DOC_TYPES.get(ext, 8),
                "url": f"{self._base_url()}/{saved.attachment}?hash={secrets.token_hex(8)}",
            },
        }

    def _photos_save_messages_photo(self, params: dict[str, str]) -> Any:
        photo = params.get("photo", "")
        uploaded = self._photo_uploads.get(photo)
        if uploaded is None:
            raise self._invalid("photos_list is invalid")
        server, hash_, upload = uploaded
        if params.get("server") != str(server) or params.get("hash") != hash_:
            raise self._invalid("hash is invalid")
        saved = self._saved_photos.get(photo)
        if saved is None:
            saved = SavedPhoto(next(self._photo_ids), self.owner_id, upload)
            self._saved_photos[photo] = saved
            self.photos[saved.attachment] = saved
        return [
            {
                "id": saved.id,
                "album_id": MESSAGES_ALBUM_ID,
                "owner_id": saved.owner_id,
                "sizes": self._sizes(saved),
                "text": "",
                "date": int(datetime.now(UTC).timestamp()),
            }
        ]

    def _sizes(self, saved: SavedPhoto) -> list[dict[str, Any]]:
        width, height = saved.upload.width or 0, saved.upload.height or 0
        longest = max(width, height, 1)
        sizes = []
        for letter, side in PHOTO_SIZES:
            scale = min(1.0, side / longest)
            sizes.append(
                {
                    "type": letter,
                    "url": f"{self._base_url()}/{saved.attachment}?size={letter}",
                    "width": round(width * scale),
                    "height": round(height * scale),
                }
            )
            if side >= longest:
                break
        return sizes

    # ------------------------------------------------------------------------------- HTTP

    def _refuse(self, reason: str) -> web.Response:
        self.rejected.append(reason)
        return web.json_response(UPLOAD_REFUSED)

    async def handle_upload(self, request: web.Request) -> web.Response:
        issued = self._issued.get(request.match_info["token"])
        if issued is None or issued.kind != request.match_info["kind"]:
            return self._refuse("an upload URL the server did not issue")
        try:
            form = await request.post()
        except ValueError:
            return self._refuse("a body that is not multipart/form-data")
        part = form.get(FIELDS[issued.kind])
        if isinstance(part, web.FileField):
            data = part.file.read()
            filename, content_type = part.filename, part.content_type
        else:
            data, filename, content_type = b"", "", ""
        if issued.kind == "doc":
            return self._take_doc(issued, filename, content_type, data)
        return self._take_photo(issued, filename, content_type, data)

    def _take_doc(
        self, issued: _Issued, filename: str, content_type: str, data: bytes
    ) -> web.Response:
        if not data:
            return self._refuse("a document without a `file` or with an empty one")
        if len(data) > MAX_DOC_BYTES:
            return self._refuse("a document over 200 MB")
        key = f"{self.owner_id}|{secrets.token_hex(20)}|{len(data)}"
        upload = Upload("doc", issued.peer_id, filename, content_type, data, key)
        self._files[key] = upload
        self.uploads.append(upload)
        return web.json_response({"file": key})

    def _take_photo(
        self, issued: _Issued, filename: str, content_type: str, data: bytes
    ) -> web.Response:
        hash_ = secrets.token_hex(16)
        size = image_size(data) if len(data) <= MAX_PHOTO_BYTES else None
        if size is None:
            # VK takes the upload and answers an empty photo list; saving it then fails.
            self.rejected.append("a photo that is empty or not a PNG, GIF or JPEG")
            return web.json_response({"server": self._server_id, "photo": "[]", "hash": hash_})
        photo = json.dumps(
            [{"photo": f"{secrets.token_hex(5)}:w", "sizes": [], "kid": secrets.token_hex(16)}],
            separators=(",", ":"),
        )
        upload = Upload(
            "photo", issued.peer_id, filename, content_type, data, photo, size[0], size[1]
        )
        self._photo_uploads[photo] = (self._server_id, hash_, upload)
        self.uploads.append(upload)
        return web.json_response({"server": self._server_id, "photo": photo, "hash": hash_})
