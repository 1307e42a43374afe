"""Seeded event logs for the benchmark, written as JSON lines straight to a file.

:func:`write_log` writes the throughput log: ``events`` lines of ``care.event/1``
(messages, replies, status changes) for cases that start at random instants of a
one-day window of event time and mostly stay open past its end, so a 1,000,000-event
log holds about 170,000 cases open at once (at its end), a 20,000-event one about
3,500. Each case is one customer in a thread shared by three customers (as on X), of
one of five brands on one of five platforms; messages carry a short text in one of six
languages, and ``lang`` only on X (X's payload gives it; elsewhere the stream detects
it). A case's cycle: one to three turns of one or two messages, sometimes a bot reply,
an internal note or ``status=pending``, then an agent's reply (85 %); 60 % of cycles are
resolved, after a long tail (mean 1.5 days), and some resolved cases are reopened.

The log is in ``occurred_at`` order except for neighbours less than half the allowed
lateness apart swapped (10 %), and 1 % of the lines are repeats of a line a few lines
earlier (a connector's retry), so no event is a straggler. Events after the window's
end are left out (the log is a window onto longer conversations).

Built for speed (about 5 s per million lines): per event only a compact tuple until the
sort, then one ``orjson.dumps`` each. Lines are checked against the contract by the
tests (``decode_event``), not here.
"""

from __future__ import annotations

import functools
import heapq
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

BRANDS: Final = ("du", "tele2_ru", "mobifone", "china_mobile", "beeline_kz")
PLATFORMS: Final = ("x", "facebook", "telegram", "webchat", "email")
PRIORITIES: Final = (None, None, None, "low", "normal", "high", "urgent")
START: Final = 1_790_000_000.0  # 2026-09-21T14:13:20Z, a Monday
WINDOW: Final = 86_400.0  # the log's span of event time
LATENESS: Final = 60.0  # the worker's default allowed lateness

# Short customer messages in the worker's six default languages.
TEXTS: Final[dict[str, tuple[str, ...]]] = {
    "en": (
        "my internet is down again since this morning",
        "why was I charged twice for my plan this month",
        "no signal at home, calls keep dropping",
        "how do I change my tariff to the cheaper one",
        "still waiting for an answer about my refund",
    ),
    "ru": (
        "интернет снова не работает с утра",
        "почему с меня дважды списали плату за тариф",
        "дома нет сети, звонки обрываются",
        "как перейти на более дешёвый тариф",
        "до сих пор жду ответа по возврату денег",
    ),
    "vi": (
        "mạng lại bị mất từ sáng đến giờ",
        "tại sao tháng này tôi bị trừ tiền cước hai lần",
        "ở nhà không có sóng, cuộc gọi liên tục bị ngắt",
        "làm sao để đổi sang gói cước rẻ hơn",
        "tôi vẫn đang chờ trả lời về khoản hoàn tiền",
    ),
    "zh": (
        "从早上开始网络又断了",
        "为什么这个月的套餐费扣了我两次",
        "家里没有信号，电话一直掉线",
        "怎么把套餐换成便宜一点的",
        "退款的事我还在等你们的答复",
    ),
    "ar": (
        "الإنترنت لا يعمل مرة أخرى منذ الصباح",
        "لماذا تم خصم رسوم باقتي مرتين هذا الشهر",
        "لا توجد تغطية في المنزل والمكالمات تنقطع",
        "كيف أغير باقتي إلى الباقة الأرخص",
        "ما زلت أنتظر الرد بخصوص استرداد المبلغ",
    ),
    "et": (
        "internet ei tööta jälle alates hommikust",
        "miks mult selle kuu paketi eest kaks korda raha võeti",
        "kodus pole levi, kõned katkevad pidevalt",
        "kuidas ma saan odavama paketi peale minna",
        "ootan ikka veel vastust raha tagastamise kohta",
    ),
}
LANGS: Final = tuple(TEXTS)
REPLY_TEXT: Final = "Sorry about that, we are looking into it now."

# Event kinds in the compact tuples (the string is written as it is).
MESSAGE, REPLY, BOT, NOTE, PENDING, RESOLVED, REOPENED = range(7)


