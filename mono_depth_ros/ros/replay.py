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


"""Replay a rosbag2, a video or an image folder into a running depth node; record, evaluate.

``python -m mono_depth_ros.ros.replay --bag IN --out OUT_DIR`` publishes the bag's image and
camera_info topics through DDS (raw CDR, at the recorded rate times ``--rate``), records the
node's ``depth`` and ``odom`` outputs into ``OUT_DIR/recorded`` (a rosbag2), measures
throughput and latency, and, where the input bag has them, evaluates against ground-truth
topics (a depth image topic, and odometry): depth metrics, ATE over 5-frame snippets, plots.
A bag without ground truth gives timing, the recording and a picture of the node's depth.

``--source CLIP`` (a video file or a folder of images) instead of ``--bag`` first writes
the clip as a bag (``OUT_DIR/source``: Image rgb8 and CameraInfo at ``--fps``, intrinsics
from the horizontal field of view ``--fov``), then replays that.

May import: rclpy and message packages, and every ``mono_depth_ros`` layer but training.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
import time
from typing import Dict, List, Tuple

from mono_depth_ros.core.camera import intrinsics_from_fov
from mono_depth_ros.data.bag import (bag_topics, odometry_poses, read_camera_bag,
                                     write_camera_bag)
from mono_depth_ros.data.errors import DataError
from mono_depth_ros.data.messages import depth_from_message, stamp_to_ns
from mono_depth_ros.evaluation.depth import DEPTH_METRICS, evaluate_depths, median_scaled
from mono_depth_ros.evaluation.plots import save_depth_grid, save_trajectory_plot
from mono_depth_ros.evaluation.pose import evaluate_trajectory
import numpy as np

__all__ = ['clip_to_bag', 'evaluate_recording', 'main', 'preview_recording',
           'replay_and_record']


OUTPUTS = {'depth': 'sensor_msgs/msg/Image', 'odom': 'nav_msgs/msg/Odometry'}


def _message_class(msgtype: str):
    package, kind, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.{kind}'), name)


class _Recorder:
    """Collects the node's raw outputs and the latency of each depth image."""

    def __init__(self) -> None:
        self.recorded: List = []  # (name, receive time ns, raw CDR)
        self.sent: Dict[int, float] = {}  # image stamp -> publish time
        self.latencies: List[float] = []

    def on_output(self, raw, name: str) -> None:
        now = time.perf_counter()
        self.recorded.append((name, time.time_ns(), bytes(raw)))
        if name == 'depth':
            from rclpy.serialization import deserialize_message

            msg = deserialize_message(raw, _message_class(OUTPUTS['depth']))
            stamp = stamp_to_ns(msg.header.stamp)
            if stamp in self.sent:
                self.latencies.append(now - self.sent[stamp])

    def timing(self, images: int, duration: float) -> Dict[str, float]:
        depth_out = sum(1 for name, _, _ in self.recorded if name == 'depth')
        lat = np.array(self.latencies) * 1000 if self.latencies else np.array([np.nan])
        return {'images_in': images, 'depth_out': depth_out,
                'fps_in': images / duration, 'fps_out': depth_out / duration,
                'latency_ms_p50': float(np.percentile(lat, 50)),
                'latency_ms_p90': float(np.percentile(lat, 90)),
                'latency_ms_p99': float(np.percentile(lat, 99))}


def _spin_for(node, seconds: float) -> None:
    import rclpy

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        rclpy.spin_once(node, timeout_sec=max(0.0, min(0.01, end - time.perf_counter())))


def _wait_for_subscribers(node, pubs: Dict, topics: Dict[str, str], timeout: float) -> None:
    import rclpy

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and any(
            p.get_subscription_count() == 0 for p in pubs.values()):
        rclpy.spin_once(node, timeout_sec=0.05)
    if any(p.get_subscription_count() == 0 for p in pubs.values()):
        raise RuntimeError(f'no subscriber to {sorted(topics.values())} after {timeout} s: '
                           'is the depth node running?')


def _play(node, reader, conns, pubs: Dict, image_topic: str, rate: float,
          recorder: _Recorder) -> Tuple[int, float]:
    """Publish the bag's messages at ``rate`` times the recorded pace; return (images, s)."""
    start_wall, start_bag, images = None, None, 0
    for conn, bag_time, raw in reader.messages(connections=conns):
        if start_wall is None:
            start_wall, start_bag = time.perf_counter(), bag_time
        due = start_wall + (bag_time - start_bag) / 1e9 / rate
        _spin_for(node, due - time.perf_counter())
        if conn.topic == image_topic:
            msg = reader.deserialize(raw, conn.msgtype)
            recorder.sent[stamp_to_ns(msg.header.stamp)] = time.perf_counter()
            images += 1
        pubs[conn.topic].publish(bytes(raw))
    return images, time.perf_counter() - (start_wall or time.perf_counter())


