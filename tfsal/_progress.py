"""A small text progress bar on stderr, shared by predict, evaluate and export's calibration."""
import sys
import time

__all__ = ["Progress"]

#: Seconds between redraws: on a terminal (one line rewritten with ``\r``), and in a log file (one line each).
TTY_INTERVAL_S, LOG_INTERVAL_S = 0.1, 5.0


class Progress:
    """``label  12/97 [=====>     ] 41.3 image/s ETA 0:02  (2 bad)`` on stderr.

    On a terminal the line is rewritten in place; when the stream is not a terminal (a log file, a pipe) a plain
    line is written every :data:`LOG_INTERVAL_S` seconds and at the end, without control characters.

    Args:
        total: the number of items, or ``None`` when unknown (a generator): the count and rate are shown, no bar.
        label: text before the count.
        stream: where to write (default ``sys.stderr``).
        width: bar width in characters.
        unit: the item name in the rate.

    Example:
        >>> bar = Progress(3, "demo")  # doctest: +SKIP
        >>> for i in range(3):  # doctest: +SKIP
        ...     bar.update(i + 1)
        >>> bar.close()  # doctest: +SKIP
    """

    def __init__(self, total, label="", stream=None, width=30, unit="image"):
        self.total = None if total is None else int(total)
        self.label, self.width, self.unit = label, width, unit
        self.stream = stream or sys.stderr
        self.start = time.time()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = -1.0 if self._tty else self.start  # a log gets its first line after LOG_INTERVAL_S
        self._shown = None

    def update(self, done, note=""):
        """Show ``done`` items finished (drawn only when the interval has passed or at the end); ``note`` is appended."""
        now = time.time()
        final = self.total is not None and done >= self.total
        if not final and now - self._last < (TTY_INTERVAL_S if self._tty else LOG_INTERVAL_S):
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        if self.total is not None:
            filled = int(self.width * min(done, self.total) / max(self.total, 1))
            arrow = ("=" * filled + (">" if filled < self.width else "") + " " * self.width)[: self.width]
            text = f"{self.label}  {done}/{self.total} [{arrow}] "
            eta = (self.total - done) / rate if rate > 0 and not final else 0
        else:
            text, eta = f"{self.label}  {done} ", 0
        text += f"{rate:.1f} {self.unit}/s" if rate >= 1 else f"{elapsed / max(done, 1):.2f} s/{self.unit}"
        if eta:
            text += f" ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        if note:
            text += f"  ({note})"
        self._shown = (done, note)
        self.stream.write(("\r" + text + "\x1b[K") if self._tty else text + "\n")
        self.stream.flush()

    def close(self, done=None, note=""):
        """Finish the bar: draw the last state (``done`` items, when given) and end the line on a terminal."""
        if done is not None and self._shown != (done, note):
            self._last = -1e9
            self.update(done, note)
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
