"""Search progress: a tqdm bar on a terminal, plain lines otherwise (logs, CI): the first, the last, and at most
one a second in between."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm


PLAIN_LINE_INTERVAL_S = 1.0  # a log gets at most one line a second, however fast evaluations finish


class SearchProgress:
    def __init__(self, total: int, done: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        # sys.stderr looked up now, not at import, so a redirected stderr gets the lines
        self.total, self.done, self.stream, self.enabled = total, done, stream or sys.stderr, enabled
        self.start, self.start_done = time.monotonic(), done
        self.printed = 0.0  # when the last plain line was printed
        self.bar = tqdm(total=total, initial=done, file=self.stream, unit="eval", dynamic_ncols=True) \
            if enabled and self.stream.isatty() else None

    def update(self, record: dict[str, Any], best: float | None, front_size: int) -> None:
        self.done += 1
        best_text = f"{best:.3f}" if best is not None else "-"
        if self.bar is not None:
            self.bar.set_postfix_str(f"best={best_text} front={front_size}", refresh=False)
            self.bar.update(1)
        elif self.enabled and (self.done in (self.start_done + 1, self.total)
                               or time.monotonic() - self.printed >= PLAIN_LINE_INTERVAL_S):
            self.printed = time.monotonic()
            acc = f"{record['val_acc']:.3f}" if record.get("val_acc") is not None else "-"
            params = f"{record['params']:,}" if record.get("params") is not None else "-"
            print(f"[{self.done:>{len(str(self.total))}}/{self.total}] {record['status']:<8} acc={acc} params={params} "
                  f"best={best_text} front={front_size} eta={self._eta()}", file=self.stream, flush=True)

    def _eta(self) -> str:
        finished = self.done - self.start_done
        if finished == 0:
            return "?"
        seconds = int((time.monotonic() - self.start) / finished * (self.total - self.done))
        return f"{seconds // 60}m{seconds % 60:02d}s"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
