"""Guards in front of the routes: the body-size limit (413) and the API key (401)."""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
_bearer = HTTPBearer(auto_error=False)


async def require_api_key(
    request: Request,
    key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """Refuse the request (401) unless it carries the API key, when one is configured.

    The key may come as `X-API-Key: KEY` or `Authorization: Bearer KEY`.
    """
    expected: str | None = request.app.state.api_key
    if expected is None:
        return
    given = key or (bearer.credentials if bearer else None)
    # compare_digest: the time taken does not reveal how much of the key was right.
    if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail=f"missing or wrong API key: send it as '{API_KEY_HEADER}: KEY' or "
            "'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )


class BodyLimitMiddleware:
    """ASGI middleware answering 413 to bodies over `max_bytes`.

    A declared Content-Length is checked before anything is read; a chunked body is read up to
    the limit and then handed on, so the app never holds more than `max_bytes`.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        detail = (
            f"request body larger than {self.max_bytes} bytes; send fewer inputs per request, "
            "or start the server with a larger --max-body-bytes"
        )
        payload = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    # The rest of the body is not read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
