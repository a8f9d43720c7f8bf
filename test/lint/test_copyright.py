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

"""ament's copyright check (ament_copyright ships with ROS 2; it has no PyPI release)."""

import os

from lint_paths import PYTHON_PATHS, ROOT
import pytest


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    main = pytest.importorskip(
        'ament_copyright.main',
        reason='ament_copyright is not installed (it comes with a ROS 2 install; '
               'there is no PyPI release)').main
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        rc = main(argv=list(PYTHON_PATHS))
    finally:
        os.chdir(cwd)
    assert rc == 0, 'Found errors'


def test_every_python_file_has_the_licence_header():
    # The same promise checked without ament_copyright, so it holds on every machine.
    missing = []
    for rel in PYTHON_PATHS:
        path = ROOT / rel
        files = [path] if path.is_file() else sorted(path.rglob('*.py'))
        for f in files:
            head = f.read_text().splitlines()[:3]
            if not (head and head[0].startswith('# Copyright 2026 mono_depth_ros contributors')
                    and any('Apache License' in line for line in
                            f.read_text().splitlines()[:6])):
                missing.append(str(f.relative_to(ROOT)))
    assert not missing, f'files without the Apache-2.0 header: {missing}'
