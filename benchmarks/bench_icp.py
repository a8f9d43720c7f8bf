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

"""Benchmark: batched ICP on 128x416 clouds: every exact search, projective, scipy, Open3D.

Run ``python -m benchmarks.bench_icp`` (``--help`` for sizes) with nothing else running;
Open3D comes from the benchmark's own requirements (``pip install -r
benchmarks/requirements.txt``; the product never needs it) and is left out, with a note,
where it is missing. Each method runs in its own process, so that its peak memory
(resident set growth on the CPU, ``max_memory_allocated`` on CUDA) is its own; all run in
this one command, at the same thread count, on the same clouds and iterations. Rows:
the exact association through scipy's KD-tree (the package's CPU default), the pure-torch
uniform grid (the previous exact search), chunked brute force (CUDA's exact search, on
CUDA only), projective association, the scipy-cKDTree reference ICP and Open3D's
point-to-point ICP (no distance rejection, all iterations). The table gives time, the
ratio to the grid and to Open3D, peak memory, and the largest transform difference to
Open3D and to scipy. A last table times a training step's loss (forward and backward,
compact networks at 48x160, batch 4) with exact and with projective association.
"""

import argparse
import multiprocessing as mp
import os
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


def open3d_icp(source, target, iterations):
    """Open3D's point-to-point ICP, one cloud at a time; every pair kept, all iterations."""
    import open3d as o3d

    reg = o3d.pipelines.registration
    out = []
    for src, dst in zip(source.numpy().astype(np.float64), target.numpy().astype(np.float64)):
        a = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(src))
        b = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(dst))
        result = reg.registration_icp(
            a, b, 1e6, np.eye(4), reg.TransformationEstimationPointToPoint(),
            reg.ICPConvergenceCriteria(relative_fitness=0.0, relative_rmse=0.0,
                                       max_iteration=iterations))
        out.append(np.asarray(result.transformation))
    return np.stack(out)


#: row name -> (association, exact search)
METHODS = {'kdtree': ('nearest', 'kdtree'), 'grid': ('nearest', 'grid'),
           'brute': ('nearest', 'brute'), 'projective': ('projective', 'auto')}


def _run(method, device, args, queue):
    os.environ['OMP_NUM_THREADS'] = str(args.threads)  # Open3D's OpenMP threads
    torch.set_num_threads(args.threads)
    source, target, k = make_clouds(args.batch, args.height, args.width)
    dtype = getattr(torch, args.dtype)
    source, target, k = source.to(dtype), target.to(dtype), k.to(dtype)
    base = _rss_mib()
    repeats = args.repeats if method not in ('grid', 'brute') else 1
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
        elif method == 'open3d':
            transform = open3d_icp(s, t, args.iterations)
        else:
            association, search = METHODS[method]
            result = icp(s, t, iterations=args.iterations, association=association,
                         intrinsics=kk, image_size=(args.height, args.width),
                         chunk_size=args.chunk_size, nearest_method=search)
            if device == 'cuda':
                torch.cuda.synchronize()
            transform = result.transform.cpu().double().numpy()
        times.append(time.perf_counter() - start)
    if device == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    queue.put((float(np.median(times)), peak, transform))


def _runs(args):
    runs = [('scipy', 'cpu'), ('kdtree', 'cpu'), ('projective', 'cpu')]
    try:
        import open3d  # noqa: F401
        runs.append(('open3d', 'cpu'))
    except ImportError:
        print('Open3D is not installed (pip install -r benchmarks/requirements.txt): '
              'its row is left out')
    if not args.skip_grid:
        runs.append(('grid', 'cpu'))
    if torch.cuda.is_available():
        runs += [('projective', 'cuda'), ('brute', 'cuda')]
    return runs


