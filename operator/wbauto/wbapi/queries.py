"""Every GraphQL document wbauto sends to W&B.

Field names and argument shapes follow the W&B SDK's own queries (``ProjectArtifacts``,
``ArtifactCollectionAliases``, ``HistoryPage``, ``QueryProjectRuns``, ``pushToRunQueueByName``).
Every polling document is batched with GraphQL aliases (several entities, projects, collections or runs
in one request), so the number of requests per poll cycle does not grow with the Automations and grows
with the scopes only once a batch is full.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

VIEWER = """
query WbautoViewer {
  viewer { id username entity }
  serverInfo { features { name isEnabled } }
}
"""

def _batched(name: str, params: str, fields: list[str], extra: str = "") -> str:
    """One query document holding ``fields`` (each under its own alias) with shared ``extra`` params."""
    body = "\n".join(fields)
    return f"query {name}({params}{extra}) {{\n{body}\n}}\n"


def entity_projects(count: int) -> str:
    """The projects of ``count`` entities: variables ``n<i>`` (entity name) and ``a<i>`` (page cursor)."""
    params = ", ".join(f"$n{i}: String!, $a{i}: String" for i in range(count))
    fields = [f"  e{i}: entity(name: $n{i}) {{ name projects(after: $a{i}, first: $perPage) {{ "
              f"pageInfo {{ endCursor hasNextPage }} edges {{ node {{ id name }} }} }} }}" for i in range(count)]
    return _batched("WbautoEntityProjects", params, fields, ", $perPage: Int = 100")


def project_collections(count: int) -> str:
    """The artifact collections of ``count`` projects: variables ``e<i>``, ``p<i>``, ``a<i>`` (page cursor)."""
    params = ", ".join(f"$e{i}: String!, $p{i}: String!, $a{i}: String" for i in range(count))
    fields = [f"""  p{i}: project(entityName: $e{i}, name: $p{i}) {{
    id
    name
    artifactCollections(after: $a{i}, first: $perPage) {{
      pageInfo {{ endCursor hasNextPage }}
      edges {{
        node {{
          __typename
          id
          name
          createdAt
          defaultArtifactType {{ name }}
          tags {{ edges {{ node {{ id name }} }} }}
        }}
      }}
    }}
  }}""" for i in range(count)]
    return _batched("WbautoProjectCollections", params, fields, ", $perPage: Int = 100")


ARTIFACT_FRAGMENT = """
fragment WbautoArtifact on Artifact {
  id
  versionIndex
  state
  digest
  createdAt
  metadata
  artifactType { name }
  artifactSequence { name project { name entity { name } } }
  tags { id name }
  aliases { id alias artifactCollection { name project { name entity { name } } } }
  createdBy {
    __typename
    ... on Run { name user { username } }
    ... on User { username }
  }
}
"""


def collection_versions(count: int) -> str:
    """Versions of ``count`` collections in one request: variables ``c<i>`` (ID) and ``after<i>``. A
    collection that no longer exists answers ``null``: positive evidence that it is gone."""
    params = ", ".join(f"$c{i}: ID!, $after{i}: String" for i in range(count))
    fields = [f"""  c{i}: artifactCollection(id: $c{i}) {{
    __typename
    id
    name
    artifacts(after: $after{i}, first: $perPage) {{
      pageInfo {{ endCursor hasNextPage }}
      edges {{ version node {{ ...WbautoArtifact }} }}
    }}
  }}""" for i in range(count)]
    return _batched("WbautoCollectionVersions", params, fields, ", $perPage: Int = 100") + ARTIFACT_FRAGMENT


def project_runs(count: int) -> str:
    """Runs of ``count`` projects, most recent heartbeat first: variables ``e<i>``, ``p<i>``, ``a<i>``."""
    params = ", ".join(f"$e{i}: String!, $p{i}: String!, $a{i}: String" for i in range(count))
    fields = [f"""  p{i}: project(name: $p{i}, entityName: $e{i}) {{
    runs(first: $perPage, order: "-heartbeat_at", after: $a{i}) {{
      pageInfo {{ endCursor hasNextPage }}
      edges {{
        node {{
          id
          name
          displayName
          state
          createdAt
          heartbeatAt
          historyLineCount
          historyKeys
          user {{ name username }}
          tags
          group
          jobType
          config
          summaryMetrics
        }}
      }}
    }}
  }}""" for i in range(count)]
    return _batched("WbautoProjectRuns", params, fields, ", $perPage: Int = 100")


def run_history(count: int) -> str:
    """Exact history pages of ``count`` runs (of any projects) in one request: variables ``e<i>``,
    ``p<i>``, ``r<i>`` (run name), ``min<i>``, ``max<i>``."""
    params = ", ".join(f"$e{i}: String!, $p{i}: String!, $r{i}: String!, $min{i}: Int64!, $max{i}: Int64!"
                       for i in range(count))
    fields = [f"  h{i}: project(name: $p{i}, entityName: $e{i}) {{ run(name: $r{i}) {{ name "
              f"history(minStep: $min{i}, maxStep: $max{i}, samples: $pageSize) }} }}" for i in range(count)]
    return _batched("WbautoRunHistory", params, fields, ", $pageSize: Int!")


PUSH_TO_RUN_QUEUE = """
mutation WbautoPushToRunQueueByName(
  $entityName: String!, $projectName: String!, $queueName: String!, $runSpec: JSONString!,
  $priority: Int, $templateVariableValues: JSONString
) {
  pushToRunQueueByName(input: {
    entityName: $entityName, projectName: $projectName, queueName: $queueName, runSpec: $runSpec,
    priority: $priority, templateVariableValues: $templateVariableValues
  }) {
    runQueueItemId
    runSpec
  }
}
"""


# --- wbauto import: W&B's saved automations and integrations ---------------------------------------------------
#
# The documents the wandb SDK (0.31) sends for ``Api().automations(entity=...)`` (``GetEntityAutomations``; on
# servers without ``QUERY_AUTOMATIONS_ON_ENTITY``, ``GetEntityAutomationsLegacy``), ``Api().automations()``
# (``GetAutomationsLegacy``) and ``Api().integrations(entity=...)`` (``IntegrationsByEntity``), recorded from
# the SDK (tests/integration/test_import_queries.py compares them with what the installed SDK sends). The SDK
# leaves out the fragments of scopes and actions the server's features do not report (its
# ``omit_automation_fragments``): :func:`omit_fragments` does the same; ``QueueJobActionFields`` is kept (the
# SDK drops it, since it never writes that action, but wbauto converts saved Launch actions).

_TRIGGER_FRAGMENTS = """
fragment AriaActionFields on ARIATriggeredAction {
  __typename
  prompt
}

