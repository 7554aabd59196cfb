"""Server-rendered pages over the Service's views: leaderboards (/), agents, tournaments and
matches (with the replay's video and plots of what the agents emitted), Jinja2 templates and
one CSS file. Pages of unfinished things poll the JSON API and update themselves.

An unknown id, or any error, renders a small error page with its status, never a traceback."""
from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path

import jinja2
from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from starlette.concurrency import run_in_threadpool

from arena import numfmt
from arena.errors import UserError
from arena.replay import open_replay
from arena.server.errors import NotFound
from arena.server.plots import trace_plots
from arena.server.service import Service
from arena.server.videos import VideoFailed, Videos
from arena.tournaments.report import heatmap_data
from arena.trace import trimmed

log = logging.getLogger("arena.server")
HERE = Path(__file__).parent
FINAL = ("finished", "failed", "cancelled")
MAX_MATCHES = 200  # rows of a page's match list
# Viridis at five stops: the heatmap's colours, low to high.
VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))

templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                               trim_blocks=True, lstrip_blocks=True)


def _est(e: dict | None) -> str:
    """mean ±half-width of a 95% CI, as the CLI's tables print it (n/a under 3 units)."""
    if not e:
        return "–"
    return numfmt.plus_minus(e)


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "–"


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _elo_ci(r: dict) -> str:
    """A rating's interval; none from a separated (prior-dominated) fit or too few games."""
    if r.get("low") is None or r.get("high") is None:
        return "n/a: prior-dominated" if r.get("prior_dominated") else "n/a"
    return f"[{r['low']:.0f}, {r['high']:.0f}]"


templates.filters.update(est=_est, when=_when, num=_num, short=lambda s: str(s)[:12], elo_ci=_elo_ci,
                         interval=numfmt.interval)


def render(name: str, code: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=code)


def error_page(status: int, message: str) -> HTMLResponse:
    titles = {404: "not found", 400: "bad request", 409: "conflict", 500: "internal error"}
    return render("error.html", status, status=status, title=titles.get(status, "error"), message=message)


def page(fn):
    """A page route: a UserError becomes its error page (404 for unknown ids), anything else a 500."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotFound as err:
            return error_page(404, str(err))
        except UserError as err:
            return error_page(400, str(err))
        except Exception:  # noqa: BLE001  (the page says so; the log has the traceback)
            log.exception("page %s", fn.__name__)
            return error_page(500, "something went wrong drawing this page; the server's log has the details")
    return wrapped


def heatmap(report: dict) -> dict | None:
    """The report's matrix as table rows of cells with a background colour by mean."""
    got = heatmap_data(report)
    if got is None:
        return None
    rows, cols, cells, title = got
    means = [c["mean"] for line in cells for c in line if c]
    lo, hi = (min(means), max(means)) if means else (0.0, 1.0)
    out = []
    for label, line in zip(rows, cells):
        row = []
        for c in line:
            if c is None:
                row.append(None)
                continue
            t = (c["mean"] - lo) / (hi - lo) if hi > lo else 0.5
            rgb = _viridis(t)
            mean, _, half = numfmt.plus_minus(c).partition(" ")
            row.append({"mean": mean, "half": half,
                        "style": f"background: rgb{rgb}; color: {'#000' if t > 0.55 else '#fff'}",
                        "title": f"{numfmt.interval(c)}, n = {c.get('n', '?')}"})
        out.append({"label": label, "cells": row})
    return {"title": title, "cols": cols, "rows": out}


