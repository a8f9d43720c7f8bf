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

"""Frames per second of the node's per-frame work, for each weights file, side by side.

Run ``python -m benchmarks.bench_pipeline --weights A [B ...]`` with nothing else running.
For 416x128 camera frames (``--size``) it times, at ``--threads`` torch threads,
``DepthPipeline.process`` (resize, depth, ego-motion, back-projection, scale, odometry)
plus building the node's depth image, PointCloud2 and Odometry messages when rclpy is
installed, and the bare depth + ego-motion forward passes, and prints frames/s and the ratio
of the two. The node keeps camera rate when the first figure is at least 30.
"""

import argparse
import time

from mono_depth_ros.runtime.pipeline import DepthPipeline
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
        points = result.points[::2, ::2].reshape(-1, 3)
        keep = np.isfinite(points).all(1)
        point_cloud_message(points[keep], result.colours()[::2, ::2].reshape(-1, 3)[keep],
                            header)
        odometry_message(result.odom_T_camera, header.stamp, 'odom', 'camera')
    return build


def measure(weights: str, frames, intrinsics, repeat: int) -> dict:
    """Time the per-frame work and the bare forward passes (frames/s)."""
    pipeline = DepthPipeline(weights, camera_height=1.65)
    build = _messages()
    for i, frame in enumerate(frames[:5]):  # warm-up
        pipeline.process(frame, i, intrinsics)
    t0 = time.perf_counter()
    for i in range(repeat):
        result = pipeline.process(frames[i % len(frames)], 10 + i, intrinsics)
        if build is not None:
            build(result)
    full = repeat / (time.perf_counter() - t0)
    size = pipeline.size
    image = torch.rand(1, 3, *size)
    window = torch.rand(1, pipeline.seq_length, 3, *size)
    with torch.no_grad(), pipeline.slot.use() as (depth_net, ego_net):
        depth_net(image)
        t0 = time.perf_counter()
        for _ in range(repeat):
            depth_net(image)
            ego_net(window)
        bare = repeat / (time.perf_counter() - t0)
    return {'input': f'{size[1]}x{size[0]}', 'fps': full, 'bare_fps': bare,
            'messages': build is not None}


def main(argv=None) -> None:
    """Render frames once, time every weights file, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', nargs='+', required=True)
    parser.add_argument('--size', default='128x416', help='camera frame HxW')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=200)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split('x'))
    seq = make_sequence('car', 20, 77, h, w, progress=False)
    print(f'camera frames {w}x{h}, {args.threads} torch thread(s), {args.repeat} frames')
    print(f'{"weights":<44}{"net input":>10}{"frames/s":>10}{"bare nets/s":>13}{"ratio":>7}')
    for weights in args.weights:
        r = measure(weights, list(seq.images), seq.intrinsics, args.repeat)
        print(f'{weights[-43:]:<44}{r["input"]:>10}{r["fps"]:>10.1f}{r["bare_fps"]:>13.1f}'
              f'{r["fps"] / r["bare_fps"]:>7.2f}')


if __name__ == '__main__':
    main()
