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

"""ament's pep257 docstring check, with the Google convention our docstrings follow.

ament_pep257's own default ("ament") asks for the summary on the second line and numpy-style
section underlines; the package's docstrings are Google style (Args/Returns/Raises), which
ament_pep257 supports as ``--convention google``.
"""

from lint_paths import PYTHON_PATHS, ROOT
import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    main = pytest.importorskip('ament_pep257.main',
                               reason='ament_pep257 is not installed').main
    # Like ament's own convention, missing docstrings (D100-D107) are not errors.
    missing = ['D100', 'D101', 'D102', 'D103', 'D104', 'D105', 'D106', 'D107']
    rc = main(argv=['--convention', 'google', '--add-ignore', *missing, '--']
              + [str(ROOT / p) for p in PYTHON_PATHS])
    assert rc == 0, 'Found code style errors / warnings'
