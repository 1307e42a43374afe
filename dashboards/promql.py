"""A small PromQL reader: which series and which labels an expression names.

Not a parser: it tokenizes (strings, range brackets and numbers are opaque) and walks
the tokens, which is enough to list ``metric{label=...}`` selectors and the label names
of ``by``/``without``/``on``/``ignoring``/``group_left``/``group_right`` lists in the
expressions carewatch generates. Grafana's ``$variables`` may appear inside strings and
range brackets. Used by the name check (tests/dashboards/test_names.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*\b)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){},=<>@])
  | (?P<other>\S)
    """,
    re.VERBOSE,
)
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"bool", "and", "or", "unless", "offset", "inf", "nan", "Inf", "NaN"})


@dataclass
class Selector:
    metric: str | None  # None for a selector without a name (``{__name__=~"..."}``)
    labels: list[str] = field(default_factory=list)


@dataclass
class Names:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)  # labels of by/on/... lists

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors if s.metric}


class PromQLError(ValueError):
    pass


def _tokens(expr: str) -> list[tuple[str, str]]:
    out = []
    for match in _TOKEN.finditer(expr):
        kind = match.lastgroup or "other"
        if kind == "other":
            raise PromQLError(f"unexpected {match.group()!r} at {match.start()} in {expr!r}")
        if kind != "space":
            out.append((kind, match.group()))
    return out


def names(expr: str) -> Names:
    """The selectors and grouping labels of ``expr``."""
    tokens = _tokens(expr)
    found = Names()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in _LABEL_LISTS:
            if following == "(":
                labels, i = _label_list(tokens, i + 2)
                found.grouping.update(labels)
                continue
            i += 1
        elif kind == "ident" and text in _KEYWORDS:
            i += 1
        elif kind == "ident" and (following == "(" or following in ("by", "without")):
            i += 1  # a function or aggregation (``sum by (x) (...)``)
        elif kind == "ident":
            selector = Selector(text)
            i += 1
            if following == "{":
                selector.labels, i = _matchers(tokens, i + 1)
            found.selectors.append(selector)
        elif text == "{":
            labels, i = _matchers(tokens, i + 1)
            found.selectors.append(Selector(None, labels))
        else:
            i += 1
    return found


def _label_list(tokens: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    labels = []
    while i < len(tokens) and tokens[i][1] != ")":
        if tokens[i][0] == "ident":
            labels.append(tokens[i][1])
        i += 1
    return labels, i + 1


def _matchers(tokens: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    labels = []
    while i < len(tokens) and tokens[i][1] != "}":
        kind, text = tokens[i]
        if kind == "ident" and i + 1 < len(tokens) and tokens[i + 1][1] in ("=", "!=", "=~", "!~"):
            labels.append(text)
        i += 1
    if i >= len(tokens):
        raise PromQLError("unclosed {")
    return labels, i + 1


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+),\s*)?(?P<label>\w+)\s*\)\s*$")


def label_values(query: str) -> tuple[str | None, str]:
    """Grafana's ``label_values(selector, label)`` variable query, split in its parts."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise PromQLError(f"not a label_values() query: {query!r}")
    return match.group("selector"), match.group("label")
