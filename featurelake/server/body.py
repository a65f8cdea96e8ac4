"""Request bodies read with a size limit (``featurelake serve --max-request-bytes``), shared by
``POST /get-online-features`` and ``POST /push``: a body over the limit is refused with 413
before it is parsed, whether it declares its length or streams it (chunked)."""

from __future__ import annotations

from fastapi import Request

LIMIT_SETTING = "featurelake serve --max-request-bytes"


class BodyTooLarge(Exception):
    """The body is larger than the limit.

    Attributes:
        size: the bytes declared or read so far (more than ``limit``).
        limit: the limit in bytes.
    """

    def __init__(self, size: int, limit: int):
        super().__init__(size, limit)
        self.size = size
        self.limit = limit

    def message(self, fix: str) -> str:
        """The 413 text: the size, the limit, the setting that raises it and ``fix``."""
        return (
            f"request body of {self.size} bytes exceeds the limit of {self.limit} bytes "
            f"({LIMIT_SETTING}); {fix}"
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refusing it as soon as it is known to exceed ``limit`` bytes.

    Raises:
        BodyTooLarge: the declared Content-Length or the bytes received exceed ``limit``.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared), limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(len(body), limit)
    return bytes(body)
