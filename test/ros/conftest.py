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

"""A colcon build of the package into a temporary workspace, shared by the ROS tests."""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='session')
def colcon_install(tmp_path_factory):
    """``colcon build --merge-install`` of this package; yields the install folder.

    While the fixture lives, the install folder heads ``AMENT_PREFIX_PATH`` (as sourcing its
    ``setup.bash`` would do), so ``ros2 launch``-style lookups find the package there.
    """
    colcon = shutil.which('colcon') or str(Path(sys.executable).with_name('colcon'))
    if not Path(colcon).is_file():
        pytest.skip('colcon is not installed (colcon-common-extensions, '
                    'scripts/install_launch.sh)')
    ws = tmp_path_factory.mktemp('colcon_ws')
    cmd = [colcon, '--log-base', str(ws / 'log'), 'build', '--paths', str(ROOT),
           '--build-base', str(ws / 'build'), '--install-base', str(ws / 'install'),
           '--merge-install']
    done = subprocess.run(cmd, cwd=ws, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    install = ws / 'install'
    old = os.environ.get('AMENT_PREFIX_PATH')
    prefixes = [str(install), sys.prefix] + ([old] if old else [])
    os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join(prefixes)
    yield install
    if old is None:
        os.environ.pop('AMENT_PREFIX_PATH', None)
    else:
        os.environ['AMENT_PREFIX_PATH'] = old


@pytest.fixture()
def harness(weights):
    """Run a node with default parameters (in-process, over DDS)."""
    pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
    from harness import Harness

    h = Harness(weights)
    yield h
    h.close()
