"""The one exception type users see: a message that stands on one line, without a traceback."""

__all__ = ["MatnetError"]


class MatnetError(Exception):
    """A problem with the user's input or environment, explained in one line (the CLI prints it and exits 1)."""
