"""The in-cluster runtime and its adapters: executions and cursors in the apiserver, statuses and Events,
leader election on a Lease. Kopf's wiring is in :mod:`wbauto.handlers`."""
