"""Errors that the CLI turns into one clear line and a non-zero exit."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: unknown names, bad options, missing or malformed files."""


class EngineUnavailable(Exception):
    """An engine or variant cannot run on this machine; the message says why."""