def replay_and_record(bag: Path, out_bag: Path, topics: Dict[str, str], rate: float = 1.0,
                      namespace: str = '', settle: float = 2.0,
                      discovery_timeout: float = 20.0) -> Dict[str, float]:
    """Publish ``topics`` (bag topic -> live topic) from ``bag``; record the node's outputs.

    Returns throughput and latency figures. Latency is the time from publishing an image
    to receiving the depth image with the same stamp.
    """
    import rclpy
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_typestore, Stores

    if rate <= 0:
        raise ValueError(f'rate must be positive, got {rate}')
    store = get_typestore(Stores.ROS2_KILTED)
    prefix = namespace.rstrip('/') + '/' if namespace else ''
    recorder = _Recorder()
    rclpy.init()
    node = rclpy.create_node('bag_replay')
    try:
        with AnyReader([bag], default_typestore=store) as reader:
            conns = [c for c in reader.connections if c.topic in topics]
            missing = sorted(set(topics) - {c.topic for c in conns})
            if missing:
                raise DataError(f'{bag}: topics {missing} not in the bag; topics: '
                                f'{sorted(c.topic for c in reader.connections)}')
            pubs = {c.topic: node.create_publisher(_message_class(c.msgtype), topics[c.topic],
                                                   10) for c in conns}
            for name, msgtype in OUTPUTS.items():
                node.create_subscription(_message_class(msgtype), prefix + name,
                                         lambda raw, n=name: recorder.on_output(raw, n), 50,
                                         raw=True)
            image_topic = next(t for t, live in topics.items() if 'camera_info' not in live)
            _wait_for_subscribers(node, pubs, topics, discovery_timeout)
            images, duration = _play(node, reader, conns, pubs, image_topic, rate, recorder)
            _spin_for(node, settle)
        out_bag.parent.mkdir(parents=True, exist_ok=True)
        with Writer(out_bag, version=9) as writer:
            out_conns = {name: writer.add_connection(prefix + name, msgtype, typestore=store)
                         for name, msgtype in OUTPUTS.items()}
            for name, stamp, raw in recorder.recorded:
                writer.write(out_conns[name], stamp, raw)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return recorder.timing(images, duration)


def evaluate_recording(bag: Path, recorded: Path, gt_depth_topic: str, gt_odom_topic: str,
                       out: Path, namespace: str = '') -> Dict:
    """Depth metrics and ATE of the recorded outputs against the input bag's ground truth."""
    prefix = namespace.rstrip('/') + '/' if namespace else ''
    truth = {f.stamp_ns: f for f in read_camera_bag(bag, _image_topic_of(bag), None,
                                                    gt_depth_topic)}
    predicted = _recorded_depths(recorded, prefix)
    common = sorted(set(predicted) & set(truth))
    if not common:
        raise DataError(f'{recorded}: no depth image matches a ground-truth stamp')
    pairs = [(truth[s].depth, predicted[s]) for s in common]
    result = {'frames_evaluated': len(common),
              'depth_median_scaled': evaluate_depths(pairs, True, garg_crop=False),
              'depth_metric': evaluate_depths(pairs, False, garg_crop=False)}
    out.mkdir(parents=True, exist_ok=True)
    idx = np.linspace(0, len(common) - 1, min(3, len(common))).round().astype(int)
    save_depth_grid(out / 'depth.png', [truth[common[i]].image for i in idx],
                    {'ground truth': [truth[common[i]].depth for i in idx],
                     'node output (metric)': [predicted[common[i]] for i in idx],
                     'node output (median-scaled)': [
                         median_scaled(predicted[common[i]], truth[common[i]].depth)
                         for i in idx]},
                    title='replayed bag: depth from the node')
    gt_poses = odometry_poses(bag, gt_odom_topic)
    pred_poses = odometry_poses(recorded, prefix + 'odom')
    both = sorted(set(gt_poses) & set(pred_poses))
    if len(both) >= 5:
        gt = np.stack([gt_poses[s] for s in both])
        pred = np.stack([pred_poses[s] for s in both])
        traj = evaluate_trajectory(np.linalg.inv(gt[0]) @ gt, np.linalg.inv(pred[0]) @ pred)
        save_trajectory_plot(out / 'trajectory.png', (np.linalg.inv(gt[0]) @ gt)[:, :3, 3],
                             {'node odometry (similarity-aligned)': traj.pop('aligned')},
                             title=f'ATE(5) {traj["ate_mean"]:.3f} +- {traj["ate_std"]:.3f} m')
        result['odometry'] = traj
    return result


def _recorded_depths(recorded: Path, prefix: str) -> Dict[int, np.ndarray]:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import get_typestore, Stores

    out = {}
    with AnyReader([recorded], default_typestore=get_typestore(Stores.ROS2_KILTED)) as r:
        conns = [c for c in r.connections if c.topic == prefix + 'depth']
        for conn, _, raw in r.messages(connections=conns):
            msg = r.deserialize(raw, conn.msgtype)
            out[stamp_to_ns(msg.header.stamp)] = depth_from_message(msg, f'{recorded} depth')
    return out


