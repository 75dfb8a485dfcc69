"""The REST control API: ``POST /_emulator/<method>`` calls the state method of that name.

The JSON body holds the method's keyword arguments (validated against its signature by pydantic);
the answer is the method's result as JSON (ids, version strings, ISO times). Only the methods listed
in :data:`OPERATIONS` (on the state) and :data:`AUTOMATION_OPERATIONS` (on its automations: the
integrations W&B's UI makes) are reachable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic

from wbauto.emulator import results
from wbauto.emulator.state import InvalidRequest, NotFound, State

OPERATIONS = (
    "create_organization",
    "create_project",
    "create_registry",
    "log_artifact",
    "commit_artifact",
    "delete_artifact",
    "link_artifact",
    "add_alias",
    "remove_alias",
    "add_tag",
    "remove_tag",
    "add_collection_tag",
    "remove_collection_tag",
    "create_run",
    "log_history",
    "set_run_state",
    "create_run_queue",
    "queue_items",
    "stats",
    "reset_stats",
    "fail_next",
    "changes",
    "record_requests",
    "recorded",
)

AUTOMATION_OPERATIONS = ("create_webhook_integration", "create_slack_integration")

_RESULT = pydantic.TypeAdapter[Any](Any)


class Control:
    """Dispatches control requests to one :class:`State`."""

    def __init__(self, state: State) -> None:
        self._calls: dict[str, Callable[..., Any]] = {
            name: pydantic.validate_call(getattr(state, name)) for name in OPERATIONS
        }
        for name in AUTOMATION_OPERATIONS:
            make = pydantic.validate_call(getattr(state.automations, name))
            self._calls[name] = lambda *args, make=make, **kwargs: results.integration(make(*args, **kwargs))

    def call(self, operation: str, arguments: object) -> Any:
        """The JSON-ready result of ``operation(**arguments)``; raises NotFound or InvalidRequest."""
        method = self._calls.get(operation)
        if method is None:
            raise NotFound(f"no control operation {operation!r}; see {', '.join(self._calls)}")
        if not isinstance(arguments, dict):
            raise InvalidRequest("the body is a JSON object of keyword arguments")
        try:
            result = method(**arguments)
        except pydantic.ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise InvalidRequest(f"{operation}: {problems}") from None
        return _RESULT.dump_python(result, mode="json")
