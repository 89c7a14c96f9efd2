"""Progress lines the runner parses: `progress {json}` on stdout, one per step."""

from __future__ import annotations

import json
import sys
import time


class Progress:
    def __init__(self, total: int, unit: str, stream=None, start_done: int = 0):
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stdout
        self.t0 = time.monotonic()
        self.start_done = start_done
        self.tokens = 0

    def update(self, done: int, tokens: int = 0, **fields) -> dict:
        self.tokens += tokens
        el = max(time.monotonic() - self.t0, 1e-9)
        rate = (done - self.start_done) / el
        ev = {"done": done, "total": self.total, "unit": self.unit}
        if self.tokens:
            ev["tokens_per_s"] = round(self.tokens / el, 1)
        if rate > 0:
            ev["eta_s"] = round((self.total - done) / rate, 1)
        ev.update({k: v for k, v in fields.items() if v is not None})
        print("progress " + json.dumps(ev, sort_keys=True), file=self.stream, flush=True)
        return ev
