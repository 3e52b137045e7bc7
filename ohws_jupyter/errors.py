"""Errors of the OHOS WebSocket API.

Every failure the API reports is a :class:`BusinessError` with an OHOS error
code; nothing else escapes ``connect``/``send``/``close``::

    Exception
     └── BusinessError            .code, .message, .data
          └── LoopThreadError     (also a RuntimeError) blocking call on the I/O thread

The message starts with the OHOS text for the code and goes on with what was
wrong and what to do: ``"Parameter error: close code 999 is not allowed; ..."``.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = [
    "CERT_FILE_MISSING",
    "CODE_TEXT",
    "CONNECTION_ERROR",
    "CONNECTION_EXISTS",
    "CONNECTION_NOT_FOUND",
    "PARAMETER_ERROR",
    "PERMISSION_DENIED",
    "PORT_IN_USE",
    "SERVER_ADDRESS_ERROR",
    "SERVER_PORT_ERROR",
    "UNKNOWN_ERROR",
    "URL_ERROR",
    "BusinessError",
    "LoopThreadError",
]

PARAMETER_ERROR = 401
PERMISSION_DENIED = 201
CONNECTION_ERROR = 200
URL_ERROR = 2302001
CERT_FILE_MISSING = 2302002
CONNECTION_EXISTS = 2302003
SERVER_ADDRESS_ERROR = 2302004
SERVER_PORT_ERROR = 2302005
CONNECTION_NOT_FOUND = 2302006
PORT_IN_USE = 2302007
UNKNOWN_ERROR = 2302999

CODE_TEXT: dict[int, str] = {
    PARAMETER_ERROR: "Parameter error",
    PERMISSION_DENIED: "Permission denied",
    CONNECTION_ERROR: "Websocket connection error",
    URL_ERROR: "Websocket url error",
    CERT_FILE_MISSING: "Websocket certificate file does not exist",
    CONNECTION_EXISTS: "Websocket connection already exists",
    SERVER_ADDRESS_ERROR: "Can't listen on the given address",
    SERVER_PORT_ERROR: "Can't listen on the given port",
    CONNECTION_NOT_FOUND: "Websocket connection does not exist",
    PORT_IN_USE: "Port already in use",
    UNKNOWN_ERROR: "Websocket Unknown Other Error",
}


class BusinessError(Exception):
    """An OHOS ``BusinessError``: a numeric ``code`` and a ``message``.

    Args:
        code: One of the codes of :data:`CODE_TEXT`.
        detail: What was wrong and what to do; appended to the OHOS text.
        data: Extra data, as OHOS gives it (the HTTP status text for code 200).
    """

    def __init__(self, code: int, detail: str = "", data: Any = None) -> None:
        title = CODE_TEXT.get(code, "Error")
        self.code = code
        self.message = f"{title}: {detail}" if detail else title
        self.data = data
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.code, self.message, self.data))

    def __repr__(self) -> str:
        extra = f", data={self.data!r}" if self.data is not None else ""
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}{extra})"

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The error as OHOS's ``JSON.stringify(err)`` shows it."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out

    toJSON = to_dict


class LoopThreadError(BusinessError, RuntimeError):
    """A blocking call was made on the runtime's own I/O thread, where it would deadlock."""

    def __init__(self, what: str) -> None:
        if sys.platform == "emscripten":
            # In a browser the page's one thread is the I/O thread.
            detail = (
                f"{what} cannot block in the browser: Python there has one thread, which "
                "must stay free to do the I/O; use `await` on the promise instead "
                "(or a callback, or .then())"
            )
        else:
            detail = (
                f"{what} cannot block on the WebSocket I/O thread (it would deadlock); "
                "use a callback or .then() there instead"
            )
        super().__init__(UNKNOWN_ERROR, detail)


def _rebuild(cls: type[BusinessError], code: int, message: str, data: Any) -> BusinessError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.code, err.message, err.data = code, message, data
    return err
