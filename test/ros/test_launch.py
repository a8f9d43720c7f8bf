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


"""The installed depth.launch.py, run by ROS 2's launch system: the node's outputs arrive.

The package is built with colcon into a temporary workspace (``colcon_install``); a child
process runs ``launch.LaunchService`` on the installed launch file, found through the ament
index, as ``ros2 launch mono_depth_ros depth.launch.py`` does (ros2cli has no PyPI
release), and stops it with SIGINT as Ctrl-C would. Needs launch and launch_ros: a distro,
or the upstream sources that ``scripts/install_launch.sh`` installs; elsewhere the test
skips with that reason.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip('launch_ros', reason='launch_ros is not installed (a ROS 2 distro, or '
                    'scripts/install_launch.sh with the upstream launch sources)')

import rclpy  # noqa: E402, I100
import yaml  # noqa: E402

#: RViz display class -> the message type it subscribes to
RVIZ_TYPES = {'rviz_default_plugins/PointCloud2': 'sensor_msgs/msg/PointCloud2',
              'rviz_default_plugins/Image': 'sensor_msgs/msg/Image',
              'rviz_default_plugins/Odometry': 'nav_msgs/msg/Odometry'}

_LAUNCHER = """
import sys
from ament_index_python.packages import get_package_share_directory
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
share = get_package_share_directory('mono_depth_ros')
service = LaunchService()
service.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(share + '/launch/depth.launch.py'),
    launch_arguments=[a.split(':=', 1) for a in sys.argv[1:]]))
sys.exit(service.run())
"""


def _rviz_displays(share):
    config = yaml.safe_load(open(f'{share}/config/depth.rviz'))
    manager = config['Visualization Manager']
    topics = {d['Topic']['Value']: d for d in manager['Displays'] if 'Topic' in d}
    return topics, manager['Global Options']['Fixed Frame']


def _drive(node, seconds=90):
    """Publish images and camera_info until depth, points and odom have arrived."""
    from mono_depth_ros.data.messages import fill_rgb_message
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    got = {}
    for topic, kind in (('/depth', Image), ('/points', PointCloud2), ('/odom', Odometry)):
        node.create_subscription(kind, topic, lambda m, t=topic: got.setdefault(t, m), 10)
    image_pub = node.create_publisher(Image, '/test/image', 10)
    info_pub = node.create_publisher(CameraInfo, '/test/camera_info', 10)
    rng = np.random.default_rng(0)
    end = time.time() + seconds
    while time.time() < end and len(got) < 3:
        info = CameraInfo(height=128, width=416)
        info.k = [250.0, 0.0, 207.5, 0.0, 250.0, 63.5, 0.0, 0.0, 1.0]
        info_pub.publish(info)
        image = fill_rgb_message(Image(), rng.integers(0, 256, (128, 416, 3), np.uint8))
        image.header.frame_id = 'camera_optical_frame'
        image.header.stamp = node.get_clock().now().to_msg()
        image_pub.publish(image)
        rclpy.spin_once(node, timeout_sec=0.5)
    return got


def _check_rviz_config(node, got):
    """Every RViz display's topic is published by the node with its type and a fitting QoS."""
    from ament_index_python.packages import get_package_share_directory
    from rclpy.qos import ReliabilityPolicy

    displays, fixed = _rviz_displays(get_package_share_directory('mono_depth_ros'))
    assert set(displays) == {'/depth', '/points', '/odom'}
    for topic, display in displays.items():
        pubs = [p for p in node.get_publishers_info_by_topic(topic)
                if p.node_name == 'depth_node']
        assert [p.topic_type for p in pubs] == [RVIZ_TYPES[display['Class']]], topic
        if display['Topic']['Reliability Policy'] == 'Reliable':
            assert pubs[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE, topic
    assert fixed == got['/odom'].header.frame_id


@pytest.mark.slow
def test_installed_launch_file(colcon_install):
    """Depth, points and odom arrive; RViz's config fits; Ctrl-C ends everything cleanly."""
    launch = subprocess.Popen(
        [sys.executable, '-c', _LAUNCHER, 'image:=/test/image',
         'camera_info:=/test/camera_info'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)  # its own process group: a hung launch is killed with its node
    rclpy.init()
    node = rclpy.create_node('launch_test_client')
    try:
        got = _drive(node)
        assert set(got) == {'/depth', '/points', '/odom'}, 'outputs missing'
        assert got['/depth'].encoding == '32FC1'
        assert got['/points'].header.frame_id == 'camera_optical_frame'
        _check_rviz_config(node, got)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        launch.send_signal(signal.SIGINT)
        try:
            out, _ = launch.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            # Kill the launcher and every process it started, so no node outlives the test
            # and disturbs the next ones.
            os.killpg(launch.pid, signal.SIGKILL)
            out, _ = launch.communicate()
            out = 'launch did not end within 30 s of SIGINT (killed with its group)\n' + out
    assert launch.returncode == 0, out
    assert 'Traceback' not in out, out
