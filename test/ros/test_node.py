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


"""depth_node with real rclpy over real DDS (in-process), and its message conversions."""

import math

from mono_depth_ros.data.messages import depth_from_message
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

from harness import _image, Harness, read_cloud  # noqa: E402, I100
from mono_depth_ros.ros.messages import (matrix_to_quaternion,  # noqa: E402
                                         point_cloud_message)
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CompressedImage  # noqa: E402


def test_point_cloud_layout_and_rgb_packing():
    """Points carry float32 xyz and PCL's packed rgb (0x00RRGGBB in a float32 field)."""
    from std_msgs.msg import Header

    pts = np.array([[1.0, 2.0, 3.0], [-1.5, 0.25, 10.0]])
    colours = np.array([[255, 0, 0], [1, 2, 3]], np.uint8)
    msg = point_cloud_message(pts, colours, Header(frame_id='cam'))
    cloud = read_cloud(msg)
    np.testing.assert_array_equal(np.stack([cloud['x'], cloud['y'], cloud['z']], 1), pts)
    packed = cloud['rgb'].view('<u4')
    assert packed.tolist() == [0xFF0000, 0x010203]
    assert msg.point_step == 16 and msg.row_step == 32 and msg.is_dense


def test_quaternion_closed_form():
    """A rotation of t about z is (0, 0, sin t/2, cos t/2), w kept non-negative."""
    t = 2.5
    rot = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
    np.testing.assert_allclose(matrix_to_quaternion(rot),
                               [0, 0, math.sin(t / 2), math.cos(t / 2)], atol=1e-12)


def test_outputs_for_every_encoding(harness):
    """Depth (32FC1, input size, same stamp and frame), camera_info, points and odometry."""
    harness.send_info()
    harness.spin(0.3)
    for i, encoding in enumerate(['rgb8', 'bgr8', 'mono8', 'rgba8', 'bgra8']):
        assert harness.send(_image(encoding, seed=i), sec=10 + i), encoding
    from io import BytesIO

    from PIL import Image as PILImage
    buf = BytesIO()
    PILImage.fromarray(np.zeros((64, 208, 3), np.uint8)).save(buf, format='png')
    compressed = CompressedImage(format='png', data=buf.getvalue())
    assert not harness.send(compressed, sec=20, wait=0.5)  # not subscribed by default
    harness.spin(0.3)
    depth = harness.got['depth'][-1]
    assert depth.encoding == '32FC1' and (depth.height, depth.width) == (64, 208)
    assert depth.header.stamp.sec == 14 and depth.header.frame_id == 'cam_optical'
    values = depth_from_message(depth)
    assert np.isfinite(values).mean() > 0.9 and np.nanmin(values) > 0
    info = harness.got['depth/camera_info'][-1]
    np.testing.assert_allclose(np.array(info.k).reshape(3, 3)[0, 0], 0.6 * 208, rtol=1e-6)
    cloud = read_cloud(harness.got['points'][-1])
    assert len(cloud) == 16 * 52 and np.isfinite(cloud['z']).all()
    odom = harness.got['odom'][-1]
    assert odom.header.frame_id == 'odom' and odom.child_frame_id == 'cam_optical'
    assert len(harness.got['odom']) == 5


def test_bad_input_never_kills_the_node(harness):
    """Unsupported encodings, truncated data, bad steps, no camera_info: skipped frames."""
    assert not harness.send(_image(seed=1), sec=1, wait=0.5)  # no camera_info: it waits,
    assert not harness.send(_image(seed=2), sec=2, wait=0.5)  # replaced by a newer one,
    harness.send_info()
    harness.spin(0.5)
    # which goes out once camera_info arrives (the older one is dropped, not queued).
    assert [d.header.stamp.sec for d in harness.got['depth']] == [2]
    bad = _image()
    bad.encoding = 'yuv422'
    assert not harness.send(bad, sec=3, wait=0.5)
    short = _image()
    short.data = bytes(short.data)[:100]
    assert not harness.send(short, sec=4, wait=0.5)
    wrong_step = _image()
    wrong_step.step = 10
    assert not harness.send(wrong_step, sec=5, wait=0.5)
    empty = _image()
    empty.height, empty.width, empty.step, empty.data = 0, 0, 0, b''
    assert not harness.send(empty, sec=6, wait=0.5)
    assert harness.send(_image(), sec=7)  # and the node still works