@dataclass(frozen=True, slots=True)
class Case:
    """What every event of one case shares."""

    number: int
    brand: str
    platform: str
    lang: str
    priority: str | None

    def key(self, seed: int) -> str:
        """The case key of the events :func:`encode` writes for this case."""
        return f"{self.platform}:{self.brand}:s{seed}t{self.number // 3}:s{seed}c{self.number}"


@dataclass(frozen=True, slots=True)
class LogStats:
    """What a written log holds; ``peak_open`` counts cases open at once, by the contract
    (first ``message`` of a cycle until ``status=resolved``), in event time."""

    lines: int
    unique_events: int
    repeats: int
    cases: int
    messages: int
    replies: int
    statuses: int
    peak_open: int
    open_at_end: int
    first_at: float
    last_at: float

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


# One event before encoding: (occurred_at, case number, sequence in case, kind).
Compact = tuple[float, int, int, int]


def rfc3339_ms(instant: float) -> str:
    """``2026-09-21T14:13:20.123Z``: milliseconds, as platforms give them."""
    seconds, ms = divmod(round(instant * 1000), 1000)
    return f"{_whole_second(seconds)}.{ms:03d}Z"


@functools.lru_cache(maxsize=4096)
def _whole_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def encode(case: Case, seed: int, seq: int, kind: int, at: float, rng: random.Random) -> bytes:
    """One ``care.event/1`` line for event ``seq`` of ``case``."""
    doc: dict[str, Any] = {
        "schema": "care.event/1",
        "event_id": f"s{seed}e{case.number}-{seq}",
        "kind": "message" if kind == MESSAGE else ("status" if kind >= PENDING else "reply"),
        "platform": case.platform,
        "brand": case.brand,
        "thread_id": f"s{seed}t{case.number // 3}",
        "customer_id": f"s{seed}c{case.number}",
        "occurred_at": rfc3339_ms(at),
    }
    if kind == MESSAGE:
        doc["text"] = rng.choice(TEXTS[case.lang])
        if case.platform == "x":
            doc["lang"] = case.lang
        if case.priority is not None and rng.random() < 0.5:
            doc["priority"] = case.priority
    elif kind in (REPLY, BOT, NOTE):
        doc["author_type"] = "human" if kind != BOT else rng.choice(("bot", "automation"))
        doc["text"] = REPLY_TEXT
        if kind == NOTE:
            doc["visibility"] = "internal"
        elif kind == REPLY and rng.random() < 0.3:
            doc["visibility"] = "private"
    else:
        doc["status"] = ("pending", "resolved", "reopened")[kind - PENDING]
    return orjson.dumps(doc)


def _case_events(
    rng: random.Random, number: int, end: float
) -> tuple[Case, list[Compact], list[tuple[float, float]]]:
    """One case's events up to ``end`` and its open intervals ``(opened, closed)``."""
    case = Case(
        number, rng.choice(BRANDS), rng.choice(PLATFORMS), rng.choice(LANGS), rng.choice(PRIORITIES)
    )
    t = START + rng.uniform(0.0, WINDOW)
    out: list[Compact] = []
    opened: list[tuple[float, float]] = []

    def add(kind: int) -> None:
        if t <= end:
            out.append((round(t, 3), number, len(out), kind))

    for cycle in range(rng.choice((1, 1, 1, 1, 2))):
        if cycle and rng.random() < 0.3:
            add(REOPENED)  # the new cycle opens at the status (CONTRACT section 3)
        start = t
        for _turn in range(rng.randint(1, 3)):
            for _ in range(rng.randint(1, 2)):
                add(MESSAGE)
                t += rng.uniform(5.0, 300.0)
            if rng.random() < 0.3:
                add(BOT)
                t += rng.uniform(1.0, 30.0)
            if rng.random() < 0.1:
                add(NOTE)
            if rng.random() < 0.1:
                add(PENDING)
                t += rng.uniform(60.0, 7200.0)
            t += rng.expovariate(1 / 1800)  # agents answer in half an hour on average
            if rng.random() < 0.85:
                add(REPLY)
            t += rng.uniform(60.0, 3600.0)
        if rng.random() >= 0.6:
            opened.append((start, float("inf")))
            break  # never resolved: open to the end of the log
        t += rng.expovariate(1 / (1.5 * WINDOW))
        add(RESOLVED)
        opened.append((start, t if t <= end else float("inf")))
        t += rng.uniform(3600.0, 2 * WINDOW)
    return case, out, [(a, b) for a, b in opened if a <= end]


