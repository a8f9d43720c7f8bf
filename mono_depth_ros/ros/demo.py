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


"""The main job on an embedded default: a rendered drive, replayed as a bag into the node.

No camera and no ROS distro needed (the ROS 2 PyPI wheels do): the demo renders a car drive
down a street the shipped weights never saw (exact depth and poses), writes it as a rosbag2,
starts the depth node with the shipped weights in its own process, replays the bag into it
through DDS at the recorded rate, records the node's depth and odometry into a new bag, and
evaluates them against the ground truth: depth metrics (median-scaled and metric, the scale
fixed by the known camera height), ATE, throughput and latency. Pictures and JSON land in
``outputs/demo/``.

May import: rclpy and message packages, and every ``mono_depth_ros`` layer but training.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import random
import shutil
import signal
import subprocess
import sys
import time

__all__ = ['main']


def _ros_env() -> dict:
    env = dict(os.environ)
    env.setdefault('ROS_DOMAIN_ID', str(random.randint(30, 200)))
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    env.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None)
    return env


def main(argv=None) -> None:
    """Render, replay into the node, record, evaluate, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=Path('outputs/demo'))
    parser.add_argument('--weights', default='', help='weights file (default: the shipped)')
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--size', default='128x416', help='camera image HxW')
    parser.add_argument('--seed', type=int, default=4242)
    parser.add_argument('--rate', type=float, default=1.0, help='replay speed (1 = 10 Hz)')
    args = parser.parse_args(argv)
    from mono_depth_ros.sim.dataset import make_sequence, write_bag

    h, w = (int(v) for v in args.size.split('x'))
    args.out.mkdir(parents=True, exist_ok=True)
    bag = args.out / 'input_bag'
    shutil.rmtree(bag, ignore_errors=True)
    shutil.rmtree(args.out / 'recorded', ignore_errors=True)
    print(f'rendering a {args.frames}-frame car drive at {w}x{h} (seed {args.seed})')
    seq = make_sequence('car', args.frames, args.seed, h, w)
    write_bag(seq, bag, 'sqlite3')
    env = _ros_env()
    node_cmd = [sys.executable, '-m', 'mono_depth_ros.ros.node', '--ros-args',
                '-p', 'camera_height:=1.65', '-p', 'camera_frame:=camera_optical_frame']
    if args.weights:  # otherwise the node loads the shipped weights (ROS refuses 'weights:=')
        node_cmd += ['-p', f'weights:={args.weights}']
    print('starting the depth node:', ' '.join(node_cmd[1:]))
    node = subprocess.Popen(node_cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        replay = subprocess.run(
            [sys.executable, '-m', 'mono_depth_ros.ros.replay', '--bag', str(bag), '--out',
             str(args.out), '--rate', str(args.rate)], env=env, check=False)
    finally:
        node.send_signal(signal.SIGINT)
        try:
            log, _ = node.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
            log, _ = node.communicate()
        (args.out / 'node.log').write_text(log)
    if replay.returncode != 0:
        print(f'replay failed (exit {replay.returncode}); node log: {args.out / "node.log"}')
        print(log[-2000:])
        raise SystemExit(replay.returncode)
    metrics = json.loads((args.out / 'metrics.json').read_text())
    summary = {'frames': args.frames, 'camera_size': [h, w], **metrics['timing'],
               'abs_rel_median_scaled': metrics['depth_median_scaled']['abs_rel'],
               'abs_rel_metric': metrics['depth_metric']['abs_rel'],
               'a1_metric': metrics['depth_metric']['a1'],
               'ate_mean': metrics.get('odometry', {}).get('ate_mean'),
               'rotation_gain': metrics.get('odometry', {}).get('rotation_gain'),
               'time': time.strftime('%Y-%m-%d %H:%M:%S')}
    (args.out / 'summary.json').write_text(json.dumps(summary, indent=2))
    print(f'outputs in {args.out}: depth.png, trajectory.png, metrics.json, summary.json, '
          'recorded/ (the node outputs as a rosbag2), node.log')


if __name__ == '__main__':
    main()
