"""Operations: everything admins and ops can do, shared by the JSON API, the dashboard and the CLI.

``Ops`` is the one place that checks roles and writes the audit log for a
change, so the three front ends cannot disagree about who may do what.
"""

from __future__ import annotations

from aiohttp import web

from hub.ops.service import Ops
from hub.ops.views import (
    AuditEntry,
    BulkJob,
    ConnectionForm,
    ConnectionView,
    FormField,
    RecipeView,
    TestResult,
)

__all__ = [
    "OPS",
    "AuditEntry",
    "BulkJob",
    "ConnectionForm",
    "ConnectionView",
    "FormField",
    "Ops",
    "RecipeView",
    "TestResult",
]

OPS: web.AppKey[Ops] = web.AppKey("ops", Ops)
