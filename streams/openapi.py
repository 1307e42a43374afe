"""The OpenAPI 3.1 description of the worker's HTTP views, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

_ROW = {
    "type": "object",
    "properties": {
        "case_key": {"type": "string"},
        "brand": {"type": "string"},
        "platform": {"type": "string"},
        "priority": {"enum": ["urgent", "high", "normal", "low"]},
        "sla": {"enum": ["first_reply", "next_reply"]},
        "cycle": {"type": "integer", "minimum": 1},
        "waiting_since": {"type": "string", "format": "date-time"},
        "waiting_since_ts": {"type": "number", "description": "POSIX seconds"},
        "waiting_seconds": {"type": "number"},
        "deadline": {"type": ["string", "null"], "format": "date-time"},
        "time_left_seconds": {"type": ["number", "null"], "description": "negative once breached"},
        "link": {"type": ["string", "null"], "description": "the conversation on its platform"},
    },
}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_REFUSALS = {
    "401": _json(_ERROR, "missing or wrong bearer token"),
    "403": _json(_ERROR, "no API token configured (CAREWATCH_API_TOKEN)"),
    "503": _json(
        _ERROR, "a rebalance is under way or a worker did not answer: retry (Retry-After)"
    ),
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "carewatch worker", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/cases/waiting": {
            "get": {
                "summary": "Cases waiting for a reply, oldest first, across all workers",
                "parameters": [
                    {"name": n, "in": "query", "schema": {"type": "string"}}
                    for n in ("brand", "platform", "priority")
                ]
                + [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50}},
                    {
                        "name": "scope",
                        "in": "query",
                        "schema": {"enum": ["local"]},
                        "description": "only this worker's partitions (used between workers)",
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "cases": {"type": "array", "items": _ROW},
                                "count": {"type": "integer"},
                            },
                        },
                        "the complete list (never a partial one)",
                    ),
                    "400": _json(_ERROR, "bad limit"),
                    **_REFUSALS,
                },
            }
        },
        "/cases/{case_key}": {
            "get": {
                "summary": "One case's state, from the worker that owns its partition",
                "parameters": [
                    {
                        "name": "case_key",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "percent-encoded {platform}:{brand}:{thread_id}:{customer_id}",
                    },
                ],
                "responses": {
                    "200": _json({"type": "object"}, "the partition and the case state"),
                    "404": _json(_ERROR, "no such case"),
                    **_REFUSALS,
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Worker health",
                "security": [],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {"200": {"description": "text format 0.0.4"}},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
    },
}
