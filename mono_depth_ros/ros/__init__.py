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

"""The ROS 2 glue (needs rclpy).

The depth node, its parameters and messages, bag replay, and the main job (a rendered
drive replayed into the node).

May import: rclpy and message packages, and :mod:`mono_depth_ros` (core, data, evaluation,
sim, runtime, weights); never the offline training package ``mono_depth_ros_training``.
"""
