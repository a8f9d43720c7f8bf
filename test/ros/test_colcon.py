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

"""``colcon build`` installs what ``ros2 run`` / ``ros2 launch`` look for."""

import os
import subprocess

import pytest


@pytest.mark.slow
def test_colcon_install_layout(colcon_install):
    """Executables in lib/<pkg>, launch and config in share/<pkg>, the ament index marker."""
    lib = colcon_install / 'lib' / 'mono_depth_ros'
    for exe in ('depth_node', 'replay', 'demo'):
        assert os.access(lib / exe, os.X_OK), exe
    share = colcon_install / 'share' / 'mono_depth_ros'
    for path in ('package.xml', 'launch/depth.launch.py', 'config/depth.yaml',
                 'config/depth.rviz'):
        assert (share / path).is_file(), path
    marker = colcon_install / 'share' / 'ament_index' / 'resource_index' / 'packages'
    assert (marker / 'mono_depth_ros').is_file()
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    assert get_package_prefix('mono_depth_ros') == str(colcon_install)
    assert get_package_share_directory('mono_depth_ros') == str(share)
    # The installed executable runs the installed node module.
    done = subprocess.run([str(lib / 'depth_node'), '--ros-args', '-p', 'device:=nonsense'],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and 'device' in done.stderr + done.stdout
