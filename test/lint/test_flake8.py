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

"""ament's flake8 check (99 columns, Google import order), as ROS packages run it."""

import os

from lint_paths import PYTHON_PATHS, ROOT
import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    main_with_errors = pytest.importorskip(
        'ament_flake8.main', reason='ament_flake8 is not installed').main_with_errors
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        rc, errors = main_with_errors(argv=list(PYTHON_PATHS))
    finally:
        os.chdir(cwd)
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + \
        '\n'.join(errors)
