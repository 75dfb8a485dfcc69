"""Every GraphQL document wbauto sends to W&B.

Field names and argument shapes follow the W&B SDK's own queries (``ProjectArtifacts``,
``ArtifactCollectionAliases``, ``HistoryPage``, ``QueryProjectRuns``, ``pushToRunQueueByName``).
Every polling document is batched with GraphQL aliases (several entities, projects, collections or runs
in one request), so the number of requests per poll cycle does not grow with the Automations and grows
with the scopes only once a batch is full.
"""

from __future__ import annotations

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
