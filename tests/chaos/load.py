"""A steady stream of incidents, each POST with its own Idempotency-Key, retried with it until a deadline.

A seeded share of the incidents is then escalated by hand up to L4 (the run's fault-injecting vendor):
the router's assignment is read and ``POST /v1/incidents/{id}/escalate`` sent, again and again, until
the assignment says L4. Reading before each POST makes a retried escalation safe: one that committed
before its answer was cut is seen, not repeated past L4.

Runs in its own thread with its own event loop (the main thread drives the faults). A POST cut by a
fault (connection refused or reset, a timeout, a 5xx) is sent again with the same key and body, so
one that had committed before the cut is replayed, never created twice. A POST still failing when its
retry budget runs out counts as refused: the client was told no, which is allowed; losing an
accepted incident is not.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

SERVICES = ("vpn", "email", "payments", "crm", "storage")
CATEGORIES = ("network", "software", "hardware", "access")
PRIORITIES = ("P1", "P2", "P3", "P4")
PRIORITY_WEIGHTS = (1, 2, 4, 3)
REQUEST_TIMEOUT = 30.0  # an answer this late still counts; later, the POST is sent again
FAILURES = (TimeoutError, OSError, aiohttp.ClientError)


@dataclass
class Post:
    """One incident as the client saw it."""

    key: str
    sent_at: float  # wall clock (time.time()) of the first attempt
    attempts: int = 0
    incident_id: str | None = None
    status: int | None = None  # the last answer's status code, None for a connection error
    error: str = ""  # why it was refused in the end
    last_failure: str = ""  # what the last failed attempt ended with
    replayed: bool = False
    accepted_at: float | None = None
    escalate: bool = False  # chosen to be escalated by hand to L4
    escalated_at: float | None = None  # the router's assignment said L4
    escalation_error: str = ""  # why the escalation was given up


@dataclass
class Load:
    intake_url: str
    api_key: str
    incidents: int
    rate: float
    seed: int
    run_id: str
    retry_budget: float = 90.0  # seconds a POST keeps being retried after its first attempt
    router_url: str = ""
    escalate_share: float = 0.0  # of the incidents, escalated by hand to L4 once accepted
    posts: dict[str, Post] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    started_at: float | None = None
    finished_at: float | None = None  # wall clock when the last POST was answered or given up

    # -- counts for the progress lines and the verdict -------------------------------------------

    @property
    def accepted(self) -> int:
        return sum(1 for p in self.posts.values() if p.incident_id)

    @property
    def refused(self) -> int:
        return sum(1 for p in self.posts.values() if p.incident_id is None and p.error)

    @property
    def pending(self) -> int:
        return sum(1 for p in self.posts.values() if p.incident_id is None and not p.error)

    @property
    def escalated(self) -> dict[str, float]:
        """Incident id -> when the router first said it is at L4."""
        return {
            p.incident_id: p.escalated_at for p in self.posts.values() if p.incident_id and p.escalated_at
        }

    @property
    def retried(self) -> int:
        return sum(1 for p in self.posts.values() if p.attempts > 1)

    @property
    def replays(self) -> int:
        return sum(1 for p in self.posts.values() if p.replayed)

    def progress(self) -> str:
        return (
            f"posted {len(self.posts):,}/{self.incidents:,}: accepted {self.accepted:,},"
            f" refused {self.refused:,}, in retry/flight {self.pending:,}"
            f" (retried {self.retried:,}, replayed {self.replays:,}); at L4 {len(self.escalated):,}"
        )

    def title(self, key: str) -> str:
        return f"chaos {self.run_id} {key}: checkout latency above threshold"

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._main, name="chaos-load", daemon=True)
        thread.start()
        return thread

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc
        finally:
            self.finished_at = time.time()
            self.done.set()

    async def _run(self) -> None:
        rng = random.Random(self.seed)
        bodies = [self._body(i, rng) for i in range(self.incidents)]
        escalate = {key for key, _ in bodies if rng.random() < self.escalate_share}
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        connector = aiohttp.TCPConnector(limit=64, force_close=False)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            tasks = []
            self.started_at = time.time()
            start = time.monotonic()
            for i, (key, body) in enumerate(bodies):
                if self.stop.is_set():
                    break
                await asyncio.sleep(max(0.0, start + i / self.rate - time.monotonic()))
                tasks.append(asyncio.create_task(self._post(http, key, body, key in escalate)))
            try:
                while not all(t.done() for t in tasks):
                    if self.stop.is_set():
                        break
                    await asyncio.sleep(0.2)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _body(self, i: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
        key = f"chaos-{self.run_id}-{i:06d}"
        body = {
            "title": self.title(key),
            "description": "Raised by the fault-injection run.",
            "service": SERVICES[rng.randrange(len(SERVICES))],
            "category": CATEGORIES[rng.randrange(len(CATEGORIES))],
            "priority": rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0],
            "channel": "api",
            "reporter": "chaos@example.com",
        }
        return key, body

    async def _post(
        self, http: aiohttp.ClientSession, key: str, body: dict[str, Any], escalate: bool
    ) -> None:
        post = self.posts[key] = Post(key=key, sent_at=time.time(), escalate=escalate)
        await self._create(http, post, body)
        if escalate and post.incident_id:
            await self._escalate(http, post)

    async def _escalate(self, http: aiohttp.ClientSession, post: Post) -> None:
        """Up the ladder by hand until the router's assignment says L4 (read before every POST)."""
        deadline = time.monotonic() + self.retry_budget + 30  # the router may not know it yet
        url = f"{self.router_url}/v1/incidents/{post.incident_id}"
        headers = {"Authorization": f"Bearer {self.api_key}"}
        pause, last = 0.5, ""
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/assignment", headers=headers) as resp:
                    text = await resp.text()
                    if resp.status == 200:
                        if json.loads(text).get("tier") == "L4":
                            post.escalated_at = time.time()
                            return
                        async with http.post(
                            f"{url}/escalate", json={"note": "chaos: by hand to the vendor"}, headers=headers
                        ) as up:
                            last = f"escalate: HTTP {up.status} {(await up.text())[:160]}"
                            if up.status == 200:
                                pause = 0.5
                                continue
                    else:
                        last = f"assignment: HTTP {resp.status}"  # 404: the router has not placed it yet
            except FAILURES as exc:
                last = type(exc).__name__
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
        post.escalation_error = f"gave up escalating (last: {last})"

    async def _create(self, http: aiohttp.ClientSession, post: Post, body: dict[str, Any]) -> None:
        key = post.key
        deadline = time.monotonic() + self.retry_budget
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": key}
        raw = json.dumps(body)
        pause = 0.25
        while True:
            post.attempts += 1
            try:
                async with http.post(
                    f"{self.intake_url}/v1/incidents",
                    data=raw,
                    headers={**headers, "content-type": "application/json"},
                ) as resp:
                    text = await resp.text()
                    post.status = resp.status
                    if resp.status in (200, 201):
                        post.incident_id = json.loads(text)["id"]
                        post.replayed = resp.headers.get("Idempotent-Replayed") == "true"
                        post.accepted_at = time.time()
                        return
                    if resp.status < 500 and resp.status != 429:
                        post.error = f"{resp.status}: {text[:200]}"  # our request was wrong: no retry
                        return
                    post.last_failure = f"HTTP {resp.status}"
            except FAILURES as exc:
                post.status, post.last_failure = None, type(exc).__name__
            if time.monotonic() + pause > deadline:
                post.error = f"gave up retrying (last attempt: {post.last_failure})"
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
