"""Settings read from the environment, with safe development defaults."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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


def test_cors_defaults_to_the_web_uis_own_origin() -> None:
    origins = Settings(frontend_port=3000, backend_port=8000).allowed_cors_origins
    assert "http://localhost:3000" in origins and "http://127.0.0.1:3000" in origins
    assert all(origin.startswith(("http://localhost:", "http://127.0.0.1:", "http://[::1]:")) for origin in origins)


def test_cors_origins_are_configurable() -> None:
    assert Settings(cors_origins="https://chat.example.com, https://admin.example.com").allowed_cors_origins == [
        "https://chat.example.com", "https://admin.example.com",
    ]


def test_the_json_body_cap_defaults_to_64_kib() -> None:
    assert Settings().max_body_bytes == 64 * 1024


def test_public_url_defaults_to_the_loopback_backend() -> None:
    assert Settings(public_url=None, backend_port=8123).base_url == "http://127.0.0.1:8123"
    assert Settings(public_url="https://chat.example.com/").base_url == "https://chat.example.com"


def test_the_read_budget_is_shared_by_the_workers() -> None:
    assert Settings(stream_reads_per_second=500, workers=4).stream_reads_per_worker == 125
    assert Settings(stream_reads_per_second=500, workers=1).stream_reads_per_worker == 500


def test_no_read_budget_stays_zero_on_any_number_of_workers() -> None:
    assert Settings(stream_reads_per_second=0, workers=4).stream_reads_per_worker == 0


def test_an_empty_workers_variable_means_one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "")
    assert Settings().workers == 1
