"""Settings read from the environment, with safe development defaults."""

from __future__ import annotations

import subprocess
from pathlib import Path

from chatapp.config import PROJECT_ROOT, Settings


def test_without_jwt_secret_one_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(jwt_secret=None, data_dir=tmp_path).jwt_signing_key
    second = Settings(jwt_secret=None, data_dir=tmp_path).jwt_signing_key
    assert first == second and len(first) >= 48
    assert (tmp_path / "jwt_secret").read_text().strip() == first
    assert oct((tmp_path / "jwt_secret").stat().st_mode & 0o777) == "0o600"


def test_generated_secrets_differ_between_installations(tmp_path: Path) -> None:
    assert Settings(jwt_secret=None, data_dir=tmp_path / "a").jwt_signing_key != Settings(
        jwt_secret=None, data_dir=tmp_path / "b"
    ).jwt_signing_key


def test_the_secret_file_is_ignored_by_git() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/jwt_secret"], cwd=PROJECT_ROOT)
    assert ignored.returncode == 0


def test_jwt_secret_from_the_environment_wins(tmp_path: Path) -> None:
    assert Settings(jwt_secret="from-env", data_dir=tmp_path).jwt_signing_key == "from-env"
    assert not (tmp_path / "jwt_secret").exists()


def test_postgres_urls_get_the_psycopg_driver() -> None:
    assert Settings(database_url="postgresql://u:p@db/chat").sqlalchemy_url == "postgresql+psycopg://u:p@db/chat"
    assert Settings(database_url="postgres://u@db/chat").sqlalchemy_url == "postgresql+psycopg://u@db/chat"


def test_relative_sqlite_paths_are_anchored_at_the_project(tmp_path: Path) -> None:
    assert Settings().sqlalchemy_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'chatapp.db'}"
    assert Settings(database_url=f"sqlite:///{tmp_path}/x.db").sqlalchemy_url == f"sqlite:///{tmp_path}/x.db"


def test_mcp_endpoint_follows_the_backend_port() -> None:
    assert Settings(backend_port=9001).mcp_endpoint == "http://127.0.0.1:9001/mcp"
