"""Test-suite set-up: the shared fixtures of tfconv.testing and the model zoo on sys.path."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["tfconv.testing"]
