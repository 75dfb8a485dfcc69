"""W&B's GraphQL API: the client (auth, errors translated at the edge) and every document wbauto sends.

Used by the event sources (polling) and by the Launch action; named so it never shadows the ``wandb``
SDK package."""
