"""Keep what anyone can trigger without signing in from filling the logs.

A request with a Host outside ALLOWED_HOSTS, or a body over DATA_UPLOAD_MAX_MEMORY_SIZE, makes
Django log a SuspiciousOperation on `django.security.<name>` with its traceback: some fifty lines
per request, for a request of a hundred bytes. The handlers in settings.LOGGING therefore
- write a `django.security.*` record as its one line, without the traceback
  (`OneLineSecurityEvents`): what happened and the offending value are in the message, and the
  traceback, always the same Django frames, adds nothing;
- let through at most a set number of warnings and errors per logger, level and second
  (`RepeatLimit`); the first line let through after some were dropped says how many.
"""

import logging
import threading
import time


class OneLineSecurityEvents(logging.Filter):
    """Drops the traceback of records logged under `django.security`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security."):
            record.exc_info = record.exc_text = record.stack_info = None
        return True


class RepeatLimit(logging.Filter):
    """At most `per_second` records of WARNING or above per (logger, level) in each second.

    Lower levels pass untouched: they are off unless asked for. The count of the records dropped
    in a second is appended to the next record of that logger and level that passes.
    """

    def __init__(self, per_second: int = 10):
        super().__init__()
        self.per_second = per_second
        # (logger name, level) -> [window start, records passed in it, records dropped since]
        self.windows: dict[tuple[str, int], list] = {}
        self.lock = threading.Lock()  # handlers call filters outside their own lock

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        now = time.monotonic()
        key = (record.name, record.levelno)
        with self.lock:
            window = self.windows.get(key)
            if window is None or now - window[0] >= 1:
                dropped = window[2] if window else 0
                window = self.windows[key] = [now, 0, 0]
            else:
                dropped = 0
            if window[1] >= self.per_second:
                window[2] += 1
                return False
            window[1] += 1
            if len(self.windows) > 10_000:  # one entry per logger and level: only a leak grows it
                self.windows = {key: window}
        if dropped:
            record.msg = f"{record.msg} [{dropped} more like this dropped]"
        return True
