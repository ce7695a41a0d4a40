"""Reading a request: its JSON body, paging and bounded numbers, each refusal naming the field."""
from __future__ import annotations

import hashlib

from aiohttp import web

from creditstream.api.http.errors import ApiError
from creditstream.schemas.uscc import normalise_uscc

PAGE_LIMIT = 200


async def json_body(request: web.Request) -> dict:
    """The body as a JSON object; 413 beyond the app's size, 400 for anything else."""
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge as exc:  # above the app's client_max_size: not our 500
        raise ApiError(413, "too_large", exc.text or "the body is too large", "body") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "the body must be a JSON object", "body") from None
    except RecursionError:  # json's parser recurses per level: 200,000 '[' exhaust the stack
        raise ApiError(400, "bad_request", "the body nests too deep to be read", "body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object", "body")
    return body


def bounded_int(request: web.Request, name: str, default: int, least: int, most: int) -> int:
    """A whole-number query parameter between ``least`` and ``most``."""
    raw = request.query.get(name, str(default))
    if not raw.isdigit() or not least <= int(raw) <= most:
        raise ApiError(400, "bad_request", f"a whole number from {least} to {most}", name)
    return int(raw)


def page(request: web.Request) -> tuple[int, int]:
    """``limit`` (1-200, default 50) and ``offset`` (default 0)."""
    return bounded_int(request, "limit", 50, 1, PAGE_LIMIT), bounded_int(request, "offset", 0, 0, 10**9)


def path_choice(request: web.Request, name: str, choices, what: str) -> str:
    """A path segment that must be one of ``choices`` (case-insensitive), lower-cased."""
    value = request.match_info[name].lower()
    if value not in choices:
        raise ApiError(400, "bad_request", f"unknown {what} {value!r}; use one of {', '.join(choices)}")
    return value


def query_choice(request: web.Request, name: str, choices) -> str | None:
    """An optional query parameter that must be one of ``choices`` when given (once)."""
    values = request.query.getall(name, [])
    if not values:
        return None
    if len(values) > 1 or values[0] not in choices:
        raise ApiError(400, "bad_request", f"once, one of {', '.join(choices)}", name)
    return values[0]


def uscc_of(request: web.Request) -> str:
    """The path's USCC, normalised (the pipeline has checked it)."""
    return normalise_uscc(request.match_info.get("uscc", ""))


def stable_id(kind: str, uscc: str, request: web.Request) -> str | None:
    """An id derived from the client's Idempotency-Key (None without one): a retry, even after an
    API restart, names the same dispute, application, webhook or report."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        return None
    digest = hashlib.sha256(f"{kind}\x1f{uscc}\x1f{key}".encode()).hexdigest()[:16]
    return f"{kind[0]}-{digest}" if kind != "consent" else f"consent-{digest}"
