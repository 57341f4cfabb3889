"""The tests' line client, shared with the graders (tests/grading/wire.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
from wire import LineClient, chat_lines  # noqa: E402,F401
