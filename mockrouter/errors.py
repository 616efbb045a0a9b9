"""Every exception mockrouter raises, in one tree.

The hierarchy::

    MockrouterError             anything mockrouter raises on purpose
    ├── ConfigError             a bad command-line flag, environment variable or keys file
    ├── ListenError             ``serve`` cannot listen on its host and port (in use, ...)
    ├── StoreUnavailable        the shared state store (Redis) cannot be reached
    ├── ScenarioError           a scenario file that cannot be loaded (file, line, field)
    │   └── TemplateError       a ``{{ }}`` template outside the template language
    ├── ScenarioErrors          several scenario errors found in one pass
    ├── RegexError              a ``match`` regex RE2 refuses (also a ValueError)
    ├── RequestError            a client error answered before any scenario ran (a 4xx)
    │   ├── BodyTooLarge        the request body passed the size limit (413)
    │   └── SelectionError      the request names a scenario that does not exist (404)
    ├── ClientGone              the client hung up before its request was read
    ├── DeliberateDisconnect    a ``disconnect`` fault: drop the connection mid-response
    ├── StreamError             a stream a client could not assemble (also a ValueError)
    └── ResilienceError         ``assert_resilient()`` found findings (also an AssertionError)

A ``RequestError`` is not a crash: the HTTP layer answers it in the dialect's error format
(its :attr:`RequestError.answer`, a :class:`~mockrouter.core.reply.HttpError`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core.reply import HttpError


class MockrouterError(Exception):
    """Root of every error mockrouter raises deliberately."""


class ConfigError(MockrouterError):
    """A server setting is invalid."""


class ListenError(MockrouterError):
    """``mockrouter serve`` cannot listen on its host and port (in use, unknown host, ...)."""


class StoreUnavailable(MockrouterError):
    """The state store (``--store redis://...``) cannot be reached: at start, ``serve`` says so
    and exits; while serving, a request is answered 503 naming the store, and nothing it would
    have changed is half-written."""

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(f"mockrouter's state store ({store}) is unreachable: {reason}")


def printable(text: str) -> str:
    """``text`` with control characters escaped as Python writes them (``\\r``, ``\\x1b``), so
    a key in a scenario file cannot break a line of ``check`` output or drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


#: The widest excerpt line shown; longer lines are cut around the caret.
EXCERPT_WIDTH = 120


def excerpt(source: str, column: int) -> str:
    """Two lines: ``source`` (control characters escaped, cut around the spot when long) and a
    caret under its ``column`` (1-based), both indented by four spaces."""
    shown, before = printable(source), len(printable(source[: max(column - 1, 0)]))
    if len(shown) > EXCERPT_WIDTH:
        start = max(0, min(before - EXCERPT_WIDTH // 2, len(shown) - EXCERPT_WIDTH))
        head, tail = ("..." if start else ""), ("..." if start + EXCERPT_WIDTH < len(shown) else "")
        shown = head + shown[start : start + EXCERPT_WIDTH] + tail
        before += len(head) - start
    return f"    {shown}\n    {' ' * before}^"


class ScenarioError(MockrouterError):
    """A scenario cannot be loaded; says where (file, line, field) and why.

    A syntax error also knows the ``column`` (1-based; its message says it too) and the
    offending line of the file (``source``); ``str()`` then ends with that line and a caret
    under the spot (``excerpt``)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        column: int | None = None,
        source: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        self.column = column
        self.source = source
        super().__init__(str(self))

    @property
    def excerpt(self) -> str | None:
        """The offending line and a caret under the column, when both are known."""
        if self.source is None or self.column is None:
            return None
        return excerpt(self.source, self.column)

    def __str__(self) -> str:
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": {printable(self.field)}"
        text = f"{where}: {self.message}"
        shown = self.excerpt
        return text if shown is None else f"{text}\n{shown}"

    def as_dict(self) -> dict[str, str | int | None]:
        """The JSON the admin API answers for this error."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "excerpt": self.excerpt,
        }

    def located(self, *, file: str | None, line: int | None, field: str | None) -> ScenarioError:
        """Return a copy that fills in whatever location this error does not know yet."""
        return type(self)(
            self.message,
            file=self.file or file,
            line=self.line if self.line is not None else line,
            field=self.field or field,
            column=self.column,
            source=self.source,
        )


class TemplateError(ScenarioError):
    """A template uses something outside the safe template language."""


class ScenarioErrors(MockrouterError):
    """Several scenario errors found in one pass (``mockrouter check`` reports them all)."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class RegexError(MockrouterError, ValueError):
    """A pattern RE2 refuses (bad syntax, a construct it lacks, or too large)."""


class RequestError(MockrouterError):
    """A client error found before any scenario ran; answered in the dialect's format.

    ``status``, ``message`` and ``param`` say what to answer; :meth:`wrap` carries a whole
    prepared answer instead (headers, metadata and all), as :attr:`answer`."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        self.status = status
        self.message = message
        self.param = param
        self.answer: HttpError | None = None
        super().__init__(message)

    @classmethod
    def invalid(cls, field: str, problem: str) -> RequestError:
        """The 400 for a request field that is missing or wrong: ``param`` is its JSON path
        (``messages[0].role``; None for the body itself), and the message says what is
        wrong with it (``Invalid request: messages[0].role: required field is missing``)."""
        return cls(400, f"Invalid request: {field or 'body'}: {problem}", field or None)

    @classmethod
    def wrap(cls, answer: HttpError) -> RequestError:
        """A RequestError answering with ``answer`` as it is."""
        exc = cls(answer.status, answer.message or "", answer.param)
        exc.answer = answer
        return exc


class BodyTooLarge(RequestError):
    """The request body exceeded the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than {limit} bytes.")


class SelectionError(RequestError):
    """The request names a scenario that does not exist (answered as a 404)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(404, message, param)


class ClientGone(MockrouterError):
    """The client disconnected before the request body was read."""


class DeliberateDisconnect(MockrouterError):
    """Raised to make the server drop a connection mid-response (the ``disconnect`` fault).

    uvicorn closes the transport when an app raises after the response started, so the
    client sees an incomplete body rather than a clean end. The server's log filter hides it.
    """


class StreamError(MockrouterError, ValueError):
    """The stream is not a well-formed chat completion stream (what and where): raised by the
    reference accumulator, ``mockrouter.strategies.assemble``."""


class ResilienceError(MockrouterError, AssertionError):
    """``assert_resilient()`` found findings in this test's traffic."""
