"""Recipes: which run, their validation problems in place, the source, and dry runs on stored events."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from hub.auth import Role
from hub.errors import ConfigError, Forbidden, NotFound
from hub.events import Event
from hub.ops import OPS, RecipeView
from hub.store import EventFilter
from hub.web.access import DASHBOARD, act, page, principal_of, render

__all__ = ["add_routes", "problem_lines"]

_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<message>.*)$")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/recipes", recipe_list, name="recipes")
    router.add_get("/recipes/{name}", detail, name="recipe")
    router.add_post("/recipes/{name}/enable", switch)
    router.add_post("/recipes/{name}/disable", switch)
    router.add_post("/recipes/{name}/dry-run", dry_run)


def problem_lines(problems: list[str]) -> dict[int, list[str]]:
    """``file:line: message`` problems by line number (those without a line are left out)."""
    out: dict[int, list[str]] = {}
    for problem in problems:
        match = _LINE.match(problem)
        if match is not None:
            out.setdefault(int(match.group("line")), []).append(match.group("message"))
    return out


@page()
async def recipe_list(request: web.Request) -> web.StreamResponse:
    views = await request.app[OPS].recipes()
    return render(request, "recipes.html", recipes=views)


async def _view(request: web.Request) -> RecipeView:
    name = request.match_info["name"]
    for view in await request.app[OPS].recipes():
        if view.name == name:
            return view
    raise NotFound(f"no recipe named {name!r}")


async def _detail(
    request: web.Request,
    view: RecipeView,
    result: dict[str, object] | None,
    event_id: str,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    try:
        source = Path(view.file).read_text(encoding="utf-8")
    except OSError as exc:
        source = f"# cannot read {view.file}: {exc.strerror}"
    recipe = request.app[DASHBOARD].hub.recipe_map().get(view.name)
    samples: list[Event] = []
    if recipe is not None:
        flt = EventFilter(type=recipe.trigger.event, connection=recipe.trigger.connection, limit=8)
        samples, _ = await request.app[DASHBOARD].hub.store.list_events(flt)
    return render(
        request,
        "recipe.html",
        status=status,
        view=view,
        lines=source.splitlines(),
        marks=problem_lines(view.problems),
        samples=samples,
        result=result,
        event_id=event_id,
        error=error,
    )


@page()
async def detail(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    return await _detail(request, view, None, request.query.get("event", ""))


@page(Role.ADMIN)
async def switch(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    enable = request.path.endswith("/enable")
    back = f"/recipes/{name}" if (await request.post()).get("back") != "list" else "/recipes"
    return await act(
        request,
        request.app[OPS].set_recipe_enabled(principal_of(request), name, enable),
        back,
        f"Recipe {name} {'enabled: new events start runs' if enable else 'disabled: new events start no runs'}.",
    )


@page(Role.ADMIN)
async def dry_run(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    event_id = str((await request.post()).get("event_id") or "").strip()
    if not event_id:
        return await _detail(request, view, None, "", "Pick or paste an event id.", 422)
    try:
        result = await request.app[OPS].dry_run(principal_of(request), view.name, event_id)
    except Forbidden as exc:
        return render(request, "error.html", status=403, title="Not allowed", message=str(exc))
    except (ConfigError, NotFound) as exc:
        return await _detail(request, view, None, event_id, str(exc).strip("'\""), 422)
    return await _detail(request, view, result, event_id)
