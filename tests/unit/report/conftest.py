"""Fixtures for the report-layer tests (the data lives in ``report_factories``, a uniquely
named module, so test files can import helpers from it without clashing with other
directories' ``conftest`` modules)."""

from __future__ import annotations

import pytest

from porthole.model import Report
from report_factories import realistic_report


@pytest.fixture
def report() -> Report:
    return realistic_report()
