"""Background work as plain module-level functions that take ids (RQ imports them by name).

``schedule`` is the only place that enqueues; job modules load rows again by id and read
tokens from the database, so no secret ever goes into Redis."""


def preload() -> None:
    """Import the job modules and build their caches in the worker's parent process, so every
    forked work horse starts warm instead of parsing the OpenAPI spec again."""
    from ..clockify import bootstrap_operations
    from . import bootstrap, webhook_registration  # noqa: F401

    bootstrap_operations.workspace_operations()
