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


"""End to end: a rendered bag replayed through DDS into the node process, recorded, scored."""

import json
import os
import signal
import subprocess
import sys

from mono_depth_ros.core.config import ModelConfig
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.core.weights import save_networks
from mono_depth_ros.data.bag import bag_topics, odometry_poses
import numpy as np
import pytest
import torch

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')


@pytest.mark.slow
def test_replay_records_and_evaluates(tmp_path):
    """The replay tool feeds the node, records depth and odom, and writes metrics and plots."""
    from mono_depth_ros.sim.dataset import make_sequence, write_bag

    torch.manual_seed(0)
    config = ModelConfig(height=32, width=104, depth_width=0.125, egomotion_width=0.125)
    depth_net, ego_net = build_networks(config)
    weights = tmp_path / 'w.safetensors'
    save_networks(weights, depth_net.eval(), ego_net.eval(), config)
    seq = make_sequence('car', 16, 11, 64, 208, supersample=1, progress=False)
    bag = write_bag(seq, tmp_path / 'in', 'mcap')
    env = dict(os.environ)
    env.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None)
    node = subprocess.Popen([sys.executable, '-m', 'mono_depth_ros.ros.node', '--ros-args', '-p',
                             f'weights:={weights}', '-p', 'camera_height:=1.65'], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        replay = subprocess.run([sys.executable, '-m', 'mono_depth_ros.ros.replay', '--bag',
                                 str(bag), '--out', str(tmp_path / 'out')], env=env,
                                capture_output=True, text=True, timeout=180)
    finally:
        node.send_signal(signal.SIGINT)
        log, _ = node.communicate(timeout=30)
    assert replay.returncode == 0, replay.stdout + replay.stderr + log
    assert node.returncode == 0, log  # a clean shutdown on SIGINT
    metrics = json.loads((tmp_path / 'out' / 'metrics.json').read_text())
    timing = metrics['timing']
    assert timing['images_in'] == 16 and 3 <= timing['depth_out'] <= 16
    assert metrics['frames_evaluated'] == timing['depth_out']
    assert 0 < metrics['depth_median_scaled']['abs_rel'] < 5
    assert metrics['odometry']['snippets'] >= 1
    recorded = tmp_path / 'out' / 'recorded'
    assert bag_topics(recorded) == {'depth': 'sensor_msgs/msg/Image',
                                    'odom': 'nav_msgs/msg/Odometry'}
    assert len(odometry_poses(recorded, 'odom')) == timing['depth_out']
    for picture in ('depth.png', 'trajectory.png'):
        assert (tmp_path / 'out' / picture).stat().st_size > 1000


@pytest.mark.slow
def test_main_job_runs_with_the_shipped_weights(tmp_path):
    """The README's main job (mono_depth_ros.ros.demo), shortened: every output is written."""
    env = dict(os.environ)
    env.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None)
    run = subprocess.run([sys.executable, '-m', 'mono_depth_ros.ros.demo', '--out', str(tmp_path),
                          '--frames', '12', '--size', '64x208', '--rate', '2'], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['frames'] == 12 and summary['images_in'] == 12
    assert 3 <= summary['depth_out'] <= 12
    # The shipped weights on a street they never saw: better than a wild guess.
    assert 0 < summary['abs_rel_median_scaled'] < 0.6
    for name in ('depth.png', 'trajectory.png', 'metrics.json', 'node.log'):
        assert (tmp_path / name).stat().st_size > 0, name
    assert 'depth' in bag_topics(tmp_path / 'recorded')


def test_clip_to_bag_writes_camera_topics(tmp_path):
    """An image folder becomes Image + CameraInfo at the given rate, K from the field of view."""
    from mono_depth_ros.data.bag import read_camera_bag
    from mono_depth_ros.ros.replay import clip_to_bag
    from PIL import Image

    folder = tmp_path / 'clip'
    folder.mkdir()
    frames = np.random.default_rng(0).integers(0, 256, (5, 30, 40, 3), np.uint8)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f'{i:03d}.png')
    assert clip_to_bag(folder, tmp_path / 'bag', fov_deg=90.0, fps=4.0) == 5
    read = list(read_camera_bag(tmp_path / 'bag', '/camera/image_raw', '/camera/camera_info'))
    assert len(read) == 5
    np.testing.assert_array_equal(read[3].image, frames[3])
    assert read[1].stamp_ns - read[0].stamp_ns == 250_000_000
    np.testing.assert_allclose(read[0].intrinsics[0, 0], 20.0)  # (w / 2) / tan(45 deg)


@pytest.mark.slow
def test_replay_of_a_video_without_ground_truth(tmp_path, weights):
    """--source VIDEO: timing, recording and a picture; no crash for want of ground truth."""
    from mono_depth_ros.sim.dataset import make_sequence, write_video

    seq = make_sequence('car', 12, 5, 64, 208, supersample=1, progress=False)
    video = write_video(seq, tmp_path / 'clip.mp4')
    env = dict(os.environ)
    env.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None)
    node = subprocess.Popen([sys.executable, '-m', 'mono_depth_ros.ros.node', '--ros-args', '-p',
                             f'weights:={weights}'], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        replay = subprocess.run([sys.executable, '-m', 'mono_depth_ros.ros.replay', '--source',
                                 str(video), '--fov', '70', '--out', str(tmp_path / 'out')],
                                env=env, capture_output=True, text=True, timeout=180)
    finally:
        node.send_signal(signal.SIGINT)
        log, _ = node.communicate(timeout=30)
    assert replay.returncode == 0, replay.stdout + replay.stderr + log
    assert 'no ground truth' in replay.stdout
    metrics = json.loads((tmp_path / 'out' / 'metrics.json').read_text())
    assert metrics['timing']['images_in'] == 12
    assert metrics['frames_with_depth'] == metrics['timing']['depth_out'] >= 3
    assert metrics['valid_pixel_share'] > 0.5
    assert (tmp_path / 'out' / 'depth.png').stat().st_size > 1000
    assert 'depth' in bag_topics(tmp_path / 'out' / 'recorded')
