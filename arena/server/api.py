"""The HTTP API, /api/v1: FastAPI routes over the Service. Every error is JSON
`{"error": "..."}` with its status; no traceback and no path a client sends ever reaches a
file name (agents, matches and replays are addressed by id, checked against a pattern)."""
from __future__ import annotations

import json
import logging
import re
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from arena.errors import CheckpointError, IncompatibleAgents, UserError
from arena.server.errors import BadRequest, Conflict, NotFound
from arena.server.human import check_rating
from arena.server.ladder import LadderConfig
from arena.server.pages import pages_router
from arena.server.readcache import ReadCache
from arena.server.service import Service
from arena.server.submissions import InvalidAgent, NotACheckpoint
from arena.server.tokens import SCOPES
from arena.tournaments.human_check import InvalidGame, NotAReplay

log = logging.getLogger("arena.server")
VERSION = "1"
# Bytes a request other than an upload may carry.
SMALL_BODY = 1 << 20
# A played game's replay is an upload too (the agents' limit).
GAME_POST = re.compile(r"^/api/v1/tournaments/[^/]+/players/[^/]+/games/[^/]+/?$")
_STATUS = [(NotFound, 404), (Conflict, 409), (NotACheckpoint, 415), (InvalidAgent, 422), (NotAReplay, 415),
           (InvalidGame, 422), (BadRequest, 400),
           (IncompatibleAgents, 400), (CheckpointError, 400), (UserError, 400)]


def error(status: int, message: str) -> JSONResponse:
    # One line, whatever a client put into the values the message quotes.
    return JSONResponse({"error": " ".join(str(message).split())[:1000]}, status_code=status)


class BodyLimit:
    """ASGI middleware: counts a request's body as it streams (a Content-Length may lie or be
    absent) and refuses it past the limit; refuses every request once the server is stopping."""

    def __init__(self, app, upload_limit: int, state):
        self.app = app
        self.upload_limit = upload_limit
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.state.shutting_down:
            return await error(503, "the server is shutting down; retry in a moment")(scope, receive, send)
        upload = scope["method"] == "POST" and (scope["path"].rstrip("/") == "/api/v1/agents"
                                                or GAME_POST.match(scope["path"]) is not None)
        limit = self.upload_limit + (64 << 10 if upload else 0) if upload else SMALL_BODY
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await error(413, _too_large(upload, self.upload_limit))(scope, receive, send)
        # Read the whole body here, counting it, before the app sees any of it: a parser
        # further in would turn an error raised mid-stream into a generic 400.
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > limit:
                return await error(413, _too_large(upload, self.upload_limit))(scope, receive, send)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


