"""``column IN (ids)`` for batches of any size, bound as one parameter.

An ``IN`` list makes one parameter per id: the statement's text changes with every batch size,
so neither SQLAlchemy, the driver nor the database can reuse its parsed form, and psycopg spends
milliseconds converting a statement of ten thousand placeholders.  ``in_ids`` binds the whole
list once — a ``BIGINT[]`` on PostgreSQL (``= ANY(…)``), a JSON array read by ``json_each`` on
SQLite — so the statement is the same for 10 ids or 10,000, and has no parameter limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, any_, bindparam, func, select
from sqlalchemy import column as sql_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session


def in_ids(session: Session, column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column IN ids`` with the ids bound as one parameter (see the module docstring)."""
    values = list(ids)
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, values, type_=postgresql.ARRAY(BigInteger))
        return column == any_(array)
    listed: Any = select(sql_column("value")).select_from(func.json_each(json.dumps(values)))
    result = column.in_(listed.scalar_subquery())
    return result
