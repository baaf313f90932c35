"""Streaming ``multipart/form-data``: parts reach the route chunk by chunk as the body arrives, never buffered whole.

Starlette's form parser spools every file to a temporary file before the route runs, with no size limit, so a huge
upload would fill the disk before anything could refuse it. Here the route sees each part's headers, then its data,
and can stop reading (and answer 413) the moment a limit is passed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import InvalidRequest


@dataclass
class PartStart:
    """A part's headers are complete: its form field name, and the filename and type a file part carries."""

    name: str
    filename: str | None
    content_type: str


@dataclass
class PartData:
    """A chunk of the current part's body."""

    data: bytes


@dataclass
class PartEnd:
    """The current part is complete."""


PartEvent = PartStart | PartData | PartEnd


@dataclass
class _Collector:
    """The parser's callbacks; events pile up here between two feeds of the body."""

    events: list[PartEvent] = field(default_factory=list[PartEvent])
    header_name: bytes = b""
    header_value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict[bytes, bytes])

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise InvalidRequest("a multipart part has no name in its Content-Disposition header")
        filename = options.get(b"filename")
        self.events.append(
            PartStart(
                name=_text(options[b"name"]),
                filename=None if filename is None else _text(filename),
                content_type=_text(self.headers.get(b"content-type", b"application/octet-stream")).strip(),
            )
        )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(PartData(bytes(data[start:end])))

    def on_part_end(self) -> None:
        self.events.append(PartEnd())


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def is_multipart(request: Request) -> bool:
    """Whether the request body is ``multipart/form-data``."""
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def parts(request: Request) -> AsyncIterator[PartEvent]:
    """The body's events in order: ``PartStart``, its ``PartData`` chunks, ``PartEnd``, then the next part.

    Raises:
        InvalidRequest: when the body is not well-formed multipart.
    """
    if not is_multipart(request):
        raise InvalidRequest("this endpoint takes a multipart/form-data body")
    _, params = parse_options_header(request.headers["content-type"])
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidRequest("the multipart body has no boundary")
    collector = _Collector()
    callbacks = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # pyright: ignore[reportArgumentType] - callbacks match by name
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            for event in collector.events:
                yield event
            collector.events.clear()
        parser.finalize()
    except MultipartParseError as err:
        raise InvalidRequest(f"malformed multipart body: {err}") from None
    for event in collector.events:
        yield event


def form_body(properties: dict[str, dict[str, object]], required: list[str]) -> dict[str, object]:
    """``openapi_extra`` documenting a multipart body the route streams itself (FastAPI cannot see it)."""
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


BINARY: dict[str, object] = {"type": "string", "format": "binary"}
# Responses whose body is the stored bytes, of whatever media type they were uploaded with.
BYTES_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"description": "The bytes as stored.", "content": {"*/*": {"schema": BINARY}}}
}
