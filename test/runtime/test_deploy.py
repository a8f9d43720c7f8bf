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

"""ONNX export and the onnxruntime backend agree with torch; the pipeline's per-frame glue."""

import json
import subprocess
import sys

from mono_depth_ros.core.camera import depth_to_points, pixel_grid
from mono_depth_ros.core.weights import load_networks
from mono_depth_ros.runtime.pipeline import DepthPipeline
import numpy as np
import pytest
import torch

onnx = pytest.importorskip('onnx', reason='onnx is not installed (requirements/test.txt)')
ort = pytest.importorskip('onnxruntime', reason='onnxruntime is not installed')


def _k(h, w):
    return np.array([[0.6 * w, 0, w / 2], [0, 0.6 * w, h / 2], [0, 0, 1.0]])


def test_export_command_writes_checked_models_that_match_torch(tmp_path, weights):
    """export-onnx: valid opset-17 models, dynamic batch, outputs equal torch's to 1e-4."""
    out = tmp_path / 'model.onnx'
    done = subprocess.run([sys.executable, '-m', 'mono_depth_ros.runtime.deploy',
                           'export-onnx', str(weights), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / 'model.json').read_text())
    depth_net, ego_net, metadata = load_networks(weights)
    h, w = metadata['input_size']
    assert meta['input_size'] == [h, w] and meta['opset'] == 17
    g = torch.Generator().manual_seed(0)
    for name, module, x in (
            ('depth', lambda t: depth_net(t)[0], torch.rand(3, 3, h, w, generator=g)),
            ('egomotion', ego_net, torch.rand(2, 3, 3, 3, h, w, generator=g)[0])):
        model = onnx.load(tmp_path / f'model.{name}.onnx')
        onnx.checker.check_model(model)
        assert model.opset_import[0].version == 17
        session = ort.InferenceSession(str(tmp_path / f'model.{name}.onnx'),
                                       providers=['CPUExecutionProvider'])
        for batch in (1, x.shape[0]):  # the batch axis is dynamic
            (got,) = session.run(None, {session.get_inputs()[0].name: x[:batch].numpy()})
            with torch.no_grad():
                want = module(x[:batch]).numpy()
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4, err_msg=name)


def test_onnxruntime_backend_runs_the_same_pipeline(weights):
    """Depth, input and odometry of both backends agree over a stream that changes camera.

    The onnxruntime graph takes the resize's passes as inputs: a ratio with a short period
    (64x208, 80x260), Pillow's fallback (67x211) and the networks' own size (32x104) all
    run through the one exported graph, and the network input is the torch path's bit for
    bit.
    """
    rng = np.random.default_rng(1)
    sizes = [(64, 208)] * 4 + [(67, 211)] * 3 + [(32, 104)] * 2 + [(80, 260)] * 2
    frames = [rng.integers(0, 256, (*size, 3), np.uint8) for size in sizes]
    a = DepthPipeline(weights, camera_height=1.5)
    b = DepthPipeline(weights, camera_height=1.5, backend='onnxruntime')
    for i, frame in enumerate(frames):
        k = _k(*frame.shape[:2])
        ra, rb = a.process(frame, i, k), b.process(frame, i, k)
        np.testing.assert_array_equal(rb.image.numpy(), ra.image.numpy())
        np.testing.assert_allclose(rb.depth, ra.depth, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(rb.odom_T_camera, ra.odom_T_camera, atol=1e-4)
        assert rb.reset == ra.reset
    assert not np.allclose(ra.odom_T_camera, np.eye(4))  # motion was chained, not skipped
    with pytest.raises(ValueError, match='backend must be one of'):
        DepthPipeline(weights, backend='tensorrt')
    with pytest.raises(ValueError, match='CPU'):
        DepthPipeline(weights, device='cuda', backend='onnxruntime')


def test_points_come_from_cached_rays_and_equal_back_projection(weights):
    """Float32 points from cached rays equal the float64 back-projection of the depth."""
    pipeline = DepthPipeline(weights)
    frame = np.random.default_rng(2).integers(0, 256, (64, 208, 3), np.uint8)
    result = pipeline.process(frame, 0, _k(64, 208))
    assert result.points.dtype == np.float32 and result.depth.dtype == np.float32
    h, w = pipeline.size
    depth = torch.from_numpy(np.nan_to_num(result.depth, nan=0.0)).double()[None, None]
    k = torch.from_numpy(result.intrinsics)[None]
    expected = depth_to_points(depth, k, pixel_grid(h, w, torch.float64))[0]
    expected = expected.permute(1, 2, 0).numpy()
    ok = np.isfinite(result.depth)
    np.testing.assert_allclose(result.points[ok], expected[ok], rtol=1e-5, atol=1e-6)
    assert np.isnan(result.points[~ok]).all()


def test_ground_plane_is_refitted_at_its_interval(weights, monkeypatch):
    """With scale_interval 3 the plane is fitted on frames 0, 3, 6 only, on a subsample."""
    pipeline = DepthPipeline(weights, camera_height=1.5, scale_interval=3, scale_stride=2)
    calls = []
    original = pipeline.scale.update

    def counted(points):
        calls.append(len(points))
        return original(points)
    monkeypatch.setattr(pipeline.scale, 'update', counted)
    rng = np.random.default_rng(3)
    for i in range(7):
        pipeline.process(rng.integers(0, 256, (64, 208, 3), np.uint8), i, _k(64, 208))
    h, w = pipeline.size
    assert calls == [(h // 2) * (w // 2)] * 3
