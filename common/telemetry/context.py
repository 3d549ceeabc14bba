"""What the work in hand belongs to (request id, model), for log lines in any thread or process."""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token

_request_id: ContextVar[str | None] = ContextVar("sids_request_id", default=None)
_model: ContextVar[str | None] = ContextVar("sids_model", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def current_model() -> str | None:
    return _model.get()


@contextlib.contextmanager
def bind(request_id: str | None = None, model: str | None = None) -> Iterator[None]:
    """Within the block, log lines carry this request id and model (those given; None keeps the current)."""
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    if request_id is not None:
        tokens.append((_request_id, _request_id.set(request_id)))
    if model is not None:
        tokens.append((_model, _model.set(model)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind_for_request(request_id: str | None = None, model: str | None = None) -> None:
    """Bind for the rest of the current task (an HTTP request's): it ends with the request."""
    if request_id is not None:
        _request_id.set(request_id)
    if model is not None:
        _model.set(model)
