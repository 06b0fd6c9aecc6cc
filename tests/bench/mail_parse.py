"""make bench: what parsing hostile mail costs, as a ratio to parsing an ordinary mail in the same run.

Each input of tests/support/hostile_mail.py (before intake's limits, 2.7 s to minutes each) goes
through intake's ``parse``; the baseline is the standard library parsing an ordinary 20 KB mail
with an attachment (``email.message_from_bytes`` with ``policy.default``, body read). Medians of a
bounded number of rounds; machines here are shared, so only the ratios mean much.

    python -m tests.bench.mail_parse [--rounds N]
"""

from __future__ import annotations

import argparse
import email
import statistics
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage

from tests.support.hostile_mail import HOSTILE
from tierline_intake.mail.message import Rejected, parse
from tierline_launcher.procs import say


def _ordinary() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Rita Example <rita@example.com>"
    mail["To"] = "support@tierline.localhost"
    mail["Subject"] = "The printer on floor 3 jams"
    mail.set_content("It jams on every second page since this morning.\n" * 200)
    mail.add_attachment(b"%PDF-1.7 " + bytes(10_000), maintype="application", subtype="pdf", filename="a.pdf")
    return bytes(mail)


def _stdlib(raw: bytes) -> None:
    message = email.message_from_bytes(raw, policy=policy.default)
    for part in message.walk():
        part.get_payload(decode=True)


def _intake(raw: bytes) -> str:
    try:
        parse(raw)
    except Rejected as exc:
        return f"refused: {exc.reason}"
    return "read"


def _median_seconds(fn: Callable[[], object], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per input (median)")
    rounds = max(1, parser.parse_args().rounds)
    ordinary = _ordinary()
    baseline = _median_seconds(lambda: _stdlib(ordinary), rounds * 4)
    own = _median_seconds(lambda: _intake(ordinary), rounds * 4)
    say(f"mail parse baseline (stdlib, ordinary {len(ordinary) // 1024} KB mail): {baseline * 1000:.2f} ms")
    print(f"{'input':<44} {'size':>9} {'median':>10} {'ratio':>8}  outcome")
    label = "ordinary mail (intake parse)"
    print(f"{label:<44} {len(ordinary):>9} {own * 1000:>8.2f}ms {own / baseline:>8.1f}  read")
    for name, build in HOSTILE.items():
        raw = build()
        outcome = _intake(raw)
        seconds = _median_seconds(lambda raw=raw: _intake(raw), rounds)
        print(f"{name:<44} {len(raw):>9} {seconds * 1000:>8.2f}ms {seconds / baseline:>8.1f}  {outcome[:60]}")


if __name__ == "__main__":
    main()
