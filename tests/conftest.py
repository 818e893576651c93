"""Shared pytest set-up: Hypothesis runs derandomized under CI (CI=true), so a CI result is reproducible."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
