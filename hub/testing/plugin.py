"""pytest plugin of the connector test kit: the ``contract`` marker."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract: connector contract tests (hub.testing)")
