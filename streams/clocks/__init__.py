"""The response clocks of CONTRACT.md section 3: a pure, typed state machine per case.

``on_event`` / ``on_clock`` take a :class:`CaseState` and return a :class:`Step` (the new
state, the SLA decisions of section 4, and metric effects). See :mod:`.machine` for the
timeline semantics and :mod:`.rules` for the rules themselves.
"""

from streams.clocks.decisions import (
    Counted,
    CountName,
    Decision,
    Effect,
    How,
    Observed,
    Outcome,
    Sla,
    rfc3339,
)
from streams.clocks.machine import CaseMismatch, Step, on_clock, on_event
from streams.clocks.rules import PolicyLookup
from streams.clocks.state import CaseState

__all__ = [
    "CaseMismatch",
    "CaseState",
    "CountName",
    "Counted",
    "Decision",
    "Effect",
    "How",
    "Observed",
    "Outcome",
    "PolicyLookup",
    "Sla",
    "Step",
    "on_clock",
    "on_event",
    "rfc3339",
]
