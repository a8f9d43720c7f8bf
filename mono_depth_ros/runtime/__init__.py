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

"""The running camera: frames in; metric depth, points and odometry out; online fine-tuning.

Pure torch and numpy, no ROS: the node in :mod:`mono_depth_ros.ros` only converts messages
and calls :class:`~mono_depth_ros.runtime.pipeline.DepthPipeline`.

May import: :mod:`mono_depth_ros.core` and :mod:`mono_depth_ros.weights`.
"""
