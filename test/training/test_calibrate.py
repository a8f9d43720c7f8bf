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

"""Metric calibration of weights: measured on training drives, stored, used by the pipeline."""

import shutil

from mono_depth_ros.core.weights import metric_scale, read_weights, update_metadata, \
    WeightsError
from mono_depth_ros.data.kitti import eigen_test_frames, KittiDrive
from mono_depth_ros.runtime.pipeline import DepthPipeline
from mono_depth_ros.sim.dataset import default_intrinsics
from mono_depth_ros_training.calibrate import calibrate, frame_ratios, main
import numpy as np
import pytest
import torch


class _Constant(torch.nn.Module):
    """A depth network that predicts disparity 0.5 (depth 2) everywhere."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))  # tells callers its device

    def forward(self, images):
        return [torch.full_like(images[:, :1], 0.5)]


def test_frame_ratios_are_median_truth_over_median_prediction(tiny_dataset):
    """A constant depth of 2: each frame's ratio is its median true depth over 2."""
    drives = [KittiDrive(d) for d in sorted((tiny_dataset / 'kitti_raw').glob('*/*_sync'))]
    ratios = frame_ratios(_Constant(), (32, 104), drives[:1], every=3)
    expected = []
    for frame in drives[0].frames[::3]:
        gt = drives[0].depth(frame)
        expected.append(np.median(gt[(gt > 0) & (gt <= 80)]) / 2.0)
    np.testing.assert_allclose(ratios, expected, rtol=1e-6)


def test_calibration_leaves_out_test_drives_and_feeds_the_pipeline(tiny_dataset, weights,
                                                                   tmp_path, capsys):
    """--write stores it (tensors intact); the fixed scale uses it, the ground plane not."""
    path = tmp_path / 'w.safetensors'
    shutil.copy(weights, path)
    test = {d for _, d, _ in eigen_test_frames(tiny_dataset / 'test_files_eigen.txt')}
    result = calibrate(path, tiny_dataset, every=2)
    assert result['drives'] == len(list((tiny_dataset / 'kitti_raw').glob('*/*_sync'))) \
        - len(test) == 2
    assert result['p10'] <= result['metric_scale'] <= result['p90']
    assert metric_scale(read_weights(path)[1]) is None
    main([str(path), '--data', str(tiny_dataset), '--every', '2', '--write'])
    assert '"metric_scale"' in capsys.readouterr().out
    scale = metric_scale(read_weights(path)[1])  # read_weights checks the tensors' digest
    assert scale == pytest.approx(result['metric_scale'])

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (64, 208, 3), dtype=np.uint8)
    k = default_intrinsics(64, 208)
    plain = DepthPipeline(weights, refine_iterations=0, max_depth=1e9).process(frame, 0, k)
    calibrated = DepthPipeline(path, refine_iterations=0, max_depth=1e9)
    assert calibrated.calibration == scale
    np.testing.assert_allclose(calibrated.process(frame, 0, k).depth, plain.depth * scale,
                               rtol=1e-6)
    given = DepthPipeline(path, depth_scale=2.0, refine_iterations=0, max_depth=1e9)
    np.testing.assert_allclose(given.process(frame, 0, k).depth, plain.depth * 2.0, rtol=1e-6)
    ground = [DepthPipeline(w, camera_height=1.5, refine_iterations=0, max_depth=1e9)
              for w in (weights, path)]
    assert ground[0].process(frame, 0, k).scale == ground[1].process(frame, 0, k).scale


def test_bad_calibration_and_fixed_keys_are_refused(weights, tmp_path):
    """A non-positive scale is a WeightsError; the tensors' own keys cannot be rewritten."""
    path = tmp_path / 'w.safetensors'
    shutil.copy(weights, path)
    with pytest.raises(ValueError, match='sha256'):
        update_metadata(path, sha256='0')
    update_metadata(path, calibration={'metric_scale': -1.0})
    with pytest.raises(WeightsError, match='metric_scale'):
        DepthPipeline(path)
