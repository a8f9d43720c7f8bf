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

"""The learning core must import and run without ROS."""

import subprocess
import sys


def test_core_imports_without_rclpy():
    code = (
        'import sys\n'
        'import mono_depth_ros.core, mono_depth_ros.core.icp, mono_depth_ros.core.losses\n'
        'import mono_depth_ros.core.geometry, mono_depth_ros.core.weights\n'
        'import mono_depth_ros.sim.scene\n'
        "ros = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rclpy', 'rosidl_runtime_py', 'sensor_msgs', 'cv_bridge', 'tf2_ros'))\n"
        'assert not ros, ros\n'
        "print('pure')\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith('pure')
