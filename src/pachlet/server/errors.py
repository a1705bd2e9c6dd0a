"""Turning pachlet errors into gRPC status codes, and filling in UNIMPLEMENTED methods by name."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from pachlet.errors import (
    AlreadyExistsError,
    JobFailedError,
    LockTimeoutError,
    NotFoundError,
    PachletError,
    SpecError,
)

log = logging.getLogger("pachlet.server")

AUTH_NOT_ACTIVATED = "the auth service is not activated"
"""pachd's message when auth is off; python-pachyderm maps it to ``AuthServiceNotActivated``."""


class RpcAbort(Exception):
    """Raised inside a handler to end the call with ``code`` and ``details``."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC status code and one-line details for an exception raised by a handler."""
    if isinstance(exc, RpcAbort):
        return exc.code, exc.details
    message = str(exc) or type(exc).__name__
    if isinstance(exc, NotFoundError):
        return grpc.StatusCode.NOT_FOUND, message
    if isinstance(exc, AlreadyExistsError):
        return grpc.StatusCode.ALREADY_EXISTS, message
    if isinstance(exc, SpecError):
        return grpc.StatusCode.INVALID_ARGUMENT, message
    if isinstance(exc, LockTimeoutError):
        return grpc.StatusCode.UNAVAILABLE, message
    if isinstance(exc, JobFailedError | PachletError):
        return grpc.StatusCode.FAILED_PRECONDITION, message
    if isinstance(exc, ValueError | TypeError | KeyError):
        return grpc.StatusCode.INVALID_ARGUMENT, message
    return grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {message}"


def _abort(context: grpc.ServicerContext, method: str, exc: BaseException) -> None:
    code, details = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.exception("%s failed", method)
    else:
        log.info("%s: %s: %s", method, code.name, details)
    context.abort(code, details)


F = TypeVar("F", bound=Callable[..., Any])


def rpc(fn: F) -> F:
    """Decorate a servicer method (unary or server-streaming) so pachlet errors end the call with the
    matching gRPC status instead of an opaque UNKNOWN."""
    name = fn.__name__
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from fn(self, request, context)
            except Exception as exc:  # noqa: BLE001 - every error becomes a status
                _abort(context, name, exc)

        return stream  # type: ignore[return-value]

    @functools.wraps(fn)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:  # noqa: BLE001 - every error becomes a status
            _abort(context, name, exc)

    return unary  # type: ignore[return-value]


def fill_unimplemented(base: type, service: str, message: str | None = None) -> Callable[[type], type]:
    """Class decorator: every RPC of the generated ``base`` servicer that the class does not define
    ends with UNIMPLEMENTED naming the method (``pachlet serve does not implement pfs_v2.API/DiffFile``),
    or with ``message`` (e.g. pachd's "auth service is not activated")."""

    def make(method: str) -> Callable[..., Any]:
        details = message or f"pachlet serve does not implement {service}/{method}"

        def unimplemented(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            log.info("%s/%s: UNIMPLEMENTED", service, method)
            context.abort(grpc.StatusCode.UNIMPLEMENTED, details)

        unimplemented.__name__ = method
        return unimplemented

    def decorate(cls: type) -> type:
        for method, value in vars(base).items():
            if method.startswith("_") or not callable(value):
                continue
            if not any(method in vars(k) for k in cls.__mro__ if k is not base):  # mixins count
                setattr(cls, method, make(method))
        return cls

    return decorate
