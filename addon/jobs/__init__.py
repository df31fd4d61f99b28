"""Background work as plain module-level functions that take ids (RQ imports them by name).

``schedule`` is the only place that enqueues; job modules load rows again by id and read
tokens from the database, so no secret ever goes into Redis."""
