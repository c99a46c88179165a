"""`make api`'s serving plan: refuses unsafe settings before doing anything,
and starts Granian with what production needs (respawn, a large backlog, a
kill timeout longer than the graceful-shutdown grace)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from chatapp.config import Settings, setting_errors
from chatapp.serve import APP_TARGET, ConfigError, plan
from tests.support.paths import ROOT

SECRET = "s" * 32


def settings(**overrides: object) -> Settings:
    return Settings(**{"jwt_secret": SECRET, **overrides})  # type: ignore[arg-type]


def test_make_api_refuses_to_start_without_jwt_secret() -> None:
    env = {key: value for key, value in os.environ.items() if key != "JWT_SECRET"}
    finished = subprocess.run(
        ["make", "--no-print-directory", "api"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode != 0
    assert "JWT_SECRET is not set" in finished.stderr


def test_make_api_refuses_a_jwt_secret_shorter_than_32_bytes() -> None:
    finished = subprocess.run(
        ["make", "--no-print-directory", "api"], cwd=ROOT, env={**os.environ, "JWT_SECRET": "x" * 31},
        capture_output=True, text=True, timeout=120,
    )
    assert finished.returncode != 0
    assert "at least 32 bytes" in finished.stderr


def test_a_32_byte_secret_is_enough() -> None:
    assert plan(settings(jwt_secret="é" * 16), {}).workers == 1


def test_one_worker_when_workers_is_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKERS", raising=False)
    assert plan(settings(), {}).workers == 1
    monkeypatch.setenv("WORKERS", "")
    assert plan(settings(), {}).workers == 1


def test_several_workers_need_redis() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        plan(settings(workers=4), {})


@pytest.mark.parametrize("raw", ["0", "-1", "four", "4.0"])
def test_a_bad_worker_count_is_refused_in_the_operators_terms(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", raw)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert setting_errors(refused.value).startswith(f"WORKERS={raw!r}: WORKERS must be")


def test_redis_url_reaches_reflex_as_reflex_redis_url() -> None:
    serve_plan = plan(settings(redis_url="redis://127.0.0.1:6379/0", workers=4), {})
    env = serve_plan.environment({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert env["REFLEX_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert "--workers" in (command := serve_plan.command()) and command[command.index("--workers") + 1] == "4"


def test_each_worker_is_told_how_many_workers_share_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", " 4 ")
    serve_plan = plan(settings(redis_url="redis://127.0.0.1:6379/0"), {})
    told = serve_plan.environment({"WORKERS": " 4 "})["WORKERS"]
    assert told == "4"
    monkeypatch.setenv("WORKERS", told)  # what a worker's own Settings then reads
    assert Settings(stream_reads_per_second=500).stream_reads_per_worker == 125


def test_make_api_refuses_a_setting_that_does_not_parse_naming_its_variable() -> None:
    finished = subprocess.run(["make", "--no-print-directory", "api"], cwd=ROOT,
                              env={**os.environ, "JWT_SECRET": SECRET, "DB_POOL_SIZE": "many"},
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2
    assert "make api: DB_POOL_SIZE='many': " in finished.stderr


def test_granian_serves_reflex_prod_target_with_respawn_and_a_larger_backlog() -> None:
    command = plan(settings(), {}).command()
    assert command[command.index("--factory") + 1] == APP_TARGET
    assert command[command.index("--interface") + 1] == "asgi"
    assert "--respawn-failed-workers" in command
    assert int(command[command.index("--backlog") + 1]) > 1024


def test_workers_run_on_uvloop() -> None:
    command = plan(settings(), {}).command()
    assert command[command.index("--loop") + 1] == "uvloop"


def test_workers_are_killed_only_after_the_shutdown_grace() -> None:
    serve_plan = plan(settings(shutdown_grace_seconds=30), {})
    assert serve_plan.kill_timeout_seconds > 30
    command = serve_plan.command()
    assert int(command[command.index("--workers-kill-timeout") + 1]) == serve_plan.kill_timeout_seconds


def test_workers_run_reflex_in_backend_only_production_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from reflex_base import constants
    from reflex_base.environment import environment

    env = plan(settings(), {"BACKEND_HOST": "0.0.0.0"}).environment({"FRONTEND_PORT": "3000"})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert environment.REFLEX_ENV_MODE.get() == constants.Env.PROD
    assert environment.REFLEX_BACKEND_ONLY.get() is True
    assert env["REFLEX_BACKEND_HOST"] == "0.0.0.0"
    assert "FRONTEND_PORT" not in env


def test_workers_skip_the_frontend_compile_as_reflex_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read back through Reflex's own environment, which looks the switch up
    under its internal name: four workers compiling into one .web at once
    crashed each other."""
    from reflex_base.environment import environment

    for name, value in plan(settings(), {}).environment({}).items():
        monkeypatch.setenv(name, value)
    assert environment.REFLEX_SKIP_COMPILE.get() is True


