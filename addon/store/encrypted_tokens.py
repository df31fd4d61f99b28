"""Operator work over every stored token at once (not one workspace's): moving them to the first
``TOKEN_ENCRYPTION_KEY`` key (``reencrypt``) and checking that the keys still read them
(``probe``).

The columns are found, not listed: every column of type ``EncryptedText`` in the models, so a
token column added later is covered. Ciphertext is read and written as plain text
(``type_coerce``), never decrypted into the ORM, and never printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..crypto import EncryptedText, current_cipher
from ..errors import TokenUnreadable
from ..extensions import db, execute_dml
from ..models import Installation

DEFAULT_BATCH_SIZE = 500


@dataclass
class ColumnReport:
    """What ``reencrypt`` did to one column: counts, and the ids of the rows no key decrypts."""

    table: str
    column: str
    reencrypted: int = 0
    current: int = 0
    unreadable_ids: list = field(default_factory=list)


def encrypted_columns() -> Iterator[tuple[sa.Table, sa.Column]]:
    """Every ``EncryptedText`` column of the models, with its table (single-column primary key)."""
    # Installation's metadata is the models' (importing it registers every table).
    for table in Installation.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                yield table, column


def reencrypt(batch_size: int = DEFAULT_BATCH_SIZE) -> list[ColumnReport]:
    """Re-encrypt every stored token with the first key, ``batch_size`` rows per transaction.

    Idempotent: a token the first key already reads is left as it is. A token no key reads is
    counted and left untouched. A row changed meanwhile (a reinstall) is skipped: its new value was
    written with the first key anyway.
    """
    cipher = current_cipher()
    reports = []
    for table, column in encrypted_columns():
        report = ColumnReport(table.name, column.name)
        for key, ciphertext in _rows(table, column, batch_size):
            if ciphertext is None:
                continue
            if cipher.is_current(ciphertext):
                report.current += 1
                continue
            try:
                rotated = cipher.rotate(ciphertext)
            except TokenUnreadable:
                report.unreadable_ids.append(key)
                continue
            primary = _primary_key(table)
            execute_dml(sa.update(table).where(primary == key, sa.type_coerce(column, sa.Text) == ciphertext)
                        .values({column.name: sa.type_coerce(rotated, sa.Text)}))
            report.reencrypted += 1
        reports.append(report)
    return reports


def _rows(table: sa.Table, column: sa.Column, batch_size: int) -> Iterator[tuple[object, str | None]]:
    """``(primary key, ciphertext)`` of every row, in primary key order, one batch per
    transaction (committed after the caller handled it, so a long run holds no lock for long)."""
    primary = _primary_key(table)
    last = None
    while True:
        query = sa.select(primary, sa.type_coerce(column, sa.Text)).order_by(primary).limit(batch_size)
        if last is not None:
            query = query.where(primary > last)
        batch = db.session.execute(query).all()
        yield from ((row[0], row[1]) for row in batch)
        db.session.commit()
        if len(batch) < batch_size:
            return
        last = batch[-1][0]


def _primary_key(table: sa.Table) -> sa.Column:
    [primary] = table.primary_key.columns
    return primary


def probe() -> tuple[int, str | None]:
    """Try to decrypt the first stored token of each encrypted column.

    :return: how many were tried, and ``"<table> row <id>"`` of the first no key decrypts (None
        when every one did).
    """
    cipher, tried = current_cipher(), 0
    for table, column in encrypted_columns():
        primary = _primary_key(table)
        row = db.session.execute(sa.select(primary, sa.type_coerce(column, sa.Text)).where(column.is_not(None))
                                 .order_by(primary).limit(1)).first()
        if row is None:
            continue
        tried += 1
        try:
            cipher.decrypt(row[1])
        except TokenUnreadable:
            return tried, f"{table.name} row {row[0]}"
    return tried, None
