"""The one way to the Kubernetes API: credentials as kubectl finds them and the calls wbauto makes, on
``kubernetes_asyncio`` (the only module importing it). Kopf's own watches log in through it too."""
