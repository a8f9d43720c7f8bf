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

"""Frames per second of the node's per-frame work, torch and onnxruntime, side by side.

Run ``python -m benchmarks.bench_pipeline`` with nothing else running (``--weights`` to
compare files; the shipped default otherwise). For 416x128 camera frames (``--size``) it
times, at 1 and 2 threads and for each backend, ``DepthPipeline.process`` (resize, depth,
ego-motion, back-projection, scale, odometry) plus building the node's depth image,
PointCloud2 and Odometry messages when rclpy is installed, and the bare depth + ego-motion
forward passes of the same backend, taking turns in five rounds (medians), and prints
frames/s and the ratio of the two (target >= 0.9 at one thread). It also prints how far
onnxruntime's outputs are from torch's (target <= 1e-4) and which backend is faster at
batch 1, and where one frame's time goes at one thread (the resize to the network input
with the networks and their conversions, which onnxruntime runs as one graph; the
ground-plane fit per frame at its interval; the photometric refinement of the motion at the
node's default three steps; the rest by difference; and the resize alone, warm). Rows come
with the refinement off (``refine 0``: the per-frame work the networks' rate is the ceiling
of) and at the node's default (``refine 3``, ``--refine``).
The node keeps camera rate when ``+messages/s`` at its default is at least 30.

The scale is the node's default, the weights' metric calibration; ``--camera-height 1.65``
times the ground-plane scale instead, whose fit runs every fifth frame on a subsample.
"""

import argparse
from pathlib import Path
import time
from typing import Optional

from mono_depth_ros.core.inference import frame_to_input
from mono_depth_ros.runtime.deploy import onnx_networks
from mono_depth_ros.runtime.pipeline import back_project, DepthPipeline
from mono_depth_ros.runtime.threads import set_threads
from mono_depth_ros.sim.dataset import make_sequence
import numpy as np
import torch


def _messages():
    """Return a function that builds the node's messages from a result (None: no rclpy)."""
    try:
        from mono_depth_ros.ros.messages import (depth_message, odometry_message,
                                                 point_cloud_message)
        from std_msgs.msg import Header
    except ImportError:
        return None

    def build(result):
        header = Header(frame_id='camera')
        depth_message(result.depth, header)
        points = result.points_every(2).reshape(-1, 3)
        keep = np.isfinite(points).all(1)
        point_cloud_message(points[keep], result.colours()[::2, ::2].reshape(-1, 3)[keep],
                            header)
        odometry_message(result.odom_T_camera, header.stamp, 'odom', 'camera')
    return build


