"""What the emulator's state refuses, each with the answer W&B gives (404, 400, 409)."""

from __future__ import annotations


class EmulatorError(Exception):
    """A state method was called with something W&B would refuse."""


class NotFound(EmulatorError):
    """The entity, project, collection, version, run, queue, trigger or integration does not exist."""


class InvalidRequest(EmulatorError):
    """The request conflicts with W&B's rules (wrong type, bad step, missing upload, ...)."""


class Conflict(InvalidRequest):
    """The name is taken (W&B answers HTTP 409)."""
