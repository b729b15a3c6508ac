"""Users, keys, login, and the admin's queues and jobs (/api/admin/users, /api/api-keys,
/api/auth/login, /api/queues, /api/jobs)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import zod
from ..core import Core
from ..data import (
    PERMISSION_NAMES,
)
from ..records import OWN, ApiKey
from ..shapes import ApiError, invalid, json_response
from ..views import avatar_color


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "createdAt": key.created_at,
        "updatedAt": key.created_at,
        "permissions": key.permissions,
    }


class AdminRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core

    def add_to(self, r: web.UrlDispatcher) -> None:
        r.add_get("/api/api-keys/me", self.api_keys_me)
        r.add_post("/api/api-keys", self.api_key_create)
        r.add_post("/api/auth/login", self.login)
        r.add_post("/api/admin/users", self.user_create)
        r.add_get("/api/jobs", self.jobs_list)
        r.add_put("/api/jobs/{name}", self.job_command)
        # 2.7.5 has them too (golden 51e-51g, V3-DIFFERENCES 30).
        r.add_get("/api/queues", self.queues_list)
        r.add_get("/api/queues/{name}", self.queue_get)
        r.add_put("/api/queues/{name}", self.queue_update)

    # -- queues and jobs (admin only) ---------------------------------------------------------
    def _admin(self, request: web.Request, permission: str) -> None:
        key = self.core.auth(request, permission)
        if not key.admin:
            raise ApiError(403, "Forbidden")

    def _queue_name(self, request: web.Request) -> str:
        name = request.match_info["name"]
        if name not in self.core.queues:
            raise invalid(
                [f"name must be one of the following values: {', '.join(self.core.queues)}"],
                [zod.not_one_of(["name"], list(self.core.queues))],
            )
        return name

    def _counts(self, name: str) -> dict[str, int]:
        """The queue's jobs: the emulated work's when it costs (jobs.py), else none."""
        if self.core.jobs is not None and (counts := self.core.jobs.counts(name)) is not None:
            return counts
        return {"active": 0, "completed": 0, "failed": 0, "delayed": 0, "waiting": 0, "paused": 0}

    def _queue_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "isPaused": name in self.core.state.paused_queues,
            "statistics": self._counts(name),
        }

    def _job_json(self, name: str) -> dict[str, Any]:
        counts = self._counts(name)
        status = {
            "isPaused": name in self.core.state.paused_queues,
            "isActive": counts["active"] > 0,
        }
        return {"queueStatus": status, "jobCounts": counts}

    def _paused(self, name: str, paused: bool) -> None:
        self.core.state.pause_queue(name, paused)
        if self.core.jobs is not None:
            self.core.jobs.changed()

    async def queues_list(self, request: web.Request) -> web.Response:
        """GET /api/queues (golden 51e, golden-v3 45)."""
        self._admin(request, "queue.read")
        return json_response([self._queue_json(q) for q in self.core.queue_list])

    async def queue_get(self, request: web.Request) -> web.Response:
        self._admin(request, "queue.read")
        return json_response(self._queue_json(self._queue_name(request)))

    async def queue_update(self, request: web.Request) -> web.Response:
        """PUT /api/queues/{name} {"isPaused": bool} (golden 51f, golden-v3 45b, 45d, 45e)."""
        self._admin(request, "queue.update")
        name = self._queue_name(request)
        body = await self.core.read_json(request, "queue")
        paused = body.get("isPaused") if isinstance(body, dict) else None
        if paused is not None:
            if not isinstance(paused, bool):
                raise invalid(
                    ["isPaused must be a boolean value"],
                    [zod.invalid_type(["isPaused"], "boolean", paused)],
                )
            self._paused(name, paused)
        return json_response(self._queue_json(name))

    async def jobs_list(self, request: web.Request) -> web.Response:
        """GET /api/jobs (2.x; kept in 3.x as a legacy route, golden 45, golden-v3 45f)."""
        self._admin(request, "job.read")
        return json_response({q: self._job_json(q) for q in self.core.queues})

    async def job_command(self, request: web.Request) -> web.Response:
        """PUT /api/jobs/{name} {"command": "pause"|"resume", "force": bool} (2.x, golden 45b)."""
        self._admin(request, "job.create")
        name = self._queue_name(request)
        body = await self.core.read_json(request, "queue")
        command = body.get("command") if isinstance(body, dict) else None
        commands = ["start", "pause", "resume", "empty", "clear-failed"]
        if command not in commands:
            raise invalid(
                [f"command must be one of the following values: {', '.join(commands)}"],
                [zod.not_one_of(["command"], commands)],
            )
        if command in ("pause", "resume"):
            self._paused(name, command == "pause")
        return json_response(self._job_json(name))

    async def user_create(self, request: web.Request) -> web.Response:
        """POST /api/admin/users {email, password, name}: a new user with a library of its own
        (golden 47-00a), who may then log in and make keys."""
        self._admin(request, "adminUser.create")
        body = await self.core.read_json(request, "user-create")
        body = body if isinstance(body, dict) else {}
        errors: list[str] = []
        issues: list[dict[str, Any]] = []
        for name in ("email", "password", "name"):
            if not isinstance(body.get(name), str):
                errors.append(f"{name} must be a string")
                issues.append(zod.invalid_type([name], "string", body.get(name)))
        if errors:
            raise invalid(errors, issues)
        email = str(body["email"]).lower()
        if email == self.core.user["email"] or self.core.state.user_by_email(email):
            raise ApiError(400, "User exists")
        user = self.core.state.create_user(
            email, str(body["name"]), str(body["password"]), avatar_color(email)
        )
        return json_response(self.core.views.user_json(user.id), 201)

    async def api_keys_me(self, request: web.Request) -> web.Response:
        key = self.core.auth(request, "")
        if key.is_session:
            raise ApiError(403, "Not authenticated with an API Key")
        return json_response(_key_json(key))

    async def api_key_create(self, request: web.Request) -> web.Response:
        """POST /api/api-keys: how users make (limited) keys (golden-v3 00c, 36a)."""
        body = await self.core.read_json(request, "api-key-create")
        body = body if isinstance(body, dict) else {}
        perms = body.get("permissions")
        if not isinstance(perms, list) or not all(
            isinstance(p, str) and p in PERMISSION_NAMES for p in perms
        ):
            v2 = ["each value in permissions must be one of the following values: all, ..."]
            issues = (
                [zod.invalid_type(["permissions"], "array", perms)]
                if not isinstance(perms, list)
                else [
                    zod.not_one_of(["permissions", i], list(PERMISSION_NAMES))
                    for i, p in enumerate(perms)
                    if not (isinstance(p, str) and p in PERMISSION_NAMES)
                ]
            )
            raise invalid(v2, issues)
        name = str(body["name"]) if isinstance(body.get("name"), str) else "API Key"
        owner = self.core.auth(request, "apiKey.create").user_id
        key = self.core.state.create_api_key(perms, name=name, user_id=owner)
        return json_response({"secret": key.secret, "apiKey": _key_json(key)}, 201)

    async def login(self, request: web.Request) -> web.Response:
        """POST /api/auth/login as the emulated user (any non-empty password: it is a test
        server) or as a user an admin made (its password), with the real server's cookies
        (golden-v3 00b, golden 47-00b)."""
        body = await self.core.read_json(request, "login")
        body = body if isinstance(body, dict) else {}
        email, password = body.get("email"), body.get("password")
        made = self.core.state.user_by_email(str(email).lower()) if isinstance(email, str) else None
        if made is not None and password == made.password:
            owner = made.id
        elif email == self.core.user["email"] and password:
            owner = OWN
        else:
            raise ApiError(401, "Incorrect email or password")
        token = self.core.state.create_session(owner)
        user = self.core.views.user_json(owner)
        response = json_response(
            {
                "accessToken": token,
                "userId": user["id"],
                "userEmail": user["email"],
                "name": user["name"],
                "isAdmin": user["isAdmin"],
                "profileImagePath": user["profileImagePath"],
                "shouldChangePassword": user["shouldChangePassword"],
                "isOnboarded": False,
            },
            201,
        )
        age = 34_560_000  # 400 days, as the real server sets them
        for name, value, http_only in (
            ("immich_access_token", token, True),
            ("immich_auth_type", "password", True),
            ("immich_is_authenticated", "true", False),
        ):
            response.set_cookie(
                name, value, max_age=age, path="/", httponly=http_only, samesite="Lax"
            )
        return response