def measure(weights: str, frames, intrinsics, repeat: int, backend: str = 'torch',
            threads: int = 1, refine: int = 3, rounds: int = 5,
            camera_height: Optional[float] = None) -> dict:
    """Time the per-frame work and the bare forward passes (frames/s).

    The three loops (process, process + messages, bare networks) take turns over
    ``rounds`` rounds of ``repeat / rounds`` frames each, and each rate is the median over
    the rounds: a shared VM's speed drifts over seconds, and timing one loop after the
    other would put the drift into the ratio.
    """
    set_threads(threads)  # as the node does: torch's pool, numpy's BLAS at one thread
    pipeline = DepthPipeline(weights, camera_height=camera_height, backend=backend,
                             threads=threads, refine_iterations=refine)
    build = _messages()
    for i, frame in enumerate(frames[:5]):  # warm-up
        pipeline.process(frame, i, intrinsics)
    size = pipeline.size
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    window = torch.rand(1, pipeline.seq_length, 3, *size,
                        generator=torch.Generator().manual_seed(1))
    stamp = iter(range(10, 10 ** 9))

    def process(n, messages):
        for _ in range(n):
            i = next(stamp)
            result = pipeline.process(frames[i % len(frames)], i, intrinsics)
            if messages and build is not None:
                build(result)

    n = max(repeat // rounds, 1)
    rates = {'process': [], 'full': [], 'bare': []}
    with torch.no_grad():
        with pipeline.slot.use() as (depth_net, ego_net):
            if backend == 'onnxruntime':  # the networks alone, a session each, array calls
                depth_net, ego_net = (session.run for session in onnx_networks(
                    depth_net, ego_net, pipeline.metadata, threads))
                image, window = image.numpy(), window.numpy()
            disparity = depth_net(image)  # the sessions give the finest scale, torch a pyramid
            outputs = [np.asarray(disparity if backend == 'onnxruntime' else disparity[0]),
                       np.asarray(ego_net(window))]

        def bare(count):
            with pipeline.slot.use():
                for _ in range(count):
                    depth_net(image)
                    ego_net(window)

        for _ in range(rounds):
            for name, run in (('process', lambda: process(n, False)),
                              ('full', lambda: process(n, True)), ('bare', lambda: bare(n))):
                t0 = time.perf_counter()
                run()
                rates[name].append(n / (time.perf_counter() - t0))
    process_fps, full, bare_fps = (float(np.median(rates[k]))
                                   for k in ('process', 'full', 'bare'))
    return {'input': f'{size[1]}x{size[0]}', 'fps': full, 'process_fps': process_fps,
            'bare_fps': bare_fps, 'messages': build is not None, 'outputs': outputs}


def _per_frame(fn, repeat: int) -> float:
    """Milliseconds per call of ``fn`` after a warm-up."""
    for _ in range(5):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1e3


@torch.no_grad()
def split(weights: str, frames, intrinsics, repeat: int, backend: str,
          camera_height: Optional[float] = None) -> dict:
    """Milliseconds of one frame's parts at one thread (see the module docstring).

    ``resize alone`` is the resize timed by itself, with warm caches: it is part of
    ``resize + networks`` (onnxruntime runs both in one graph) and not of the sum.
    """
    set_threads(1)
    pipeline = DepthPipeline(weights, camera_height=camera_height, backend=backend,
                             threads=1)
    refine_off = DepthPipeline(weights, camera_height=camera_height, backend=backend,
                               threads=1, refine_iterations=0)
    counter = iter(range(10 ** 9))
    total = _per_frame(lambda: pipeline.process(frames[next(counter) % len(frames)],
                                                next(counter), intrinsics), repeat)
    frame = frames[0]
    k, rays = pipeline._camera(np.asarray(intrinsics, np.float64), frame.shape[:2])
    for p in (pipeline, refine_off):  # frames before: the motion is refined from here on
        p._frames, p._prev_depth = [], None
        for _ in range(2):
            image, depth, _ = p._infer(frame, k)
            p._frames = (p._frames + [image])[-(p.seq_length - 1):]
    networks = _per_frame(lambda: refine_off._infer(frame, k), repeat)
    sample = back_project(depth, rays, pipeline.scale_stride).reshape(-1, 3)
    parts = {
        'resize + networks': networks,
        'refinement': _per_frame(lambda: pipeline._infer(frame, k), repeat) - networks,
        'ground fit': _per_frame(lambda: pipeline.scale.update(sample), repeat)
        / pipeline.scale_interval,
    }
    parts['rest'] = total - sum(parts.values())
    alone = _per_frame(lambda: frame_to_input(frame, pipeline.size), repeat)
    return {'total': total, **parts, 'resize alone': alone}


def main(argv=None) -> None:
    """Render frames once, time every weights file and backend, print the table."""
    from mono_depth_ros.weights import default_weights

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', nargs='+', default=[str(default_weights())])
    parser.add_argument('--size', default='128x416', help='camera frame HxW')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--backends', nargs='+', default=['torch', 'onnxruntime'])
    parser.add_argument('--repeat', type=int, default=200)
    parser.add_argument('--camera-height', type=float, default=None,
                        help='metres: the ground-plane scale (default: the calibration of '
                        'the weights, as the node does)')
    parser.add_argument('--refine', type=int, nargs='+', default=[0, 3],
                        help='pose refinement steps per frame (0 = off; the node: 3)')
    args = parser.parse_args(argv)
    h, w = (int(v) for v in args.size.split('x'))
    seq = make_sequence('car', 20, 77, h, w, progress=False)
    # Row-major (H, W, 3) arrays, as a decoded image message gives them (the renderer's are
    # channel-planar views, which would add a copy to every resize).
    frames = [np.ascontiguousarray(image) for image in seq.images]
    scale = ('the calibration of the weights' if args.camera_height is None
             else f'the ground plane {args.camera_height} m below')
    print(f'camera frames {w}x{h}, {args.repeat} frames per row, scale from {scale}')
    print(f'{"weights":<28}{"backend":>12}{"threads":>8}{"refine":>7}{"process/s":>10}'
          f'{"+messages/s":>12}{"bare nets/s":>12}{"process/bare":>13}{"+msgs/bare":>11}')
    for weights in args.weights:
        rows = {}
        for threads in args.threads:
            for backend, refine in ((b, n) for b in args.backends for n in args.refine):
                r = measure(weights, frames, seq.intrinsics, args.repeat, backend,
                            threads, refine, camera_height=args.camera_height)
                rows.setdefault((backend, threads), r)
                print(f'{Path(weights).stem[-27:]:<28}{backend:>12}{threads:>8}{refine:>7}'
                      f'{r["process_fps"]:>10.1f}{r["fps"]:>12.1f}{r["bare_fps"]:>12.1f}'
                      f'{r["process_fps"] / r["bare_fps"]:>13.2f}'
                      f'{r["fps"] / r["bare_fps"]:>11.2f}')
        if {'torch', 'onnxruntime'} <= set(args.backends):
            t = rows['torch', args.threads[0]]['outputs']
            o = rows['onnxruntime', args.threads[0]]['outputs']
            print(f'onnxruntime vs torch: max |disparity diff| {np.abs(t[0] - o[0]).max():.1e}, '
                  f'max |egomotion diff| {np.abs(t[1] - o[1]).max():.1e}')
            for threads in args.threads:
                ratio = rows['onnxruntime', threads]['fps'] / rows['torch', threads]['fps']
                print(f'{threads} thread(s): onnxruntime / torch pipeline rate {ratio:.2f} '
                      f'({"onnxruntime" if ratio > 1 else "torch"} is faster)')
    print('\none frame at one thread, ms (the resize and the networks with their window '
          'and conversions; the ground fit per frame at its interval; the rest by '
          'difference; the resize alone, warm, is part of the first):')
    for weights in args.weights:
        for backend in args.backends:
            parts = split(weights, frames, seq.intrinsics, args.repeat, backend,
                          args.camera_height)
            print(f'{Path(weights).stem[-27:]:<28}{backend:>12}  '
                  + '  '.join(f'{name} {value:.2f}' for name, value in parts.items()))


if __name__ == '__main__':
    main()
