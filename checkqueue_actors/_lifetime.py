"""The ``async with`` half of every long-lived object, written once.

``run(task_status=...)`` is the true owner of an object's tasks;
``async with obj`` opens a nursery, ``await nursery.start(obj.run)``, and calls
``stop()`` on the way out. A single exception escaping the nursery is
unwrapped so callers never see a one-element ``ExceptionGroup`` (trio-websocket's
``open_websocket`` does the same), with its original ``__context__`` restored.
"""

from __future__ import annotations

from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol, Self

import trio

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

__all__ = ["AsyncLifetimeMixin", "single_exceptions_unwrapped", "unwrap_single"]


def unwrap_single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The only leaf exception of a group (looking through nested groups), else None."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        inner: tuple[BaseException, ...] = exc.exceptions  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if len(inner) != 1:
            return None
        exc = inner[0]
    return exc


@contextmanager
def single_exceptions_unwrapped() -> Generator[None, None, None]:
    """Let a group holding one exception out as that exception, context restored.

    Public context managers built on a nursery use it so that callers see
    ``KeyError`` rather than ``ExceptionGroup([KeyError])``; several real
    failures still leave as a group.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        exc = unwrap_single(group)
        if exc is None:
            raise
        context = exc.__context__
        try:
            raise exc  # re-raised as itself, not chained to the group
        finally:
            exc.__context__ = context
            del exc, group


class _Runnable(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...
    async def stop(self) -> None: ...


class AsyncLifetimeMixin:
    """Gives a class with ``run`` and ``stop`` an ``async with`` form."""

    _lifetime_cm: AbstractAsyncContextManager[Any] | None = None

    @asynccontextmanager
    async def _lifetime(self) -> AsyncGenerator[Self, None]:
        this: _Runnable = self  # type: ignore[assignment]  # subclasses define run and stop
        with single_exceptions_unwrapped():
            async with trio.open_nursery() as nursery:
                await nursery.start(this.run)
                try:
                    yield self
                finally:
                    await this.stop()

    def _start_refusal(self) -> str | None:
        """Why ``async with`` cannot start this object now (``None`` when it can)."""
        return None

    async def __aenter__(self) -> Self:
        refusal = self._start_refusal()
        if refusal is not None:
            raise RuntimeError(refusal)
        if self._lifetime_cm is not None:
            msg = f"this {type(self).__qualname__} is already running"
            raise RuntimeError(msg)
        cm = self._lifetime()
        self._lifetime_cm = cm
        try:
            return await cm.__aenter__()
        except BaseException:
            self._lifetime_cm = None
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        cm = self._lifetime_cm
        assert cm is not None
        try:
            return await cm.__aexit__(exc_type, exc_value, traceback)
        finally:
            self._lifetime_cm = None
