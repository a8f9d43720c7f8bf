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

"""Benchmark: batched ICP on two 128x416 clouds, exact vs projective vs a scipy KD-tree ICP.

Run ``python -m benchmarks.bench_icp`` (``--help`` for sizes). Each method runs in its own
process, so that its peak memory (resident set growth on the CPU, ``max_memory_allocated``
on CUDA) is its own; all methods run in this one command and the table prints times and
memory side by side, with ratios to the scipy reference and each method's disagreement
with it.
"""

import argparse
import multiprocessing as mp
import resource
import time

from benchmarks.references import reference_icp
from mono_depth_ros.core.camera import depth_to_points
from mono_depth_ros.core.geometry import pose_vec_to_mat
from mono_depth_ros.core.icp import icp
from mono_depth_ros.sim.scene import box, closed_room, look_transform, render, Scene
import numpy as np
import torch
from tqdm import tqdm


# The source cloud is moved by the true motion and then by this error (tx..rz), so the
# correction ICP should find is its inverse.
PERTURBATION = torch.tensor([0.02, -0.01, 0.03, 0.004, -0.006, 0.003], dtype=torch.float64)


def _rss_mib():
    with open('/proc/self/statm') as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2 ** 20


def make_clouds(batch, height, width):
    """Render ``batch`` pairs of organised clouds (views 0.5 m and 1 degree apart)."""
    rects = (closed_room(far=40.0).rectangles
             + tuple(box((2.0, 0.65, 10.0), (2.0, 2.0, 3.0), (0.8, 0.2, 0.2)))
             + tuple(box((-3.0, 0.9, 14.0), (1.5, 1.5, 1.5), (0.2, 0.8, 0.2))))
    scene = Scene(rects)
    f = 0.48 * width
    k = torch.tensor([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]],
                     dtype=torch.float64)
    sources, targets = [], []
    for b in range(batch):
        a = look_transform([0.4 * b - 0.6, 0.0, 1.5 * b], yaw=0.03 * b)
        c = look_transform([0.4 * b - 0.6, 0.02, 1.5 * b + 0.5], yaw=0.03 * b + 0.017)
        _, da = render(scene, a, k, height, width)
        _, dc = render(scene, c, k, height, width)
        # the source cloud, moved into the target camera by a slightly wrong motion
        c_T_a = torch.linalg.inv(c) @ a
        guess = pose_vec_to_mat(PERTURBATION) @ c_T_a
        pts = depth_to_points(da[None], k[None]).flatten(2).transpose(1, 2)[0]
        sources.append(pts @ guess[:3, :3].T + guess[:3, 3])
        targets.append(depth_to_points(dc[None], k[None]).flatten(2).transpose(1, 2)[0])
    return (torch.stack(sources).float(), torch.stack(targets).float(),
            k.float()[None].expand(batch, 3, 3).contiguous())


def scipy_icp(source, target, iterations):
    """Run the scipy-cKDTree reference ICP (numpy/scipy only), one cloud at a time."""
    return np.stack([reference_icp(src, dst, iterations)
                     for src, dst in zip(source.numpy(), target.numpy())])


def _run(method, device, args, queue):
    torch.set_num_threads(args.threads)
    source, target, k = make_clouds(args.batch, args.height, args.width)
    base = _rss_mib()
    repeats = args.repeats if method != 'nearest' else 1
    times = []
    for _ in range(repeats):
        if device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
            s, t, kk = source.cuda(), target.cuda(), k.cuda()
            torch.cuda.synchronize()
        else:
            s, t, kk = source, target, k
        start = time.perf_counter()
        if method == 'scipy':
            transform = scipy_icp(s, t, args.iterations)
        else:
            result = icp(s, t, iterations=args.iterations, association=method,
                         intrinsics=kk, image_size=(args.height, args.width),
                         chunk_size=args.chunk_size)
            if device == 'cuda':
                torch.cuda.synchronize()
            transform = result.transform.cpu().double().numpy()
        times.append(time.perf_counter() - start)
    if device == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    queue.put((float(np.median(times)), peak, transform))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--height', type=int, default=128)
    parser.add_argument('--width', type=int, default=416)
    parser.add_argument('--iterations', type=int, default=10, help='ICP iterations (paper: 10)')
    parser.add_argument('--chunk-size', type=int, default=2048)
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs of the fast methods (the median is shown)')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--skip-exact', action='store_true',
                        help='leave out the brute-force exact mode on the CPU (slow)')
    args = parser.parse_args()
    runs = [('scipy', 'cpu'), ('projective', 'cpu')]
    if not args.skip_exact:
        runs.append(('nearest', 'cpu'))
    if torch.cuda.is_available():
        runs += [('projective', 'cuda'), ('nearest', 'cuda')]
    ctx = mp.get_context('spawn')
    results = {}
    for method, device in tqdm(runs, desc='ICP methods'):
        queue = ctx.Queue()
        proc = ctx.Process(target=_run, args=(method, device, args, queue))
        proc.start()
        results[(method, device)] = queue.get()
        proc.join()
    ref_time, ref_mem, ref_transform = results[('scipy', 'cpu')]
    print(f'\nICP, batch {args.batch}, two {args.height}x{args.width} clouds '
          f'({args.height * args.width} points each), {args.iterations} iterations, '
          f'{args.threads} CPU threads')
    truth = torch.linalg.inv(pose_vec_to_mat(PERTURBATION)).numpy()
    print(f'{"method":<26}{"time s":>9}{"x scipy":>9}{"peak MiB":>10}{"|T-T_scipy|":>13}'
          f'{"rot err deg":>13}{"trans err m":>13}')
    for (method, device), (secs, mem, transform) in results.items():
        name = 'scipy cKDTree (reference)' if method == 'scipy' else f'torch {method} ({device})'
        diff = np.abs(transform - ref_transform).max()
        err = np.linalg.inv(truth) @ transform
        cos = np.clip((np.trace(err[:, :3, :3], axis1=1, axis2=2) - 1) / 2, -1, 1)
        rot = np.degrees(np.arccos(cos)).max()
        trans = np.linalg.norm(err[:, :3, 3], axis=1).max()
        print(f'{name:<26}{secs:>9.3f}{secs / ref_time:>9.2f}{mem:>10.1f}{diff:>13.2e}'
              f'{rot:>13.3f}{trans:>13.4f}')
    print('rot/trans err: worst over the batch, against the known correction; the scipy '
          'reference is the same point-to-point algorithm.')


if __name__ == '__main__':
    main()
