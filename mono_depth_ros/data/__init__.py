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


"""Data: image messages to arrays, and loaders for KITTI, video files and rosbag2.

Nothing here imports ROS: image messages are read through their attributes (``encoding``,
``height``, ``width``, ``step``, ``data``), which rclpy messages and the ``rosbags``
library's messages share. Every loader raises :class:`DataError` naming the file and what
is wrong with it.

May import: numpy, torch, Pillow, PyAV, rosbags, :mod:`mono_depth_ros.core` and other ``data``
modules (never ROS).
"""

from mono_depth_ros.data.errors import DataError

__all__ = ['DataError']