def preview_recording(bag: Path, recorded: Path, out: Path, namespace: str = '') -> Dict:
    """Without ground truth: a picture of inputs and the node's depth, and frame counts."""
    prefix = namespace.rstrip('/') + '/' if namespace else ''
    inputs = {f.stamp_ns: f.image for f in read_camera_bag(bag, _image_topic_of(bag))}
    predicted = _recorded_depths(recorded, prefix)
    common = sorted(set(predicted) & set(inputs))
    if not common:
        raise DataError(f'{recorded}: no depth image matches an input stamp')
    out.mkdir(parents=True, exist_ok=True)
    idx = np.linspace(0, len(common) - 1, min(3, len(common))).round().astype(int)
    save_depth_grid(out / 'depth.png', [inputs[common[i]] for i in idx],
                    {'node output (metres)': [predicted[common[i]] for i in idx]},
                    title='replayed clip: depth from the node (no ground truth)')
    valid = [float(np.isfinite(predicted[s]).mean()) for s in common]
    return {'frames_with_depth': len(common), 'valid_pixel_share': float(np.mean(valid))}


def clip_to_bag(source: Path, bag: Path, fov_deg: float, fps: float, stride: int = 1,
                max_frames=None) -> int:
    """Write a video file or an image folder as a camera bag; return the frame count."""
    import shutil

    from mono_depth_ros.data.video import read_frames

    frames = read_frames(source, stride, max_frames)
    first = next(frames)
    k = intrinsics_from_fov(first.shape[1], first.shape[0], fov_deg)
    if bag.exists():
        shutil.rmtree(bag)
    bag.parent.mkdir(parents=True, exist_ok=True)

    def every():
        yield first
        yield from frames
    return write_camera_bag(every(), bag, k, fps)


def _image_topic_of(bag: Path) -> str:
    for topic, msgtype in bag_topics(bag).items():
        if msgtype in ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage') and \
                'depth' not in topic:
            return topic
    raise DataError(f'{bag}: no camera image topic')


def main(argv=None) -> None:
    """Entry point: replay, record, evaluate, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--bag', type=Path, help='a rosbag2 folder')
    source.add_argument('--source', type=Path, help='a video file or a folder of images')
    parser.add_argument('--fov', type=float, default=60.0,
                        help='--source: horizontal field of view in degrees')
    parser.add_argument('--fps', type=float, default=10.0, help='--source: frames per second')
    parser.add_argument('--stride', type=int, default=1, help='--source: every n-th frame')
    parser.add_argument('--max-frames', type=int, default=None, help='--source: at most')
    parser.add_argument('--out', type=Path, default=Path('outputs/replay'))
    parser.add_argument('--image-topic', default='/camera/image_raw')
    parser.add_argument('--info-topic', default='/camera/camera_info')
    parser.add_argument('--live-image', default='image', help='node input topic')
    parser.add_argument('--live-info', default='camera_info')
    parser.add_argument('--gt-depth', default='/ground_truth/depth')
    parser.add_argument('--gt-odom', default='/ground_truth/odom')
    parser.add_argument('--rate', type=float, default=1.0, help='1 = recorded rate')
    parser.add_argument('--namespace', default='')
    args = parser.parse_args(argv)
    if args.source is not None:
        args.bag = args.out / 'source'
        n = clip_to_bag(args.source, args.bag, args.fov, args.fps, args.stride,
                        args.max_frames)
        print(f'{args.source}: {n} frames written as {args.bag} ({args.fps:g} Hz, '
              f'horizontal field of view {args.fov:g} deg)')
        args.image_topic, args.info_topic = '/camera/image_raw', '/camera/camera_info'
    ns = args.namespace.rstrip('/') + '/' if args.namespace else ''
    live = {args.image_topic: ns + args.live_image, args.info_topic: ns + args.live_info}
    timing = replay_and_record(args.bag, args.out / 'recorded', live, args.rate, args.namespace)
    print(json.dumps(timing, indent=2))
    topics = bag_topics(args.bag)
    if args.gt_depth not in topics or args.gt_odom not in topics:
        result = {'timing': timing, **preview_recording(args.bag, args.out / 'recorded',
                                                        args.out, args.namespace)}
        (args.out / 'metrics.json').write_text(json.dumps(result, indent=2))
        print(f'no ground truth ({args.gt_depth}, {args.gt_odom}) in {args.bag}: timing and '
              f'recording only; written: {args.out}/metrics.json, depth.png, recorded/')
        return
    result = {'timing': timing, **evaluate_recording(
        args.bag, args.out / 'recorded', args.gt_depth, args.gt_odom, args.out,
        args.namespace)}
    (args.out / 'metrics.json').write_text(json.dumps(result, indent=2))
    for name in ('depth_median_scaled', 'depth_metric'):
        print(f'{name:<22}' + ' '.join(f'{k}={result[name][k]:.3f}' for k in DEPTH_METRICS))
    if 'odometry' in result:
        o = result['odometry']
        print(f'odometry ATE(5) {o["ate_mean"]:.4f} +- {o["ate_std"]:.4f} m, aligned RMSE '
              f'{o["rmse_aligned"]:.3f} m, rotation error {o["rotation_error_deg"]:.2f} '
              f'deg/frame, rotation gain {o["rotation_gain"]:.2f}')
    print(f'written: {args.out}/metrics.json, depth.png, trajectory.png, recorded/')


if __name__ == '__main__':
    main()
