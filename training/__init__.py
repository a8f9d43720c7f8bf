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

"""Offline training, data preparation and evaluation (installed as ``mono_depth_ros_training``).

- ``prepare_data`` / ``python -m mono_depth_ros_training.prepare``: render a dataset, or
  prepare snippets from KITTI raw, a video / image folder, or a rosbag2;
- ``train`` / ``python -m mono_depth_ros_training.train``: train (one process, or several
  through ``torchrun``);
- ``evaluate`` / ``python -m mono_depth_ros_training.evaluate``: the depth and ego-motion
  protocols on a test set;
- ``train_demo`` / ``python -m mono_depth_ros_training.demo``: a few-minute training demo.

The shipped configurations are in ``configs/`` (package data).

May import: :mod:`mono_depth_ros` (core, data, evaluation, sim), never its ``ros`` or
``runtime`` packages.
"""
