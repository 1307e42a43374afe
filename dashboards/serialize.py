"""YAML and JSON as carewatch writes them: stable key order, multi-line strings as blocks."""

from __future__ import annotations

import json
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def to_yaml(data: Any, header: str = "") -> str:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    return (header + body) if header else body


def plain(data: Any) -> Any:
    """SDK models (anything with ``to_json``) as plain dicts and lists, recursively."""
    return json.loads(json.dumps(data, cls=JSONEncoder))


def to_json(data: Any) -> str:
    return json.dumps(data, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"
