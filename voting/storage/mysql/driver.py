"""The MySQL driver, named in one place: asyncmy, PyMySQL's protocol compiled with Cython.
aiomysql (pure Python) took half as much CPU again for each ballot transaction
(docs/benchmarks-history.md, "What changed", 2026-12-05)."""
from __future__ import annotations

from asyncmy import Connection, Pool, create_pool
from asyncmy.constants.CLIENT import MULTI_STATEMENTS
from asyncmy.cursors import Cursor, DictCursor
from asyncmy.errors import IntegrityError, InterfaceError, MySQLError, OperationalError

__all__ = ["Connection", "Cursor", "DictCursor", "IntegrityError", "InterfaceError",
           "MULTI_STATEMENTS", "MySQLError", "OperationalError", "Pool", "create_pool"]
