"""Saves a screenshot of the page a failed scenario ended on (failed-<test>.png beside the others)."""
import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "browser" in item.funcargs:
        from test_web import SHOTS
        os.makedirs(SHOTS, exist_ok=True)
        item.funcargs["browser"].save_screenshot(os.path.join(SHOTS, f"failed-{item.name}.png"))