def _training_step(association, threads, repeat=3):
    """Return seconds per loss forward + backward with ``association``.

    The shipped compact networks in training mode, four rendered 3-frame street snippets
    at 48x160, the paper's loss (ICP on every scale).
    """
    from mono_depth_ros.core.config import LossConfig
    from mono_depth_ros.core.inference import frames_to_tensor
    from mono_depth_ros.core.losses import snippet_loss
    from mono_depth_ros.core.weights import load_networks
    from mono_depth_ros.sim.dataset import make_sequence
    from mono_depth_ros.weights import default_weights

    torch.set_num_threads(threads)
    depth_net, ego_net, _ = load_networks(default_weights())
    depth_net.train()
    ego_net.train()
    seq = make_sequence('car', 6, 3, 48, 160, progress=False)
    frames = frames_to_tensor(list(seq.images), (48, 160))
    images = torch.stack([frames[i:i + 3] for i in range(4)])
    k = torch.as_tensor(seq.intrinsics, dtype=torch.float32).expand(4, 3, 3)
    config = LossConfig(icp_association=association)
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        snippet_loss(depth_net, ego_net, images, k, config)['total'].backward()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def _print(results, args):
    ref = results[('scipy', 'cpu')][2]
    o3d = results.get(('open3d', 'cpu'))
    grid = results.get(('grid', 'cpu'))
    print(f'\nICP, batch {args.batch}, two {args.height}x{args.width} clouds '
          f'({args.height * args.width} points each), {args.iterations} iterations, '
          f'{args.threads} CPU threads, {args.dtype}')
    truth = torch.linalg.inv(pose_vec_to_mat(PERTURBATION)).numpy()
    print(f'{"method (device)":<36}{"time s":>8}{"grid/this":>10}{"this/o3d":>9}{"peak MiB":>9}'
          f'{"|T-T_o3d|":>11}{"|T-T_scipy|":>12}{"rot err deg":>12}')
    for (method, device), (secs, mem, transform) in results.items():
        name = {'scipy': 'scipy cKDTree ICP (reference)', 'open3d': 'Open3D point-to-point',
                'kdtree': 'exact, KD-tree (default)', 'grid': 'exact, torch grid (before)',
                'brute': 'exact, chunked brute force'}.get(method, method) + f' ({device})'
        err = np.linalg.inv(truth) @ transform
        cos = np.clip((np.trace(err[:, :3, :3], axis1=1, axis2=2) - 1) / 2, -1, 1)
        speedup = f'{grid[0] / secs:10.1f}' if grid else f'{"-":>10}'
        vs_o3d = f'{secs / o3d[0]:9.2f}' if o3d else f'{"-":>9}'
        d_o3d = f'{np.abs(transform - o3d[2]).max():11.1e}' if o3d else f'{"-":>11}'
        print(f'{name:<36}{secs:>8.3f}{speedup}{vs_o3d}{mem:>9.1f}{d_o3d}'
              f'{np.abs(transform - ref).max():>12.1e}{np.degrees(np.arccos(cos)).max():>12.3f}')
    print('rot err: worst over the batch, against the known correction.')


def main():
    """Run every method in its own process, then the training-step comparison; print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--height', type=int, default=128)
    parser.add_argument('--width', type=int, default=416)
    parser.add_argument('--iterations', type=int, default=10, help='ICP iterations (paper: 10)')
    parser.add_argument('--chunk-size', type=int, default=2048)
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs of the fast methods (the median is shown)')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--dtype', choices=('float64', 'float32'), default='float64',
                        help='cloud precision (float64: agreement is the algorithm, not '
                        'rounding; training runs float32)')
    parser.add_argument('--skip-grid', action='store_true',
                        help='leave out the torch grid search on the CPU (slow)')
    args = parser.parse_args()
    ctx = mp.get_context('spawn')
    results = {}
    for method, device in tqdm(_runs(args), desc='ICP methods'):
        queue = ctx.Queue()
        proc = ctx.Process(target=_run, args=(method, device, args, queue))
        proc.start()
        results[(method, device)] = queue.get()
        proc.join()
    _print(results, args)
    steps = {a: _training_step(a, args.threads) for a in ('nearest', 'projective')}
    print(f'\ntraining step loss (forward + backward, 48x160, batch 4, {args.threads} threads):'
          f' exact {steps["nearest"]:.3f} s, projective {steps["projective"]:.3f} s, '
          f'exact / projective {steps["nearest"] / steps["projective"]:.2f}')


if __name__ == '__main__':
    main()
