"""Run intake (``python -m tierline_intake``'s command line) for a test that kills it: with
TIERLINE_TEST_HOLD_AFTER_COMMIT=1 the IMAP fetcher stops for good right after a mail's commit and
before its move, so that a SIGKILL sent once the commit is visible lands exactly there.

    python tests/support/intake_imap_runner.py serve
"""

from __future__ import annotations

import asyncio
import os
import sys

from tierline_intake.__main__ import main
from tierline_intake.mail import imap
from tierline_intake.mail.ingest import Outcome


async def _hold(self: imap.Fetcher, uid: int, outcome: Outcome) -> None:
    await asyncio.Event().wait()  # never moves on: the test kills the process here


if __name__ == "__main__":
    if os.environ.get("TIERLINE_TEST_HOLD_AFTER_COMMIT") == "1":
        imap.Fetcher.committed = _hold  # type: ignore[method-assign]
    sys.exit(main())
