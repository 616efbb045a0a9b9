"""The exceptions mockrouter raises.

The hierarchy::

    MockrouterError             anything mockrouter raises on purpose
    ├── ConfigError             a bad command-line flag, environment variable or keys file
    └── ScenarioError           a scenario file that cannot be loaded (file, line, field)
        └── TemplateError       a ``{{ }}`` template outside the template language

Errors that a *client* causes over HTTP are not exceptions of this tree: they become
responses in the dialect's error format (see ``mockrouter.reply.HttpError``).
"""

from __future__ import annotations


class MockrouterError(Exception):
    """Root of every error mockrouter raises deliberately."""


class ConfigError(MockrouterError):
    """A server setting is invalid."""


def printable(text: str) -> str:
    """``text`` with control characters escaped as Python writes them (``\\r``, ``\\x1b``), so
    a key in a scenario file cannot break a line of ``check`` output or drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ScenarioError(MockrouterError):
    """A scenario cannot be loaded; says where (file, line, field) and why."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": {printable(self.field)}"
        return f"{where}: {self.message}"

    def located(self, *, file: str | None, line: int | None, field: str | None) -> ScenarioError:
        """Return a copy that fills in whatever location this error does not know yet."""
        return type(self)(
            self.message,
            file=self.file or file,
            line=self.line if self.line is not None else line,
            field=self.field or field,
        )


class TemplateError(ScenarioError):
    """A template uses something outside the safe template language."""


class ScenarioErrors(MockrouterError):
    """Several scenario errors found in one pass (``mockrouter check`` reports them all)."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
