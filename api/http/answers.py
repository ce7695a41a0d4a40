"""One JSON encoder for every answer: UTF-8 (Chinese as itself, not ``\\u`` escapes), compact, with
``charset=utf-8`` in the Content-Type; and ``X-Request-Id`` on every answer (the audited routes
set the id of their audit row; any other answer gets a fresh one)."""
from __future__ import annotations

import functools
import json
import uuid

from aiohttp import web

JSON_TYPE = "application/json; charset=utf-8"
REQUEST_ID = "X-Request-Id"
dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def json_answer(body, status: int = 200, headers: dict | None = None) -> web.Response:
    """``body`` as the API's JSON; bytes are taken as JSON already encoded."""
    data = body if isinstance(body, bytes) else dumps(body).encode()
    return web.Response(body=data, status=status, headers={"Content-Type": JSON_TYPE, **(headers or {})})


@web.middleware
async def request_ids(request: web.Request, handler):
    """Every answer, refusals raised as HTTP exceptions included, carries X-Request-Id."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.setdefault(REQUEST_ID, uuid.uuid4().hex)
        raise
    if REQUEST_ID not in response.headers:
        response.headers[REQUEST_ID] = uuid.uuid4().hex
    return response