def _too_large(upload: bool, limit: int) -> str:
    if upload:
        return f"the upload is over the server's limit of {limit // 2**20} MiB; `arena serve --upload-limit` raises it"
    return f"the request body is over {SMALL_BODY // 2**20} MiB; a spec is a small JSON object"


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="arena", version=VERSION, description="The arena server: agents, tournaments, ladders, "
                  "matches and replays. Writes need `Authorization: Bearer TOKEN`.")
    app.state.service = service
    app.state.shutting_down = False
    app.add_middleware(ReadCache, generation=service.generation)
    app.add_middleware(BodyLimit, upload_limit=service.config.upload_limit, state=app.state)

    @app.exception_handler(UserError)
    async def user_error(request, err: UserError):
        status = next(code for kind, code in _STATUS if isinstance(err, kind))
        return error(status, str(err))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error(400, f"bad request: {where + ': ' if where else ''}{first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, err: StarletteHTTPException):
        return error(err.status_code, str(err.detail))

    @app.exception_handler(Exception)
    async def internal(request, err: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error(500, "internal error; the server's log has the details")

    def token(scope: str):
        async def check(authorization: Annotated[str | None, Header(description="Bearer TOKEN")] = None):
            if not authorization or not authorization.startswith("Bearer "):
                raise _Auth(401, "this needs a token: send `Authorization: Bearer TOKEN` (`arena token new NAME` makes one)")
            have = service.tokens.scope(authorization[7:].strip())
            if have is None:
                raise _Auth(401, "the token is not one this server knows")
            if SCOPES.index(have) < SCOPES.index(scope):
                raise _Auth(403, f"this needs a token with scope {scope}; yours has {have}")
        return Depends(check)

    @app.exception_handler(_Auth)
    async def auth_error(request, err: _Auth):
        return error(err.status, err.message)

    @app.get("/api/v1/health", tags=["server"])
    def health():
        return {"status": "ok", "version": VERSION, **service.health(), "workers": service.config.workers,
                "backend": service.config.backend}

    @app.post("/api/v1/agents", status_code=201, tags=["agents"], dependencies=[token("submit")])
    async def submit_agent(file: Annotated[UploadFile, File(description="one arena .ckpt file")]):
        data = await file.read()
        agent, created = await run_in_threadpool(service.submit_agent, data)
        return JSONResponse({**_agent_summary(agent), "new": created}, status_code=201 if created else 200)

    @app.get("/api/v1/agents", tags=["agents"])
    def list_agents(env: str | None = None):
        return {"agents": [_agent_summary(a) for a in service.submissions.all(env)]}

    @app.get("/api/v1/agents/{agent_id}", tags=["agents"])
    def get_agent(agent_id: str):
        return service.agent_view(agent_id)

    @app.post("/api/v1/tournaments", status_code=202, tags=["tournaments"], dependencies=[token("submit")])
    async def post_tournament(request: Request, idempotency_key: Annotated[str | None, Header(max_length=128)] = None):
        body = _json_body(await request.body())
        view, created = await run_in_threadpool(service.create_tournament, body, idempotency_key)
        return JSONResponse({"id": view["id"], "status": view["status"], "cells_total": view["cells_total"]},
                            status_code=202 if created else 200)

    @app.get("/api/v1/tournaments", tags=["tournaments"])
    def list_tournaments():
        return {"tournaments": service.list_tournaments()}

    @app.get("/api/v1/tournaments/{tournament_id}", tags=["tournaments"])
    def get_tournament(tournament_id: str):
        return service.tournament_view(tournament_id)

    @app.delete("/api/v1/tournaments/{tournament_id}", tags=["tournaments"], dependencies=[token("submit")])
    def cancel_tournament(tournament_id: str):
        return service.cancel(tournament_id)

    @app.get("/api/v1/agents/{agent_id}/checkpoint", tags=["agents"], response_class=FileResponse)
    def get_agent_file(agent_id: str):
        """The agent's .ckpt file (a human series' client plays it in its own window)."""
        return FileResponse(service.agent_file(agent_id), media_type="application/x-arena-checkpoint",
                            filename=f"{agent_id[:12]}.ckpt")

    @app.get("/api/v1/human-series", tags=["human series"])
    def list_human_series():
        return {"series": service.humans.listing()}

    @app.post("/api/v1/tournaments/{tournament_id}/players/{player}/next", tags=["human series"],
              dependencies=[token("submit")])
    async def next_game(tournament_id: str, player: str):
        """The player's next game of a human series (their first request joins them): its
        number, the letter the agent is shown as, the agent's id to download, env, seat and seed."""
        return await run_in_threadpool(service.humans.next_game, tournament_id, player)

    @app.post("/api/v1/tournaments/{tournament_id}/players/{player}/games/{number}", status_code=201,
              tags=["human series"], dependencies=[token("submit")])
    async def post_game(tournament_id: str, player: str, number: int,
                        file: Annotated[UploadFile, File(description="the game's replay, as arena wrote it")],
                        rating: Annotated[int | None, Form(description="1-5; or later, by the rating route")] = None):
        """A played game: re-simulated and re-enacted with the server's agent before it counts;
        201 with the re-simulated returns, 200 when the same replay was stored before."""
        data = await file.read()
        view, created = await run_in_threadpool(service.humans.post_game, tournament_id, player, number, data, rating)
        return JSONResponse(view, status_code=201 if created else 200)

    @app.post("/api/v1/tournaments/{tournament_id}/players/{player}/games/{number}/rating", tags=["human series"],
              dependencies=[token("submit")])
    async def rate_game(tournament_id: str, player: str, number: int, request: Request):
        """The player's 1-5 rating of a stored game's agent: `{"rating": 4}`."""
        body = _json_body(await request.body())
        rating = body.get("rating") if isinstance(body, dict) else None
        check_rating(rating)
        return await run_in_threadpool(service.humans.rate, tournament_id, player, number, rating)

    @app.get("/api/v1/leaderboard", tags=["ladders"])
    def get_leaderboard(env: str, role: str | None = None):
        """The ladder of an env; a ladder by role (mpe_tag) ranks each role within itself,
        and `role` keeps one role's rows."""
        return service.ladders.leaderboard(env, role)

    @app.get("/api/v1/ladders", tags=["ladders"])
    def list_ladders():
        return {"ladders": [service.ladders.view(c.env) for c in service.ladders.configs()]}

    @app.post("/api/v1/ladders", status_code=201, tags=["ladders"], dependencies=[token("admin")])
    async def post_ladder(request: Request):
        body = _json_body(await request.body())
        view, created = await run_in_threadpool(lambda: service.ladders.ensure(LadderConfig.from_request(body)))
        return JSONResponse(view, status_code=201 if created else 200)

    @app.get("/api/v1/matches", tags=["matches"])
    def list_matches(agent: str | None = None, tournament: str | None = None):
        if tournament is not None:
            service.tournament_view(tournament)  # 404 when unknown
        return {"matches": service.matches(agent=agent, tournament=tournament)}

    @app.get("/api/v1/matches/{match_id}", tags=["matches"])
    def get_match(match_id: str):
        return service.match_view(match_id)

    @app.get("/api/v1/replays/{match_id}", tags=["matches"], response_class=FileResponse)
    def get_replay(match_id: str):
        path = service.replay_file(match_id)
        return FileResponse(path, media_type="application/x-arena-replay", filename=f"{match_id}.replay")

    @app.get("/api/v1/export", tags=["matches"])
    def export(env: str | None = None):
        return StreamingResponse(service.export(env), media_type="application/jsonl")

    app.include_router(pages_router(service))  # the HTML pages: /, /agents/ID, /tournaments/ID, /matches/ID
    return app


def _json_body(data: bytes):
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadRequest(f"the body is not valid JSON ({getattr(err, 'msg', err)}); send a JSON object") from None


class _Auth(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def _agent_summary(agent: dict) -> dict:
    return {k: agent[k] for k in ("id", "name", "env", "arch", "sha256", "status", "smoke", "submitted")}
