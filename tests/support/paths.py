"""Where the repository is and where tests leave what a person may want to
look at afterwards (server logs, screenshots)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