def _peak_open(intervals: list[tuple[float, float]]) -> tuple[int, int]:
    """The most intervals overlapping at one instant, and how many never close."""
    changes = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    peak = now = 0
    for _, step in changes:
        now += step
        peak = max(peak, now)
    return peak, sum(1 for _, b in intervals if b == float("inf"))


def write_log(
    path: Path,
    events: int,
    seed: int = 1,
    advance: Callable[[int], None] = lambda n: None,
) -> LogStats:
    """Write exactly ``events`` lines to ``path`` (see the module docstring).

    ``advance(n)`` reports progress: ``n`` more events generated, then ``n`` more lines
    written; the total it reaches is about ``2 * events``.
    """
    rng = random.Random(seed)
    repeats = events // 100
    wanted = events - repeats
    end = START + WINDOW
    cases: list[Case] = []
    compact: list[Compact] = []
    intervals: list[tuple[float, float]] = []
    while len(compact) < wanted:
        case, case_events, opened = _case_events(rng, len(cases), end)
        cases.append(case)
        taken = case_events[: wanted - len(compact)]
        compact.extend(taken)
        intervals.extend(opened)
        advance(len(taken))
    compact.sort()
    _disorder(compact, rng)
    repeat_at = set(rng.sample(range(wanted), repeats))
    later: list[tuple[int, int, bytes]] = []  # heap of (write after line, tiebreak, line)
    counts = [0] * 7
    with path.open("wb", buffering=1 << 20) as out:
        for index, (at, number, seq, kind) in enumerate(compact):
            line = encode(cases[number], seed, seq, kind, at, rng)
            counts[kind] += 1
            out.write(line + b"\n")
            if index in repeat_at:
                heapq.heappush(later, (index + rng.randint(1, 5), index, line))
            while later and later[0][0] <= index:
                out.write(heapq.heappop(later)[2] + b"\n")
            if index % 10_000 == 9_999:
                advance(10_000)
        for _, _, line in sorted(later):
            out.write(line + b"\n")
        advance(len(compact) % 10_000)
    peak, open_at_end = _peak_open(intervals)
    return LogStats(
        lines=wanted + repeats,
        unique_events=wanted,
        repeats=repeats,
        cases=len(cases),
        messages=counts[MESSAGE],
        replies=counts[REPLY] + counts[BOT] + counts[NOTE],
        statuses=counts[PENDING] + counts[RESOLVED] + counts[REOPENED],
        peak_open=peak,
        open_at_end=open_at_end,
        first_at=compact[0][0] if compact else START,
        last_at=max((c[0] for c in compact), default=START),
    )


def _disorder(compact: list[Compact], rng: random.Random) -> None:
    """Swap 10 % of neighbours less than half the lateness apart (each moves one place)."""
    i = 0
    while i < len(compact) - 1:
        if rng.random() < 0.1 and compact[i + 1][0] - compact[i][0] < LATENESS / 2:
            compact[i], compact[i + 1] = compact[i + 1], compact[i]
            i += 2
        else:
            i += 1


def open_cases(
    numbers: range, start: float = START, span: float = 300.0, seed: int = 2
) -> Iterator[tuple[bytes, bytes, float]]:
    """One customer message for each case of ``numbers``, spread over ``span`` seconds
    of event time from ``start``: ``(key, line, occurred_at)``. Each case is open and
    waits for a first reply; brand ``beeline_kz`` has the example policy's defaults (24/7,
    60 min to the first reply), so no case is decided within an hour of ``start``.
    ``lang`` and ``topic`` are given (the stream need not detect them)."""
    rng = random.Random(seed + numbers.start)
    for index, number in enumerate(numbers):
        at = round(start + span * index / max(len(numbers), 1), 3)
        thread, customer = f"open{seed}t{number}", f"open{seed}c{number}"
        doc = {
            "schema": "care.event/1",
            "event_id": f"open{seed}-{number}",
            "kind": "message",
            "platform": "webchat",
            "brand": "beeline_kz",
            "thread_id": thread,
            "customer_id": customer,
            "occurred_at": rfc3339_ms(at),
            "text": rng.choice(TEXTS["en"]),
            "lang": "en",
            "topic": "network",
        }
        yield f"webchat:beeline_kz:{thread}:{customer}".encode(), orjson.dumps(doc), at
