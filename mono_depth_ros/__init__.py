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

"""Self-supervised monocular depth and ego-motion (vid2depth) for ROS 2.

Layers, each importing only those before it:

- ``core``: the learning library (camera, geometry, ICP, losses, networks, the training
  step, weights I/O; pure torch, no ROS);
- ``data`` (loaders, message-shaped arrays), ``evaluation`` (metrics, plots), ``sim``
  (rendered scenes and sequences);
- ``runtime``: the running camera (pipeline, scale, odometry, online fine-tuning);
- ``ros``: the node, its messages, bag replay and the main job.

``weights`` holds the shipped default weights. Offline training is the separate package
``mono_depth_ros_training`` (the repository's ``training/`` folder).
"""

__version__ = '0.1.0'
