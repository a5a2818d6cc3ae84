"""Per-client-address rate limits (a fixed one-minute window per address and bucket)."""
from __future__ import annotations

import time


class RateLimiter:
    def __init__(self, per_minute: int, max_clients: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._windows: dict[str, tuple[int, int]] = {}  # address -> (minute, count)

    def allow(self, address: str, now: float | None = None) -> bool:
        """True when the address may go on; 0 per minute disables the limit."""
        if self.per_minute <= 0:
            return True
        minute = int((time.monotonic() if now is None else now) // 60)
        start, count = self._windows.get(address, (minute, 0))
        if start != minute:
            start, count = minute, 0
        if count >= self.per_minute:
            return False
        if len(self._windows) >= self.max_clients and address not in self._windows:
            self._windows = {a: w for a, w in self._windows.items() if w[0] == minute}
        self._windows[address] = (start, count + 1)
        return True

    def retry_after(self, now: float | None = None) -> int:
        t = time.monotonic() if now is None else now
        return max(1, 60 - int(t % 60))
