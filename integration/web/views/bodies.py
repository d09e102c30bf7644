"""Request bodies read as they arrive, never past a limit.

`request.get_data()` reads a body whole before anything can look at its size, and a body sent with
`Transfer-Encoding: chunked` declares no `Content-Length` to check first: under gunicorn (which
terminates chunked input, `wsgi.input_terminated`) Werkzeug bounds such a stream only by
`MAX_CONTENT_LENGTH`, which is set for CSV uploads (STOREPULSE_MAX_UPLOAD_MB, 2 GB by default).
Worse, Werkzeug 3.1's bounded stream then ends a chunked body silently at that limit (its
`readall` stops there without raising), so a view would see a cut body instead of a 413.
`read_body` applies an endpoint's own limit as the bytes arrive: a declared length over it is
refused before reading, a chunked body once one byte past it has arrived. Either way the answer is
413 and nothing is stored; at most `limit_bytes + 1` bytes are ever held.
"""

from __future__ import annotations

import io
from typing import IO

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

CHUNK_BYTES = 64 * 1024
MEBIBYTE = 1024 * 1024


def read_body(limit_bytes: int) -> bytes:
    """Return the request's body; answer 413 if it is longer than `limit_bytes`."""
    return _read(request.stream, limit_bytes)


def buffer_body(limit_bytes: int) -> None:
    """Read the body as `read_body` does and hand it to the rest of the request as a plain body
    of known length, so that parsers later in the request (JSON, forms) read exactly it."""
    body = _read(
        get_input_stream(request.environ, max_content_length=request.max_content_length), limit_bytes
    )
    request.environ["wsgi.input"] = io.BytesIO(body)
    request.environ["CONTENT_LENGTH"] = str(len(body))
    request.environ.pop("HTTP_TRANSFER_ENCODING", None)


def _read(stream: IO[bytes], limit_bytes: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit_bytes:
        raise RequestEntityTooLarge(_too_large(limit_bytes))
    body = bytearray()
    while True:
        chunk = stream.read(min(CHUNK_BYTES, limit_bytes + 1 - len(body)))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit_bytes:
            # The rest is never read: the server closes the connection after the answer.
            raise RequestEntityTooLarge(_too_large(limit_bytes))


def _too_large(limit_bytes: int) -> str:
    size = f"{limit_bytes // MEBIBYTE} MiB" if limit_bytes % MEBIBYTE == 0 else f"{limit_bytes} bytes"
    return f"the body is larger than this endpoint's limit of {size}"
