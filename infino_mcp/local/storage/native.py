"""Every call into the embedded engine raises the audit event ``infino.engine`` (its argument: the method).

The engine reads and writes its files in native code, which audit hooks do not see; this event shows
where the engine is entered from instead, so a test can prove no engine call runs on the event loop
(``Engine``'s async methods run them on worker threads). Without a hook installed an audit event costs
next to nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

ENGINE_EVENT = "infino.engine"


def audit_engine(method: str) -> None:
    sys.audit(ENGINE_EVENT, method)


class Native:
    """The engine connection or a table handle, each method call announced by ``audit_engine`` first."""

    __slots__ = ("_target",)

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._target, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            audit_engine(name)
            return method(*args, **kwargs)

        return call
