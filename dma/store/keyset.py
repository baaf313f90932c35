"""Keyset pages over ``(created_at, id)``: the one pagination every resource list shares."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import and_, or_

from dma.clock import as_utc

Q = TypeVar("Q")
Position = tuple[datetime, str]

CREATED_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def page_query(
    query: Q,
    created_at: Any,
    ident: Any,
    *,
    limit: int,
    created: Mapping[str, datetime] | None = None,
    after: Position | None = None,
    descending: bool = True,
) -> Q:
    """``statement`` filtered by ``created_at`` bounds, started after ``after``, ordered, and cut at ``limit + 1``.

    The extra row tells the caller whether another page follows.
    """
    statement = cast(Any, query)  # a SQLModel select of any row shape; the caller keeps its precise type
    for op, value in (created or {}).items():
        statement = statement.where(CREATED_OPS[op](created_at, as_utc(value)))
    if after is not None:
        at, after_id = as_utc(after[0]), after[1]
        if descending:
            statement = statement.where(or_(created_at < at, and_(created_at == at, ident < after_id)))
        else:
            statement = statement.where(or_(created_at > at, and_(created_at == at, ident > after_id)))
    order = (created_at.desc(), ident.desc()) if descending else (created_at.asc(), ident.asc())
    return cast(Q, statement.order_by(*order).limit(limit + 1))
