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

"""The street datasets' paths regenerate from their render seeds (``prepare``)."""

from mono_depth_ros.sim.motion import car_trajectory, handheld_trajectory
from mono_depth_ros_training.prepare import DATE, sequence_seed, street_path
import numpy as np


def test_street_paths_regenerate_from_the_render_seed(tiny_dataset):
    """``street_path`` and ``sequence_seed`` give each rendered drive's own path.

    ``benchmarks.rotation_fit`` regenerates training drives' true poses this way; the
    drive's oxts positions (written from the poses it was rendered with) must agree.
    """
    paths = {'car': car_trajectory, 'handheld': handheld_trajectory}
    kinds = []
    for index, frames in ((0, 16), (1, 16), (2, 8)):  # two training drives, one test drive
        kinds.append(street_path(index))
        poses = paths[kinds[-1]](frames, seed=sequence_seed(5, index)).numpy()
        oxts = sorted((tiny_dataset / 'kitti_raw' / DATE / f'{DATE}_drive_{index + 1:04d}_sync'
                       / 'oxts' / 'data').glob('*.txt'))
        fields = np.array([[float(v) for v in p.read_text().split()[:2]] for p in oxts])
        north = (fields[:, 0] - 49.0) * 111320.0
        east = (fields[:, 1] - 8.4) * 111320.0 * np.cos(np.radians(49.0))
        np.testing.assert_allclose(north, poses[:, 2, 3], atol=5e-3)
        np.testing.assert_allclose(east, poses[:, 0, 3], atol=5e-3)
    assert kinds == ['car', 'car', 'handheld']
    assert sequence_seed(5, 2) == 5002  # the scheme earlier tests and recipes quote
