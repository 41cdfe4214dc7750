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
    dialect = session.get_bind().dialect.name
    return in_bound_ids(dialect, column, ids_parameter(dialect, None, ids))


def ids_parameter(dialect: str, key: str | None, ids: Iterable[int] | None = None) -> Any:
    """The one parameter holding the ids (``None``: bound at execution, as ``ids_value``
    gives them)."""
    value = None if ids is None else ids_value(dialect, ids)
    if dialect == "postgresql":
        return bindparam(key, value, type_=postgresql.ARRAY(BigInteger))
    return bindparam(key, value)


def ids_value(dialect: str, ids: Iterable[int]) -> Any:
    """The ids as the parameter of ``ids_parameter`` takes them."""
    return list(ids) if dialect == "postgresql" else json.dumps(list(ids))


def in_bound_ids(dialect: str, column: Any, ids: Any) -> ColumnElement[bool]:
    """``column IN`` the ids of the parameter ``ids`` (``ids_parameter``)."""
    if dialect == "postgresql":
        return column == any_(ids)
    listed: Any = select(sql_column("value")).select_from(func.json_each(ids))
    return column.in_(listed.scalar_subquery())
