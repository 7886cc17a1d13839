"""Progress display for long imports and generation: tqdm when installed, a small fallback."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, TextIO

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``callback(done, total)`` after each batch; ``total`` may be None."""

ProgressOption = bool | ProgressCallback | None
"""What importers accept as ``progress=``: off (default), on, or your own callback."""


class Progress(Protocol):
    """A progress sink: ``update(n)`` after each unit of work, ``close()`` at the end."""

    def update(self, n: int) -> None:
        """Record ``n`` more units done."""

    def close(self) -> None:
        """Finish the display."""


class _Silent:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


class _Callback:
    def __init__(self, callback: ProgressCallback, total: int | None) -> None:
        self._callback = callback
        self._total = total
        self._done = 0

    def update(self, n: int) -> None:
        self._done += n
        self._callback(self._done, self._total)

    def close(self) -> None:
        pass


class TextProgress:
    """A minimal progress line on a text stream, redrawn at most every ``interval`` seconds.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = TextProgress("import", total=4, stream=out, interval=0.0)
        >>> bar.update(2); bar.update(2); bar.close()
        >>> out.getvalue().splitlines()[-1].startswith("import: 4/4")
        True
    """

    def __init__(
        self,
        desc: str,
        *,
        total: int | None = None,
        unit: str = "rows",
        stream: TextIO | None = None,
        interval: float = 0.5,
    ) -> None:
        self.desc = desc
        self.total = total
        self.unit = unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._start = time.monotonic()
        self._last = float("-inf")

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self.done / elapsed
        if self.total:
            pct = 100.0 * self.done / self.total
            return f"{self.desc}: {self.done}/{self.total} {self.unit} ({pct:.0f}%, {rate:,.0f}/s)"
        return f"{self.desc}: {self.done} {self.unit} ({rate:,.0f}/s)"

    def update(self, n: int) -> None:
        """Add ``n`` done units and redraw if the interval has passed."""
        self.done += n
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._stream.write("\r" + self._line())
            self._stream.flush()

    def close(self) -> None:
        """Draw the final line and end it with a newline."""
        self._stream.write("\r" + self._line() + "\n")
        self._stream.flush()

    def __enter__(self) -> TextProgress:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Tqdm:
    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def update(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def make_progress(
    option: ProgressOption, desc: str, *, total: int | None = None, unit: str = "rows"
) -> Progress:
    """The progress sink for an importer's ``progress=`` option.

    ``None``/``False`` is silent (the default in library calls); ``True`` shows tqdm when
    it is installed and :class:`TextProgress` on stderr otherwise; a callable receives
    ``(done, total)`` after each batch.

    Example:
        >>> seen = []
        >>> p = make_progress(lambda done, total: seen.append(done), "x", total=10)
        >>> p.update(3); p.update(4); p.close()
        >>> seen
        [3, 7]
    """
    if option is None or option is False:
        return _Silent()
    if option is True:
        try:
            from tqdm import tqdm
        except ImportError:
            return TextProgress(desc, total=total, unit=unit)
        return _Tqdm(tqdm(total=total, desc=desc, unit=unit))
    return _Callback(option, total)