fragment ArtifactPortfolioScopeFields on ArtifactPortfolio {
  __typename
  id
  name
}

fragment ArtifactSequenceScopeFields on ArtifactSequence {
  __typename
  id
  name
}

fragment EntityScopeFields on Entity {
  __typename
  id
  name
  entityType
}

fragment FilterEventFields on FilterEventTriggeringCondition {
  __typename
  eventType
  filter
}

fragment GenericWebhookActionFields on GenericWebhookTriggeredAction {
  __typename
  integration {
    ...WebhookIntegrationFields
  }
  requestPayload
}

fragment NoOpActionFields on NoOpTriggeredAction {
  __typename
  noOp
}

fragment NotificationActionFields on NotificationTriggeredAction {
  __typename
  integration {
    ...SlackIntegrationFields
  }
  title
  message
  severity
}

fragment PageInfoFields on PageInfo {
  endCursor
  hasNextPage
}

fragment ProjectScopeFields on Project {
  __typename
  id
  name
}

fragment QueueJobActionFields on QueueJobTriggeredAction {
  __typename
  queue {
    id
    name
  }
  template
}

fragment SlackIntegrationFields on SlackIntegration {
  __typename
  id
  teamName
  channelName
}

fragment TriggerFields on Trigger {
  __typename
  id
  createdAt
  updatedAt
  name
  description
  enabled
  scope {
    ...ProjectScopeFields
    ...ArtifactPortfolioScopeFields
    ...ArtifactSequenceScopeFields
    ...EntityScopeFields
  }
  event: triggeringCondition {
    ...FilterEventFields
  }
  action: triggeredAction {
    ...QueueJobActionFields
    ...NotificationActionFields
    ...GenericWebhookActionFields
    ...NoOpActionFields
    ...AriaActionFields
  }
}

