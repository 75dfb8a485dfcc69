"""The standalone runtime and its adapter: a folder of manifests, executions and cursors in SQLite."""
