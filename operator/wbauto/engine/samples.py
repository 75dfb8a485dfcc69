"""Sample events for an Automation (pure): what ``wbauto render`` and ``wbauto test-webhook`` preview. Each
event kind makes its own (``EventKind.sample``)."""

from __future__ import annotations

import datetime

from wbauto.api.automation import AutomationSpec
from wbauto.engine.events import registry
from wbauto.engine.events.base import Accepted, Place


def sample_event(spec: AutomationSpec, now: datetime.datetime | None = None) -> Accepted:
    """An event this Automation would fire on, with realistic values."""
    entity, project, collection = spec.scope.where  # made up where the scope covers many
    place = Place(entity, project or "my-project", collection or "my-model",
                  now or datetime.datetime.now(datetime.UTC))
    return registry.of(spec.event).sample(spec, place)
