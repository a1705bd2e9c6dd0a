"""The churn warehouse: Snowflake (real, or embedded fakesnow) connection, DDL, loading, and the
synthetic KKBox data generator.

Contract API: ``EMBEDDED_URL``, ``parse_url``, ``WarehouseURL``, ``connect``, ``connect_url``,
``bulk_load``, ``iter_arrow_batches``, ``init``, ``WarehouseError``.
"""

from __future__ import annotations

from churn.warehouse.connection import (
    churn_home,
    connect,
    connect_url,
    describe_error,
    load_profile,
    warehouse_dir,
)
from churn.warehouse.errors import WarehouseError, WarehouseLockTimeout
from churn.warehouse.loading import bulk_load, fetch_frame, iter_arrow_batches
from churn.warehouse.schema import DATA_TABLES, TABLES, init, truncate
from churn.warehouse.url import EMBEDDED_URL, WarehouseURL, parse_url, redact_url

__all__ = [
    "DATA_TABLES",
    "EMBEDDED_URL",
    "TABLES",
    "WarehouseError",
    "WarehouseLockTimeout",
    "WarehouseURL",
    "bulk_load",
    "churn_home",
    "connect",
    "connect_url",
    "describe_error",
    "fetch_frame",
    "init",
    "iter_arrow_batches",
    "load_profile",
    "parse_url",
    "redact_url",
    "truncate",
    "warehouse_dir",
]
