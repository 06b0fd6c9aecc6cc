"""Structured JSON logs for our code and for the libraries that log through stdlib.

A line written while a span is current carries its ``trace_id`` and ``span_id`` (hex, as trace
backends show them), so a log line leads to its trace and a trace to its log lines.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from opentelemetry import trace

# Libraries that repeat one complaint for every retry while a dependency is away (aiokafka logs
# thousands of lines a minute while the broker is down): their repeats are held back.
REPEATING_LOGGERS = ("aiokafka", "kafka")
REPEAT_INTERVAL_SECONDS = 10.0
SUPPRESSED_EVENT = "log_lines_suppressed"
_NUMBERS = re.compile(r"\d+")
_SUMMARY_MARK = "_tierline_repeat_summary"


@dataclass
class _Window:
    started: float
    record: logging.LogRecord  # the line that opened the window: what the summary names
    suppressed: int = 0


class RepeatLimiter(logging.Filter):
    """Lets one line of a kind through per interval from ``loggers``, then says how many it held back.

    A kind is the logger, the level and the message template (numbers in it ignored, so node ids
    and ports do not make lines different). The first line of a kind always passes; the others
    within the interval are counted, and once it is over one line (same logger and level, event
    ``log_lines_suppressed``) says how many. That summary is written when the next line of any
    logger passes through the handler, so a flood that stops is still accounted for.
    """

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], object],
        *,
        loggers: tuple[str, ...] = REPEATING_LOGGERS,
        interval: float = REPEAT_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._emit = emit  # the handler's own ``handle``: summaries go where the lines go
        self._loggers = loggers
        self._interval = interval
        self._monotonic = monotonic
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._next_expiry = float("inf")
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SUMMARY_MARK, False):
            return True  # one of our summaries
        now = self._monotonic()
        with self._lock:
            summaries = self._expire(now)
            passes = True
            if self._limits(record.name):
                key = (record.name, record.levelno, _NUMBERS.sub("#", str(record.msg)))
                window = self._windows.get(key)
                if window is None:
                    self._windows[key] = _Window(now, record)
                    self._next_expiry = min(self._next_expiry, now + self._interval)
                else:
                    window.suppressed += 1
                    passes = False
        for summary in summaries:
            self._emit(summary)
        return passes

    def _limits(self, name: str) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in self._loggers)

    def _expire(self, now: float) -> list[logging.LogRecord]:
        """Close the windows that are over; a summary for each that held lines back."""
        if now < self._next_expiry:
            return []
        summaries = []
        for key, window in list(self._windows.items()):
            if now - window.started >= self._interval:
                del self._windows[key]
                if window.suppressed:
                    summaries.append(self._summary(window))
        self._next_expiry = min((w.started for w in self._windows.values()), default=float("inf"))
        self._next_expiry += self._interval
        return summaries

    def _summary(self, window: _Window) -> logging.LogRecord:
        first = window.record
        summary = logging.LogRecord(first.name, first.levelno, __file__, 0, SUPPRESSED_EVENT, None, None)
        summary.__dict__.update(
            {
                _SUMMARY_MARK: True,
                "suppressed": window.suppressed,
                "template": str(first.msg),
                "interval_seconds": self._interval,
            }
        )
        return summary


def add_trace_ids(
    logger: object, method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A structlog processor: the current span's ids, when there is a valid one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


_SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    add_trace_ids,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(
    service: str, level: str = "INFO", *, monotonic: Callable[[], float] = time.monotonic
) -> None:
    """Route structlog and stdlib (uvicorn, aiokafka, sqlalchemy) to one JSON stream.

    ``monotonic`` is the clock of the repeat limiter (``RepeatLimiter``) on Kafka clients' lines.
    """
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ExtraAdder(allow=("suppressed", "template", "interval_seconds")),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatLimiter(handler.handle, monotonic=monotonic))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # aiokafka is chatty at INFO about group rebalances; keep its warnings.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