def test_odometry_resets_on_time_jump_and_service(harness):
    """A stamp going backwards (bag loop) and ~/reset_odometry restart at the identity."""
    from std_srvs.srv import Trigger

    harness.send_info()
    harness.spin(0.3)
    for sec in (1, 2, 3):
        assert harness.send(_image(seed=sec), sec=sec)
    moved = harness.got['odom'][-1].pose.pose.position
    assert abs(moved.x) + abs(moved.y) + abs(moved.z) > 0
    assert harness.send(_image(seed=9), sec=1)
    p = harness.got['odom'][-1].pose.pose.position
    assert (p.x, p.y, p.z) == (0.0, 0.0, 0.0)
    assert harness.send(_image(seed=10), sec=2)
    client = harness.client.create_client(Trigger, 'depth_node/reset_odometry')
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(Trigger.Request())
    harness.executor.spin_until_future_complete(future, timeout_sec=5)
    assert future.result().success
    assert harness.send(_image(seed=11), sec=3)
    p = harness.got['odom'][-1].pose.pose.position
    assert (p.x, p.y, p.z) == (0.0, 0.0, 0.0)


def test_base_frame_and_network_resolution(weights):
    """Odometry of a configured base frame through base_T_camera; depth at network size."""
    h = Harness(weights, base_frame='base_link', output_resolution='network')
    try:
        h.send_info()
        h.spin(0.3)
        assert h.send(_image(), sec=1)
        depth = h.got['depth'][-1]
        assert (depth.height, depth.width) == (32, 104)
        assert h.got['odom'][-1].child_frame_id == 'base_link'
    finally:
        h.close()


def test_bad_weights_fail_at_start(tmp_path):
    """A corrupt weights file stops the node at start with a message naming the file."""
    from mono_depth_ros.core.weights import WeightsError
    from mono_depth_ros.ros.node import DepthNode

    bad = tmp_path / 'broken.safetensors'
    bad.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"oops": 1}')
    rclpy.init()
    try:
        with pytest.raises(WeightsError, match='broken.safetensors'):
            DepthNode(parameter_overrides=[Parameter('weights', value=str(bad))])
    finally:
        rclpy.try_shutdown()


def test_interrupt_while_starting_exits_cleanly(monkeypatch):
    """SIGINT during the constructor (the context shut down under it) is exit 0, not a trace."""
    from mono_depth_ros.ros import node as node_module

    def interrupted_start(**kwargs):
        rclpy.shutdown()  # what rclpy's SIGINT handler does
        return rclpy.create_node('interrupted')  # the next entity meets the dead context

    monkeypatch.setattr(node_module, 'DepthNode', interrupted_start)
    with pytest.raises(SystemExit) as stop:
        node_module.main([])
    assert stop.value.code == 0
    assert not rclpy.ok()


def test_tf_is_published_with_the_upstream_type(weights):
    """Check odom -> camera on /tf equals the odometry and TFMessage's hash is Kilted's."""
    tf2_msgs = pytest.importorskip('tf2_msgs.msg', reason='tf2_msgs is not installed')
    from rosbags.typesys import get_typestore, Stores

    h = Harness(weights)
    try:
        tfs = []
        h.client.create_subscription(tf2_msgs.TFMessage, '/tf', tfs.append, 10)
        h.send_info()
        h.spin(0.3)
        for sec in (1, 2):
            assert h.send(_image(seed=sec), sec=sec)
        h.spin(0.3)
        transform = tfs[-1].transforms[0]
        odom = h.got['odom'][-1]
        assert transform.header.frame_id == 'odom'
        assert transform.child_frame_id == odom.child_frame_id == 'cam_optical'
        assert transform.header.stamp == odom.header.stamp
        assert transform.transform.translation.x == odom.pose.pose.position.x
        assert transform.transform.rotation.w == odom.pose.pose.orientation.w
        info = h.client.get_publishers_info_by_topic('/tf')
        expected = get_typestore(Stores.ROS2_KILTED).hash_rihs01('tf2_msgs/msg/TFMessage')
        assert [str(i.topic_type_hash) for i in info] == [expected]
    finally:
        h.close()