fragment WebhookIntegrationFields on GenericWebhookIntegration {
  __typename
  id
  name
  urlEndpoint
}
"""

_PROJECT_TRIGGERS_FRAGMENT = """
fragment ProjectTriggersFields on Project {
  __typename
  triggers {
    ...TriggerFields
  }
}
"""

GET_ENTITY_AUTOMATIONS = """
query GetEntityAutomations($entity: String!, $cursor: String, $perPage: Int, $order: String, $filters: JSONString) {
  scope: entity(name: $entity) {
    triggers(after: $cursor, first: $perPage, order: $order, filters: $filters) {
      pageInfo {
        ...PageInfoFields
      }
      edges {
        node {
          ...TriggerFields
        }
      }
    }
  }
}
""" + _TRIGGER_FRAGMENTS

_LEGACY_PAGE = """
      pageInfo {
        ...PageInfoFields
      }
      edges {
        node {
          ...ProjectTriggersFields
        }
      }
    }
  }
}
"""

GET_ENTITY_AUTOMATIONS_LEGACY = """
query GetEntityAutomationsLegacy($entity: String!, $cursor: String, $perPage: Int) {
  scope: entity(name: $entity) {
    projects(after: $cursor, first: $perPage) {""" + _LEGACY_PAGE + _TRIGGER_FRAGMENTS + _PROJECT_TRIGGERS_FRAGMENT

GET_AUTOMATIONS_LEGACY = """
query GetAutomationsLegacy($cursor: String, $perPage: Int) {
  scope: viewer {
    projects(after: $cursor, first: $perPage) {""" + _LEGACY_PAGE + _TRIGGER_FRAGMENTS + _PROJECT_TRIGGERS_FRAGMENT

INTEGRATIONS_BY_ENTITY = """
query IntegrationsByEntity($entity: String!, $cursor: String, $perPage: Int) {
  entity(name: $entity) {
    integrations(after: $cursor, first: $perPage) {
      pageInfo {
        ...PageInfoFields
      }
      edges {
        node {
          __typename
          ...SlackIntegrationFields
          ...WebhookIntegrationFields
        }
      }
    }
  }
}

fragment PageInfoFields on PageInfo {
  endCursor
  hasNextPage
}

fragment SlackIntegrationFields on SlackIntegration {
  __typename
  id
  teamName
  channelName
}

fragment WebhookIntegrationFields on GenericWebhookIntegration {
  __typename
  id
  name
  urlEndpoint
}
"""

SERVER_FEATURES = """
query WbautoServerFeatures {
  viewer { id username entity teams(first: 100) { edges { node { name } } } }
  serverInfo { features { name isEnabled } }
}
"""

WEBHOOK_SECRETS = """
query WbautoWebhookSecrets($entity: String!, $cursor: String, $perPage: Int) {
  entity(name: $entity) {
    integrations(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges { node { __typename ... on GenericWebhookIntegration { id secretRef accessTokenRef } } }
    }
  }
}
"""
"""The names of the team secrets a webhook uses (W&B's ``createGenericWebhookIntegration`` takes them; older
SDKs read them back): what the imported SecretReferences are named after."""

ENTITY_ORGANIZATION = """
query WbautoEntityOrganization($entity: String!) {
  entity(name: $entity) { name entityType organization { name orgEntity { name } } }
}
"""

COLLECTION_BY_ID = """
query WbautoCollectionById($id: ID!) {
  artifactCollection(id: $id) { __typename id name project { name entity { name } } }
}
"""

RUN_QUEUES = """
query WbautoRunQueues($entity: String!, $project: String!) {
  project(entityName: $entity, name: $project) { runQueues { id name } }
}
"""

FRAGMENTS_BY_FEATURE = {
    "EntityScopeFields": "AUTOMATION_SCOPE_ENTITY",
    "NoOpActionFields": "AUTOMATION_ACTION_NO_OP",
    "AriaActionFields": "AUTOMATION_ACTION_ARIA",
}
"""The fragments the SDK sends only when the server reports the feature (``wandb.automations._compat``)."""


def omit_fragments(document: str, names: Iterable[str]) -> str:
    """``document`` without the named fragments: their definitions and every ``...Name`` spread."""
    for name in names:
        start = document.find(f"fragment {name} on ")
        if start >= 0:
            depth, end = 0, document.index("{", start)
            while True:
                depth += {"{": 1, "}": -1}.get(document[end], 0)
                end += 1
                if depth == 0:
                    break
            document = document[:start] + document[end:].lstrip("\n")
        document = re.sub(rf"[ \t]*\.\.\.\s*{name}\b[ \t]*\n?", "", document)
    return document