def test_a_previous_builds_page_list_is_removed_before_the_workers_start(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from chatapp.serve import forget_stateful_pages

    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(tmp_path))
    (tmp_path / "backend").mkdir()
    stale = tmp_path / "backend" / "stateful_pages.json"
    stale.write_text('["/a-page-this-code-no-longer-has"]')
    forget_stateful_pages()
    assert not stale.exists()
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(tmp_path / "never-built"))  # a fresh clone has no .web
    forget_stateful_pages()


# ---- the run directory: metrics files and Granian's JSON logging ----------------------

def test_each_start_gives_the_workers_a_fresh_metrics_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from chatapp.serve import fresh_run_dir

    run_dir = fresh_run_dir(tmp_path, os.getpid())
    serve_plan = plan(settings(), {}, run_dir=run_dir)
    serve_plan.prepare()
    metrics_dir = run_dir / "metrics"
    assert metrics_dir.is_dir() and not list(metrics_dir.iterdir())
    assert serve_plan.environment({})["PROMETHEUS_MULTIPROC_DIR"] == str(metrics_dir)


def test_a_dead_servers_run_directory_is_removed_and_a_live_ones_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from chatapp.serve import RUN_DIR_PREFIX, fresh_run_dir

    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f"{RUN_DIR_PREFIX}{dead.pid}" / "metrics").mkdir(parents=True)
    (tmp_path / f"{RUN_DIR_PREFIX}1" / "metrics").mkdir(parents=True)  # pid 1 is always alive
    fresh_run_dir(tmp_path, os.getpid())
    assert not (tmp_path / f"{RUN_DIR_PREFIX}{dead.pid}").exists()
    assert (tmp_path / f"{RUN_DIR_PREFIX}1").exists()


def test_an_operators_metrics_directory_is_used_and_emptied(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chosen = tmp_path / "prometheus"
    chosen.mkdir()
    (chosen / "counter_123.db").write_bytes(b"stale")
    serve_plan = plan(settings(), {"PROMETHEUS_MULTIPROC_DIR": str(chosen)}, run_dir=tmp_path / "run")
    (tmp_path / "run").mkdir()
    serve_plan.prepare()
    assert serve_plan.environment({})["PROMETHEUS_MULTIPROC_DIR"] == str(chosen)
    assert not list(chosen.glob("*.db"))


def test_granian_logs_json_unless_text_is_asked_for(tmp_path) -> None:  # type: ignore[no-untyped-def]
    json_plan = plan(settings(log_format="json"), {}, run_dir=tmp_path)
    json_plan.prepare()
    command = json_plan.command()
    assert command[command.index("--log-config") + 1] == str(tmp_path / "granian-logging.json")
    assert "chatapp.logs.JsonFormatter" in (tmp_path / "granian-logging.json").read_text()
    assert "--log-config" not in plan(settings(log_format="text"), {}, run_dir=tmp_path).command()


# ---- a worker that evaluates no page --------------------------------------------------

ROUTES_OF_A_WORKER = """
from chatapp.chatapp import app
served = app()
paths = set()
def collect(node):
    for route in getattr(node, "routes", []):
        paths.add(getattr(route, "path", ""))
        collect(getattr(route, "app", None))
collect(served)
print(sorted(paths))
"""


def test_a_worker_that_evaluates_no_page_still_serves_the_upload_route(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The second worker to start reads the first one's page list, an empty
    one, and evaluates no page; the route the web UI's Import posts to must be
    there all the same."""
    web_dir = tmp_path / "web"
    (web_dir / "backend").mkdir(parents=True)
    (web_dir / "backend" / "stateful_pages.json").write_text("[]")
    env = plan(settings(), {}).environment({
        **os.environ, "JWT_SECRET": SECRET, "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "REFLEX_WEB_WORKDIR": str(web_dir),
    })
    finished = subprocess.run(
        [sys.executable, "-c", ROUTES_OF_A_WORKER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "'/_upload'" in finished.stdout, finished.stdout[-2000:]
    assert not (web_dir / "package.json").exists()
