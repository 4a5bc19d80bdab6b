"""POST /v1/audio/transcriptions and /v1/audio/translations: audio uploads, transcribed (and streamed).

The multipart body is read part by part: the file is spooled as it arrives (``audio/upload.py``) under
``client.max_upload_size_mb`` (413 before any provider is called), its first bytes must be audio
(MP3, WAV, M4A/MP4, OGG, WEBM, FLAC: 400 otherwise), and the other fields are checked and passed on as
sent. ``stream=true`` answers SSE ``transcript.text.delta`` events, ``transcript.text.done``, ``[DONE]``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bifrost_proxy.appkeys import OUTCOME, RUNTIME
from bifrost_proxy.audio.formats import TIMESTAMP_GRANULARITIES, TRANSCRIPT_MEDIA_TYPES
from bifrost_proxy.audio.sniff import AUDIO_TYPES, sniff
from bifrost_proxy.audio.upload import Spool, spool_from
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call, Endpoint, Upload
from bifrost_proxy.routing.dispatch import dispatch
from bifrost_proxy.routing.outcome import Outcome
from bifrost_proxy.routing.plan import plan

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 64
LIST_FIELDS = ("fallbacks",)  # repeated without brackets, still a list
UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f"\\/]')
ACCEPTED = "MP3, WAV, M4A/MP4, OGG, WEBM or FLAC"


@dataclass(slots=True)
class Form:
    fields: dict[str, Any] = field(default_factory=dict)
    spool: Spool | None = None
    filename: str = ""

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


async def transcriptions(request: web.Request) -> web.StreamResponse:
    return await _serve(request, Endpoint.TRANSCRIPTION)


async def translations(request: web.Request) -> web.StreamResponse:
    return await _serve(request, Endpoint.TRANSLATION)


async def _serve(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    runtime = request.app[RUNTIME].current
    form = await read_form(request, runtime.config.client.max_upload_bytes)
    try:
        stream, upload = validate_form(form, endpoint)
        targets = plan(runtime, form.fields)
        outcome = Outcome()
        request[OUTCOME] = outcome
        call = Call(endpoint=endpoint, model=targets[0].model, body=form.fields, stream=stream, upload=upload)
        return await dispatch(request, call, targets, outcome)
    finally:
        form.close()


async def read_form(request: web.Request, max_upload: int) -> Form:
    """The multipart fields, with the file spooled; 400 for a body that is not a form, 413 for a big file."""
    if not request.content_type.startswith("multipart/form-data"):
        raise BadRequest("send the audio as multipart/form-data with a 'file' and a 'model' field", param="file")
    form = Form()
    try:
        reader = await request.multipart()
        count = 0
        while (part := await reader.next()) is not None:
            count += 1
            if count > MAX_FIELDS or not isinstance(part, BodyPartReader):
                raise BadRequest(f"the form must be at most {MAX_FIELDS} plain fields and one file")
            name = part.name or ""
            if name == "file":
                if form.spool is not None:
                    raise BadRequest("send exactly one 'file'", param="file")
                form.filename = part.filename or ""
                form.spool = await spool_from(part.read_chunk, max_upload)
            else:
                _add_field(form.fields, name, await _read_text(part, name))
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        form.close()
        # aiohttp's multipart reader says what is wrong in plain words (no header values, no content)
        raise BadRequest(f"the multipart body is malformed: {str(exc)[:200]}") from None
    except BaseException:
        form.close()
        raise
    return form


async def _read_text(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise BadRequest(f"the form field '{name[:100]}' is longer than {MAX_FIELD_BYTES} bytes", param=name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"the form field '{name[:100]}' is not UTF-8 text", param=name) from None


def _add_field(fields: dict[str, Any], name: str, value: str) -> None:
    if not name:
        raise BadRequest("every form field needs a name")
    if name == "timestamp_granularities":  # some clients leave out the brackets
        name = "timestamp_granularities[]"
    if name.endswith("[]") or name in LIST_FIELDS:
        fields.setdefault(name, []).append(value)
    elif name in fields:
        raise BadRequest(f"the form field '{name[:100]}' was sent twice", param=name)
    else:
        fields[name] = value


def validate_form(form: Form, endpoint: Endpoint) -> tuple[bool, Upload]:
    """Check the fields of OpenAI's create-transcription (translation) request; the stream flag and the upload."""
    fields = form.fields
    spool = form.spool
    if spool is None:
        raise BadRequest("'file' is required: the audio to transcribe", param="file")
    if spool.size == 0:
        raise BadRequest("'file' is empty", param="file")
    kind = sniff(spool.head)
    if kind is None:
        raise BadRequest(f"'file' is not audio in a format the gateway accepts ({ACCEPTED})", param="file",
                         code="unsupported_audio_format")
    stream = fields.pop("stream", "false").strip().lower()
    if stream not in ("true", "false"):
        raise BadRequest("'stream' must be true or false", param="stream")
    fmt = fields.get("response_format")
    if fmt is not None and fmt not in TRANSCRIPT_MEDIA_TYPES:
        raise BadRequest(f"'response_format' must be one of {', '.join(sorted(TRANSCRIPT_MEDIA_TYPES))}",
                         param="response_format", code="unsupported_response_format")
    if "temperature" in fields and not _is_temperature(fields["temperature"]):
        raise BadRequest("'temperature' must be a number from 0", param="temperature")
    for value in fields.get("timestamp_granularities[]", ()):
        if value not in TIMESTAMP_GRANULARITIES:
            raise BadRequest("'timestamp_granularities[]' values must be word or segment",
                             param="timestamp_granularities[]")
    if endpoint is Endpoint.TRANSLATION and "language" in fields:
        raise BadRequest("translations take no 'language': the answer is always English", param="language")
    extensions, media_type = AUDIO_TYPES[kind]
    upload = Upload(filename=upload_filename(form.filename, extensions), content_type=media_type,
                    size=spool.size, open=spool.open)
    return stream == "true", upload


def _is_temperature(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number) and number >= 0


def upload_filename(name: str, extensions: tuple[str, ...]) -> str:
    """The client's file name, made safe for a header, ending in an extension that names what the bytes are
    (providers pick their decoder by it): ``talk.mp3`` stays, ``blob`` becomes ``blob.mp3``."""
    name = UNSAFE_FILENAME.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()[:200] or "audio"
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext.lower() in extensions:
        return name
    return f"{name}.{extensions[0]}"
