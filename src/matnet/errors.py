"""The exception types users see: a message that stands on one line, without a traceback."""

__all__ = ["MatnetError", "SettingError"]


class MatnetError(Exception):
    """A problem with the user's input or environment, explained in one line (the CLI prints it and exits with
    ``exit_code``: 1)."""

    exit_code = 1


class SettingError(MatnetError):
    """A setting that is not allowed (a flag's value, or a key of a config file: unknown, of the wrong type or out
    of its range): the CLI exits 2, as for any bad flag or value."""

    exit_code = 2
