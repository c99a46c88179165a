"""What the REST routes resolve before their handler runs. FastAPI runs a
plain `def` dependency in its thread pool: a thread hop per dependency per
request, for work far cheaper than the hop."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from chatapp.api.app import ROUTES


def every_dependency(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from every_dependency(dependency)


def runs_on_the_event_loop(call: object) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(getattr(call, "__call__", None))


def api_routes() -> list[APIRoute]:
    return [route for module in ROUTES for route in module.router.routes if isinstance(route, APIRoute)]


def test_no_route_dependency_runs_in_the_thread_pool() -> None:
    routes = api_routes()
    assert any(route.path == "/api/{user_id}/chat" for route in routes)
    threaded = {
        f"{route.path}: {dependency.call!r}"
        for route in routes for dependency in every_dependency(route.dependant)
        if not runs_on_the_event_loop(dependency.call)
    }
    assert threaded == set()


def test_no_route_handler_runs_in_the_thread_pool() -> None:
    assert {route.path for route in api_routes() if not inspect.iscoroutinefunction(route.endpoint)} == set()
