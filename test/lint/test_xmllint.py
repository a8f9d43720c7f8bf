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

"""ament's xmllint check of package.xml against the package format schema."""

import shutil

from lint_paths import ROOT
import pytest


@pytest.mark.linter
@pytest.mark.xmllint
def test_xmllint(capfd):
    main = pytest.importorskip('ament_xmllint.main',
                               reason='ament_xmllint is not installed').main
    if shutil.which('xmllint') is None:
        pytest.skip('the xmllint program is not installed (Debian: libxml2-utils)')
    rc = main(argv=[str(ROOT / 'package.xml')])
    if rc != 0:
        err = capfd.readouterr().err
        if 'failed to load external entity' in err and 'package_format3.xsd' in err:
            pytest.skip('the package format schema (download.ros.org) cannot be fetched '
                        'offline; test_package_xml checks the format with catkin_pkg')
        pytest.fail('Found errors:\n' + err)


def test_package_xml():
    """Parse package.xml as colcon and rosdep do, and check the declared dependencies."""
    package = pytest.importorskip('catkin_pkg.package', reason='catkin_pkg is not installed')
    pkg = package.parse_package(str(ROOT / 'package.xml'))
    pkg.validate()
    assert pkg.package_format == 3
    assert pkg.get_build_type() == 'ament_python'
    exec_deps = {d.name for d in pkg.exec_depends}
    # Every ROS package the code imports is declared, and every declared one is used.
    sources = '\n'.join(p.read_text() for p in list((ROOT / 'mono_depth_ros').rglob('*.py'))
                        + list((ROOT / 'launch').glob('*.py')))
    ros_packages = ('rclpy', 'sensor_msgs', 'geometry_msgs', 'nav_msgs', 'std_srvs',
                    'tf2_msgs', 'diagnostic_msgs', 'rcl_interfaces', 'launch', 'launch_ros',
                    'rviz2', 'cv_bridge', 'sensor_msgs_py', 'tf_transformations', 'tf2_ros')
    for name in ros_packages:
        used = (f'import {name}' in sources or f'from {name}' in sources
                or f"'{name}'" in sources)
        assert used == (name in exec_deps), (name, 'used' if used else 'not used')
    test_deps = {d.name for d in pkg.test_depends}
    for name in ('python3-colcon-common-extensions', 'python3-pytest', 'ament_flake8',
                 'ament_pep257', 'ament_copyright', 'ament_xmllint'):
        assert name in test_deps, name
