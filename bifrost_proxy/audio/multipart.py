"""The multipart/form-data body of an upstream audio upload, built afresh for every attempt.

Adapters call ``form_factory(fields, upload)`` and put the result in ``UpstreamRequest.body``; dispatch
calls it once per attempt (a form's file part can be read only once). The file part streams the spooled
upload and declares its size, so the upstream gets a ``Content-Length`` rather than a chunked body.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from aiohttp import MultipartWriter, hdrs
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload, StringPayload

from bifrost_proxy.providers.base import Upload

Fields = Iterable[tuple[str, str]]


class UploadPayload(Payload):
    """The spooled upload as an aiohttp payload of known size, read from its first byte on each write."""

    _autoclose = True  # the spool belongs to the endpoint, which closes it when the request is done

    def __init__(self, upload: Upload) -> None:
        super().__init__(upload, content_type=upload.content_type, filename=upload.filename)
        self._size = upload.size

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("an audio upload is binary")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        remaining = content_length
        async for chunk in self._value.open():
            if remaining is not None:
                chunk = chunk[:remaining]
                remaining -= len(chunk)
            if chunk:
                await writer.write(chunk)
            if remaining is not None and remaining <= 0:
                break


def build_form(fields: Fields, upload: Upload, file_field: str = "file") -> MultipartWriter:
    """Text fields in order (repeated names allowed, e.g. ``timestamp_granularities[]``), then the file."""
    form = MultipartWriter("form-data")
    for name, value in fields:
        part = StringPayload(value)
        # as browsers and httpx send form fields: no Content-Type on a text part
        part.headers.popall(hdrs.CONTENT_TYPE, None)
        part.set_content_disposition("form-data", quote_fields=False, name=name)
        form.append_payload(part)
    file_part = UploadPayload(upload)
    file_part.set_content_disposition("form-data", quote_fields=False, name=file_field, filename=upload.filename)
    form.append_payload(file_part)
    return form


def form_factory(fields: Fields, upload: Upload, file_field: str = "file") -> Callable[[], Any]:
    """A zero-argument callable returning a new form each time (``UpstreamRequest.body`` for uploads)."""
    frozen = tuple(fields)
    return lambda: build_form(frozen, upload, file_field)
