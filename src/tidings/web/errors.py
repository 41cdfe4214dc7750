"""Errors as JSON: ``{"error": "<what kind>", "detail": "<what to change>"}`` with the right status.

Every domain refusal maps to one status here, so no route needs its own ``try``:

* 400 a body that is not JSON at all; 401 nobody signed in; 403 not allowed (not an admin,
  signup closed, CSRF token missing); 404 no such thing *of yours*; 409 it already exists or a
  limit is reached; 422 input Tidings cannot use (a bad query names its column); 429 too many
  attempts (with ``Retry-After``).
* Anything unexpected is logged and answered 500 with no internals in the body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tidings.accounts import AccountConflict, AccountError, NotFound
from tidings.alerts.query import QueryError
from tidings.alerts.store import AlertLimitError, AlertNotFound

log = logging.getLogger("tidings.web")


class ApiError(Exception):
    """A refusal with its status, a short kind (``error``) and a message for people (``detail``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        error: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.error = error or HTTPStatus(status).phrase.lower()
        self.headers = dict(headers or {})


def error_response(
    status: int,
    error: str,
    detail: Any,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"error": error, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.detail, exc.headers)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase.lower()
    return error_response(exc.status_code, phrase, exc.detail, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_problem(error) for error in exc.errors()]
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        return error_response(400, "invalid JSON", problems)
    return error_response(422, "invalid request", problems)


def _problem(error: Mapping[str, Any]) -> dict[str, Any]:
    """One validation problem: where (``body.query``) and what."""
    where = ".".join(str(part) for part in error.get("loc", ()))
    return {"field": where, "message": str(error.get("msg", "invalid"))}


async def _query_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueryError)
    return error_response(422, "invalid query", str(exc), column=exc.column)


def _status(status: int, error: str, fixed: str | None = None) -> Any:
    """A handler answering ``status``; the exception's message is the detail unless ``fixed``."""

    async def handler(_request: Request, exc: Exception) -> JSONResponse:
        detail = fixed or (str(exc.args[0]) if exc.args else error)
        return error_response(status, error, detail)

    return handler


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", extra={"path": request.url.path}, exc_info=exc)
    return error_response(500, "internal error", "something went wrong on the server")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(QueryError, _query_error)
    app.add_exception_handler(AccountConflict, _status(409, "conflict"))
    app.add_exception_handler(AccountError, _status(422, "invalid input"))
    app.add_exception_handler(AlertLimitError, _status(409, "limit reached"))
    app.add_exception_handler(NotFound, _status(404, "not found"))
    app.add_exception_handler(AlertNotFound, _status(404, "not found"))
    app.add_exception_handler(
        DataError, _status(422, "invalid input", "a value is out of range or cannot be stored")
    )
    app.add_exception_handler(Exception, _unexpected)
