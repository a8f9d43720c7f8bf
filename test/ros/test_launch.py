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


"""launch_pytest: depth.launch.py starts the node, and depth, points and odom arrive.

Runs wherever ROS 2's launch_pytest is installed (a ROS 2 distro); elsewhere it is skipped
with the reason (there is no PyPI release of launch, launch_ros or launch_pytest).
"""

from pathlib import Path
import time

import numpy as np
import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest comes with a ROS 2 install (no PyPI release)')

from launch import LaunchDescription  # noqa: E402, I100
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import rclpy  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[1] / 'launch' / 'depth.launch.py'


@launch_pytest.fixture
def launch_description():
    """Include the package's launch file with its default parameters."""
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
                                 launch_arguments={'image': '/test/image',
                                                   'camera_info': '/test/camera_info'}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=launch_description)
def test_depth_points_and_odom_arrive():
    """Publish images and camera_info; the node's three outputs must arrive."""
    from mono_depth_ros.data.messages import fill_rgb_message
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    rclpy.init()
    node = rclpy.create_node('launch_test_client')
    got = {}
    try:
        for topic, kind in (('/depth', Image), ('/points', PointCloud2), ('/odom', Odometry)):
            node.create_subscription(kind, topic,
                                     lambda m, t=topic: got.setdefault(t, m), 10)
        image_pub = node.create_publisher(Image, '/test/image', 10)
        info_pub = node.create_publisher(CameraInfo, '/test/camera_info', 10)
        rng = np.random.default_rng(0)
        end = time.time() + 60
        while time.time() < end and len(got) < 3:
            info = CameraInfo(height=128, width=416)
            info.k = [250.0, 0.0, 207.5, 0.0, 250.0, 63.5, 0.0, 0.0, 1.0]
            info_pub.publish(info)
            image = fill_rgb_message(Image(), rng.integers(0, 256, (128, 416, 3), np.uint8))
            image.header.frame_id = 'camera_optical_frame'
            image_pub.publish(image)
            rclpy.spin_once(node, timeout_sec=0.5)
        assert set(got) == {'/depth', '/points', '/odom'}
        assert got['/depth'].encoding == '32FC1'
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
