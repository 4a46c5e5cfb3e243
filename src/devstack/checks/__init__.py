"""Preflight checks: explain why a service would fail before it is started.

Each check module returns ``CheckResult`` records (``result.py``); ``runner.py`` runs
every check of a service, and of several services concurrently. Nothing here
starts the service itself; the import check runs the app's module in a throwaway
interpreter (``probe_app.py``), and the scan for web apps (``scan.py``) never
imports anything.
"""

from devstack.checks.checkresult import CheckResult

__all__ = ["CheckResult"]