def _viridis(t: float) -> tuple[int, int, int]:
    t = min(max(float(t), 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    return tuple(round(a + (b - a) * f) for a, b in zip(VIRIDIS[i], VIRIDIS[i + 1]))


def pages_router(service: Service) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    videos = Videos(service)

    def known(aid: str) -> bool:
        """A submitted agent (it has a page); zoo agents are not."""
        return service.submissions.get(aid) is not None

    @router.get("/static/arena.css")
    def css():
        return FileResponse(HERE / "static" / "arena.css", media_type="text/css", headers={"Cache-Control": "max-age=300"})

    @router.get("/", response_class=HTMLResponse)
    @page
    def index():
        boards, board_error = getattr(service, "leaderboards", None), None
        try:
            boards = boards() if callable(boards) else None
        except Exception:  # noqa: BLE001  (the tournaments below are still worth showing)
            log.exception("leaderboards")
            boards, board_error = None, "the leaderboards could not be computed; the server's log has the details"
        tournaments, rounds = [], []  # rounds: those a ladder or a series made, counted, not listed
        for t in reversed(service.list_tournaments()):
            server = service.jobs.tournament(t["id"]) or {}
            t["status"] = server.get("status", "unknown")
            (rounds if server.get("ladder") else tournaments).append(t)
        tournaments = tournaments[:50]
        series = []
        for sid in reversed(service.jobs.tournaments(ladder="sprt")[-20:]):
            row = service.jobs.tournament(sid)
            refs = row["request"].get("agents") or []
            names = [(service.submissions.get(r) or {}).get("name", r) if not r.startswith("zoo:") else r for r in refs]
            series.append({"id": sid, "status": row["status"], "created": row["created"], "names": names})
        humans = [{**h, "players": len(h["players"])} for h in reversed(service.humans.listing()[-20:])]
        live = bool(boards) or any(t["status"] not in FINAL for t in tournaments + series)
        return render("index.html", boards=boards, board_error=board_error, tournaments=tournaments, rounds=rounds,
                      series=series, humans=humans, live=live)

    @router.get("/agents/{agent_id}", response_class=HTMLResponse)
    @page
    def agent(agent_id: str):
        view = service.agent_view(agent_id)
        matches = service.matches(agent=view["id"])
        return render("agent.html", agent=view, m=view["manifest"], matches=matches[-MAX_MATCHES:], n_matches=len(matches))

    @router.get("/tournaments/{tournament_id}", response_class=HTMLResponse)
    @page
    def tournament(tournament_id: str):
        view = service.tournament_view(tournament_id)
        if view["mode"] == "sprt":  # a head-to-head series: its batches are the tournaments
            agents = [service.submissions.get(ref) if not ref.startswith("zoo:") else None for ref in view["agents"]]
            agents = [{"id": a["id"], "name": a["name"], "page": True} if a else {"id": ref, "name": ref, "page": False}
                      for a, ref in zip(agents, view["agents"])]
            return render("series.html", t=view, agents=agents, final=view["status"] in FINAL)
        if "players" in view:  # a human series: its players' own series hold the games
            return render("human.html", t=view, final=view["status"] in FINAL)
        agents = service.store.tournament(view["id"])["agents"]
        report = view.get("report")
        matches = service.matches(tournament=view["id"])
        return render("tournament.html", t=view, report=report, heatmap=heatmap(report) if report else None,
                      agents=[{**a, "page": known(a["id"])} for a in agents], by_name={a["name"]: a["id"] for a in agents},
                      matches=matches[:MAX_MATCHES], n_matches=len(matches), final=view["status"] in FINAL, known=known)

    @router.get("/matches/{match_id}", response_class=HTMLResponse)
    @page
    def match(match_id: str):
        view = service.match_view(match_id)
        plots, replay_error = [], None
        if view["replay"]:
            try:
                plots = replay_plots(service.replay_file(view["id"]))
            except Exception as err:  # noqa: BLE001  (a replay that cannot be read: the page says so)
                replay_error = f"{type(err).__name__}: {str(err)[:200]}"
        agents = [{"id": a, "name": n, "page": known(a)} for a, n in zip(view["agents"], view["names"])]
        return render("match.html", m=view, agents=agents, plots=plots, replay_error=replay_error)

    @router.get("/matches/{match_id}/video")
    async def video(match_id: str):
        try:
            path = await run_in_threadpool(videos.get, match_id)
        except NotFound as err:
            return error_page(404, str(err))
        except VideoFailed as err:
            return error_page(500, f"the replay of match {match_id} could not be drawn: {err}")
        return FileResponse(path, media_type="video/mp4")

    return router


def replay_plots(path: Path) -> list[dict]:
    """Plots of the first episode of a replay file (numpy only: no env, no jax)."""
    episodes = open_replay(path).episodes
    return trace_plots(trimmed(episodes[0])) if len(episodes) else []
