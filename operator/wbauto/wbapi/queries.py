"""Every GraphQL document wbauto sends to W&B.

Field names and argument shapes follow the W&B SDK's own queries (``ProjectArtifacts``,
``ArtifactCollectionAliases``, ``HistoryPage``, ``QueryProjectRuns``, ``pushToRunQueueByName``).
Batched documents (several collections or runs in one request) are built with GraphQL aliases, so the
number of requests per poll grows with the scopes watched, not with the automations.
"""

from __future__ import annotations

VIEWER = """
query WbautoViewer {
  viewer { id username entity }
  serverInfo { features { name isEnabled } }
}
"""

ENTITY_PROJECTS = """
query WbautoEntityProjects($entity: String!, $cursor: String, $perPage: Int = 100) {
  entity(name: $entity) {
    projects(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges { node { id name } }
    }
  }
}
"""

PROJECT_COLLECTIONS = """
query WbautoProjectCollections($entity: String!, $project: String!, $cursor: String, $perPage: Int = 100) {
  project(entityName: $entity, name: $project) {
    id
    name
    entity { name }
    artifactCollections(after: $cursor, first: $perPage) {
      pageInfo { endCursor hasNextPage }
      edges {
        node {
          __typename
          id
          name
          createdAt
          defaultArtifactType { name }
          tags { edges { node { id name } } }
        }
      }
    }
  }
}
"""

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
  tags { name }
  aliases { alias artifactCollection { name project { name entity { name } } } }
  createdBy {
    __typename
    ... on Run { name user { username } }
    ... on User { username }
  }
}
"""


def collection_versions(count: int) -> str:
    """Versions of ``count`` collections in one request: variables ``c<i>`` (ID) and ``after<i>``."""
    params = ", ".join(f"$c{i}: ID!, $after{i}: String" for i in range(count))
    fields = "\n".join(
        f"""  c{i}: artifactCollection(id: $c{i}) {{
    __typename
    id
    name
    artifacts(after: $after{i}, first: $perPage) {{
      pageInfo {{ endCursor hasNextPage }}
      edges {{ version node {{ ...WbautoArtifact }} }}
    }}
  }}"""
        for i in range(count)
    )
    return f"query WbautoCollectionVersions({params}, $perPage: Int = 100) {{\n{fields}\n}}\n" + ARTIFACT_FRAGMENT


PROJECT_RUNS = """
query WbautoProjectRuns($entity: String!, $project: String!, $cursor: String, $perPage: Int = 100,
                        $order: String = "-heartbeat_at") {
  project(name: $project, entityName: $entity) {
    runs(first: $perPage, order: $order, after: $cursor) {
      pageInfo { endCursor hasNextPage }
      edges {
        node {
          id
          name
          displayName
          state
          createdAt
          heartbeatAt
          historyLineCount
          historyKeys
          user { name username }
        }
      }
    }
  }
}
"""


def run_history(count: int) -> str:
    """Exact history pages of ``count`` runs in one request: variables ``r<i>``, ``min<i>``, ``max<i>``."""
    params = ", ".join(f"$r{i}: String!, $min{i}: Int64!, $max{i}: Int64!" for i in range(count))
    fields = "\n".join(
        f"    r{i}: run(name: $r{i}) {{ name history(minStep: $min{i}, maxStep: $max{i}, samples: $pageSize) }}"
        for i in range(count)
    )
    return (
        f"query WbautoRunHistory($entity: String!, $project: String!, {params}, $pageSize: Int!) {{\n"
        f"  project(name: $project, entityName: $entity) {{\n{fields}\n  }}\n}}\n"
    )


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
