# Copyright 2026 mono_depth_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""How a running camera fares: skipped frames by cause, rates, latency (no ROS).

:class:`FaultLog` counts faults per kind and decides which warnings to print: one per kind
per period, so a flood of one fault never hides another. :class:`FrameStats` keeps the
arrival and publication times and latencies of the newest frames and summarises them
(rates over a recent window, latency percentiles) for the node's ``/diagnostics``.

May import: numpy.
"""

from __future__ import annotations

import collections
import time
from typing import Callable, Deque, Dict, Optional

import numpy as np

__all__ = ['FaultLog', 'FrameStats']


class FaultLog:
    """Counts faults per kind; lets one warning per kind through per ``period`` seconds.

    Args:
        period: seconds between two warnings of the same kind (0: every one).
        clock: monotonic time source in seconds (for tests).

    """

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Start with no faults."""
        self.period = float(period)
        self.clock = clock
        self.counts: Dict[str, int] = collections.Counter()
        self._last: Dict[str, float] = {}
        self._held: Dict[str, int] = collections.Counter()

    def report(self, kind: str, text: str) -> Optional[str]:
        """Count a fault; return the warning to print now, or None while throttled.

        The text comes back as given; one that follows throttled faults of its kind says
        how many were held back.
        """
        self.counts[kind] += 1
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.period:
            self._held[kind] += 1
            return None
        self._last[kind] = now
        held, self._held[kind] = self._held[kind], 0
        suffix = f' ({held} more of this kind since the last warning)' if held else ''
        return f'{text}{suffix}'


class FrameStats:
    """Arrival and publication times and latencies of the newest frames.

    Args:
        window: seconds over which rates are measured.
        keep: the newest samples kept for latency percentiles.
        clock: monotonic time source in seconds.

    """

    def __init__(self, window: float = 5.0, keep: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Start empty."""
        self.window = window
        self.clock = clock
        self.frames_in = self.frames_out = self.lost = 0
        self._arrivals: Deque[float] = collections.deque(maxlen=keep)
        self._outputs: Deque[float] = collections.deque(maxlen=keep)
        self.latencies: Deque[float] = collections.deque(maxlen=keep)

    def received(self) -> None:
        """Count a frame that arrived."""
        self.frames_in += 1
        self._arrivals.append(self.clock())

    def published(self, latency: float) -> None:
        """Count a published frame, ``latency`` seconds after its callback started."""
        self.frames_out += 1
        self._outputs.append(self.clock())
        self.latencies.append(latency)

    def lost_messages(self, count: int) -> None:
        """Count ``count`` input messages the middleware reports lost before delivery."""
        self.lost += int(count)

    def _rate(self, times: Deque[float], now: float) -> float:
        recent = [t for t in times if now - t <= self.window]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def summary(self) -> Dict[str, float]:
        """Rates (Hz, over the window), latency percentiles (ms), counts, seconds idle."""
        now = self.clock()
        lat = np.asarray(self.latencies, dtype=np.float64) * 1e3
        pct = np.percentile(lat, [50, 90, 99]) if len(lat) else [np.nan] * 3
        return {'input_rate_hz': self._rate(self._arrivals, now),
                'output_rate_hz': self._rate(self._outputs, now),
                'latency_p50_ms': float(pct[0]), 'latency_p90_ms': float(pct[1]),
                'latency_p99_ms': float(pct[2]),
                'frames_in': self.frames_in, 'frames_out': self.frames_out,
                'lost_in_transport': self.lost,
                'seconds_since_output': (now - self._outputs[-1]) if self._outputs
                else float('inf')}
