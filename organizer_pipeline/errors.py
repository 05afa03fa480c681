"""Errors an operator can act on: the CLI prints their message as one line, never a traceback."""


class OrganizerError(Exception):
    """Base for failures whose message already says what went wrong and how to fix it."""


class ConfigError(OrganizerError):
    """A setting is missing or malformed."""


class DatabaseUnavailable(OrganizerError):
    """The database could not be reached or used."""
