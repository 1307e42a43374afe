"""A stand-in for Grafana 11's HTTP API on 127.0.0.1 (aiohttp), strict about requests.

It serves the endpoints ``carewatch dashboards push`` uses, keeps what it is sent, and
checks each request as Grafana does (paths, methods, bearer token, required fields and
their types, references between objects); a request it cannot accept is answered with
Grafana's status code and recorded in ``problems``, so a test sees every mistake.
References: Grafana's HTTP API docs (folders, dashboards, alerting provisioning).
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

from aiohttp import web

from deploy.localstack.processes import free_port

DEFAULT_POLICY = {"receiver": "grafana-default-email", "group_by": ["grafana_folder", "alertname"]}
NO_DATA = {"Alerting", "NoData", "OK"}
EXEC_ERR = {"OK", "Alerting", "Error"}
DURATION = re.compile(r"^\d+[smhdw]$")


class FakeGrafana:
    def __init__(self, token: str) -> None:
        self.token = token
        self.port = free_port()
        self.requests: list[tuple[str, str]] = []
        self.problems: list[str] = []
        self.folders: dict[str, str] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}  # uid -> {"dashboard", "folderUid"}
        self.rule_groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.contact_points: dict[str, dict[str, Any]] = {}
        self.policy: dict[str, Any] = {
            **DEFAULT_POLICY,
            "routes": [
                {"receiver": "grafana-default-email", "object_matchers": [["team", "=", "billing"]]}
            ],
        }  # another team's route, which a push must keep
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- plumbing ---------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._check_auth])
        app.router.add_get("/api/folders/{uid}", self.get_folder)
        app.router.add_post("/api/folders", self.create_folder)
        app.router.add_post("/api/dashboards/db", self.save_dashboard)
        base = "/api/v1/provisioning"
        app.router.add_put(base + "/folder/{folder}/rule-groups/{group}", self.put_rule_group)
        app.router.add_get(base + "/contact-points", self.list_contact_points)
        app.router.add_post(base + "/contact-points", self.create_contact_point)
        app.router.add_put(base + "/contact-points/{uid}", self.update_contact_point)
        app.router.add_get(base + "/policies", self.get_policy)
        app.router.add_put(base + "/policies", self.put_policy)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @web.middleware
    async def _check_auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._refuse(401, f"{request.method} {request.path}: bad or missing token")
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPNotFound:
            return self._refuse(404, f"{request.method} {request.path}: no such endpoint")
        except web.HTTPMethodNotAllowed:
            return self._refuse(405, f"{request.method} {request.path}: method not allowed")
        return response

    def _refuse(self, status: int, problem: str) -> web.Response:
        self.problems.append(problem)
        return web.json_response({"message": problem}, status=status)

    async def _body(self, request: web.Request) -> Any:
        if request.content_type != "application/json":
            raise ValueError(f"Content-Type {request.content_type}, not application/json")
        return await request.json()

    # -- folders and dashboards -------------------------------------------------------
    async def get_folder(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid not in self.folders:
            return web.json_response({"message": "folder not found"}, status=404)
        return web.json_response({"uid": uid, "title": self.folders[uid], "id": 1})

    async def create_folder(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not isinstance(body.get("title"), str) or not body["title"]:
            return self._refuse(400, "POST /api/folders: title is required")
        uid = body.get("uid") or "generated"
        if uid in self.folders:
            return self._refuse(409, f"folder {uid} exists")
        self.folders[uid] = body["title"]
        return web.json_response({"uid": uid, "title": body["title"], "id": 1})

    async def save_dashboard(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        model = body.get("dashboard")
        where = "POST /api/dashboards/db"
        if not isinstance(model, dict) or not model.get("title") or not model.get("uid"):
            return self._refuse(400, f"{where}: dashboard with title and uid required")
        if model.get("id") is not None:
            return self._refuse(404, f"{where}: id {model['id']} names no dashboard here")
        if body.get("folderUid") not in self.folders:
            return self._refuse(400, f"{where}: folder {body.get('folderUid')} not found")
        if model["uid"] in self.dashboards and not body.get("overwrite"):
            return self._refuse(412, f"{where}: {model['uid']} exists, overwrite not set")
        if not isinstance(model.get("panels"), list) or "schemaVersion" not in model:
            return self._refuse(400, f"{where}: {model['uid']} has no panels or schemaVersion")
        ids = [p.get("id") for p in model["panels"]]
        if len(ids) != len(set(ids)) or None in ids:
            return self._refuse(400, f"{where}: {model['uid']} has missing or repeated panel ids")
        self.dashboards[model["uid"]] = {"dashboard": model, "folderUid": body["folderUid"]}
        uid = model["uid"]
        return web.json_response(
            {"id": 1, "uid": uid, "url": f"/d/{uid}", "status": "success", "version": 1}
        )

    # -- alerting provisioning --------------------------------------------------------
    async def put_rule_group(self, request: web.Request) -> web.Response:
        folder, group = request.match_info["folder"], request.match_info["group"]
        where = f"PUT rule group {folder}/{group}"
        if folder not in self.folders:
            return self._refuse(404, f"{where}: folder not found")
        body = await self._body(request)
        interval = body.get("interval")
        if not isinstance(interval, int) or interval < 10 or interval % 10:
            return self._refuse(400, f"{where}: interval {interval!r} is not a multiple of 10 s")
        if (
            body.get("title") != group
            or not isinstance(body.get("rules"), list)
            or not body["rules"]
        ):
            return self._refuse(400, f"{where}: title must be the group, rules a non-empty list")
        for rule in body["rules"]:
            if problem := self._rule_problem(rule, folder, group):
                return self._refuse(400, f"{where}: {rule.get('title')}: {problem}")
        self.rule_groups[(folder, group)] = body
        return web.json_response(body)

    def _rule_problem(self, rule: dict[str, Any], folder: str, group: str) -> str | None:
        required = ("title", "condition", "data", "noDataState", "execErrState", "for", "folderUID", "ruleGroup", "orgID")  # fmt: skip
        missing = [k for k in required if k not in rule]
        if missing:
            return f"missing {missing}"
        if rule["folderUID"] != folder or rule["ruleGroup"] != group:
            return "folderUID/ruleGroup differ from the path"
        if rule["noDataState"] not in NO_DATA or rule["execErrState"] not in EXEC_ERR:
            return "bad noDataState or execErrState"
        if not DURATION.match(rule["for"]) or len(rule.get("uid", "")) > 40:
            return f"bad for {rule['for']!r} or uid longer than 40"
        refs = {q.get("refId") for q in rule["data"]}
        if rule["condition"] not in refs:
            return f"condition {rule['condition']} is not a query"
        for query in rule["data"]:
            if not query.get("datasourceUid") or not isinstance(query.get("model"), dict):
                return f"query {query.get('refId')} without datasourceUid or model"
            is_expression = query["datasourceUid"] == "__expr__"
            if not is_expression and not query["model"].get("expr"):
                return f"query {query['refId']} has no expr"
            if not is_expression and "from" not in (query.get("relativeTimeRange") or {}):
                return f"query {query['refId']} has no relativeTimeRange"
        notes = rule.get("annotations") or {}
        if ("__dashboardUid__" in notes) != ("__panelId__" in notes):
            return "__dashboardUid__ and __panelId__ go together"
        if "__dashboardUid__" in notes:
            board = self.dashboards.get(notes["__dashboardUid__"])
            ids = {p["id"] for p in board["dashboard"]["panels"]} if board else set()
            if int(notes["__panelId__"]) not in ids:
                return (
                    f"links to a missing panel {notes['__dashboardUid__']}/{notes['__panelId__']}"
                )
        return None

    async def list_contact_points(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.contact_points.values()))

    def _point_problem(self, body: dict[str, Any]) -> str | None:
        if not body.get("name") or body.get("type") != "webhook":
            return "name and a known type are required"
        if not isinstance(body.get("settings"), dict) or not body["settings"].get("url"):
            return "a webhook needs settings.url"
        return None

    async def create_contact_point(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if problem := self._point_problem(body):
            return self._refuse(400, f"POST contact point: {problem}")
        if body.get("uid") in self.contact_points:
            return self._refuse(409, f"contact point {body['uid']} exists")
        self.contact_points[body["uid"]] = body
        return web.json_response(body, status=202)

    async def update_contact_point(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        body = await self._body(request)
        if uid not in self.contact_points:
            return self._refuse(404, f"PUT contact point {uid}: not found")
        if problem := self._point_problem(body):
            return self._refuse(400, f"PUT contact point {uid}: {problem}")
        self.contact_points[uid] = body
        return web.json_response({"message": "contactpoint updated"}, status=202)

    async def get_policy(self, request: web.Request) -> web.Response:
        return web.json_response(self.policy)

    async def put_policy(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        known = {p["name"] for p in self.contact_points.values()} | {"grafana-default-email"}

        def receivers(route: dict[str, Any]) -> set[str]:
            found = {route["receiver"]} if route.get("receiver") else set()
            for child in route.get("routes") or []:
                found |= receivers(child)
            return found

        if not body.get("receiver"):
            return self._refuse(400, "PUT policies: the root needs a receiver")
        if unknown := receivers(body) - known:
            return self._refuse(400, f"PUT policies: unknown receivers {sorted(unknown)}")
        self.policy = body
        return web.json_response({"message": "policies updated"}, status=202)
