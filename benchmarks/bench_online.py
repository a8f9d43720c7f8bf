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


"""What online fine-tuning costs inference: frame latency with and without the thread.

Run ``python -m benchmarks.bench_online`` from the repository root (``--help`` for sizes).
One process renders a short car sequence, loads the shipped weights into one pipeline,
times ``DepthPipeline.process`` on every frame with no training, then again while the
fine-tuning thread runs at each requested duty cycle, and prints latency percentiles side by
side with their ratios to the no-training run. It also times how long the thread holds the
pipeline's lock (copying the weights in use and swapping new ones in): the only moment it can
stall a frame outright. Frames arrive at a camera's rate (``--rate``). About a minute and
a half on a 2-core CPU.
"""

import argparse
import threading
import time

from mono_depth_ros.runtime.online import OnlineTrainer
from mono_depth_ros.runtime.pipeline import DepthPipeline
from mono_depth_ros.sim.dataset import make_sequence
from mono_depth_ros.weights import DEFAULT_WEIGHTS
import numpy as np
from tqdm import tqdm


class TimedLock:
    """A lock that records how long each holder kept it."""

    def __init__(self) -> None:
        """Wrap a plain lock."""
        self._lock = threading.Lock()
        self.holds = []
        self._since = 0.0

    def __enter__(self):
        """Acquire and start the clock."""
        self._lock.acquire()
        self._since = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        """Stop the clock and release."""
        self.holds.append((threading.current_thread().name, time.perf_counter() - self._since))
        self._lock.release()


def latencies(pipeline, seq, count: int, rate: float, trainer=None) -> np.ndarray:
    """Seconds per ``process`` call for ``count`` frames arriving at ``rate`` Hz."""
    out = []
    period = 1.0 / rate
    start = time.perf_counter()
    for i in range(count):
        # Frames arrive like a camera's: wait for the next frame's time (a late frame is
        # processed at once, as the node's depth-1 queue would).
        delay = start + i * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        image = seq.images[i % len(seq.images)]
        if i % len(seq.images) == 0:
            pipeline.reset()  # a new run, or the sequence looped: a new odometry start
        t0 = time.perf_counter()
        result = pipeline.process(image, (i + 1) * int(1e9 * period), seq.intrinsics)
        if trainer is not None:  # what the node does with each frame
            trainer.add_frame(result.image, result.intrinsics)
        out.append(time.perf_counter() - t0)
    return np.asarray(out)


def main(argv=None) -> None:
    """Time inference alone and beside the fine-tuning thread; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=20)
    parser.add_argument('--seconds', type=float, default=20.0, help='per row')
    parser.add_argument('--rate', type=float, default=10.0, help='camera frame rate, Hz')
    parser.add_argument('--size', default='128x416', help='camera image HxW')
    parser.add_argument('--duty', type=float, nargs='+', default=[0.25, 0.5])
    args = parser.parse_args(argv)
    h, w = (int(v) for v in args.size.split('x'))
    seq = make_sequence('car', args.frames, seed=7, height=h, width=w, supersample=1,
                        progress=False)
    pipeline = DepthPipeline(str(DEFAULT_WEIGHTS))
    pipeline.slot.lock = TimedLock()
    count = int(args.seconds * args.rate)
    latencies(pipeline, seq, args.frames, 1e3)  # warm-up
    rows = [('no fine-tuning', latencies(pipeline, seq, count, args.rate), 0, [])]
    for duty in tqdm(args.duty, desc='duty cycles'):
        trainer = OnlineTrainer(pipeline.slot, pipeline.metadata, buffer_size=args.frames,
                                swap_every=5, duty=duty)
        latencies(pipeline, seq, args.frames, 1e3, trainer)  # fill the ring buffer
        pipeline.slot.lock.holds.clear()
        trainer.start()
        try:
            times = latencies(pipeline, seq, count, args.rate, trainer)
        finally:
            trainer.stop()
        held = [s for name, s in pipeline.slot.lock.holds if name == 'online_finetuning']
        rows.append((f'fine-tuning, duty {duty:g}', times, trainer.steps, held))
    base = np.percentile(rows[0][1], 50)
    print(f'\nDepthPipeline.process on {h}x{w} frames at {args.rate:g} Hz, network input '
          f'{pipeline.size}, {count} frames per row')
    print(f'{"":26s}{"p50 ms":>9s}{"p95 ms":>9s}{"max ms":>9s}{"p50 ratio":>11s}'
          f'{"steps":>7s}{"lock held max ms":>18s}')
    for name, times, steps, held in rows:
        p50, p95, top = (1e3 * np.percentile(times, q) for q in (50, 95, 100))
        lock = f'{1e3 * max(held):.1f}' if held else '-'
        print(f'{name:26s}{p50:9.1f}{p95:9.1f}{top:9.1f}{p50 / 1e3 / base:11.2f}'
              f'{steps:7d}{lock:>18s}')


if __name__ == '__main__':
    main()
