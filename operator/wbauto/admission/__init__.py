"""The apiserver's admission verdict, offline: ``kubectl``'s YAML → JSON, the CRDs' structural schemas with
Kubernetes' type rules, object metadata, and the CRDs' own CEL rules (the same text the apiserver runs).

Used by ``wbauto validate`` and by both runtimes (the standalone runtime reads manifests that never
passed an apiserver), so the same document gets the same verdict everywhere.
"""
