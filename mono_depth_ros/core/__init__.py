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

"""The learning core: networks, geometry, losses, ICP and weights I/O (pure torch).

Nothing in this package imports ROS; it runs in any Python with torch. The ICP function
itself is ``mono_depth_ros.core.icp.icp`` (not re-exported here, so that the name
``mono_depth_ros.core.icp`` stays the module).

May import: torch, numpy, scipy, safetensors and other ``mono_depth_ros.core`` modules.
"""

from mono_depth_ros.core.config import LossConfig, ModelConfig
from mono_depth_ros.core.icp import icp_loss, ICPResult, kabsch
from mono_depth_ros.core.losses import vid2depth_loss
from mono_depth_ros.core.networks import build_networks, DispNet, EgoMotionNet
from mono_depth_ros.core.weights import load_networks, save_networks, WeightsError

__all__ = ['DispNet', 'EgoMotionNet', 'ICPResult', 'LossConfig', 'ModelConfig', 'WeightsError',
           'build_networks', 'icp_loss', 'kabsch', 'load_networks', 'save_networks',
           'vid2depth_loss']
