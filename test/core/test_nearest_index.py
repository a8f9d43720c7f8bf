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

"""The exact nearest-neighbour index ICP builds once: KD-tree, brute force, grid agree."""

from benchmarks.references import reference_icp
from conftest import rigid
from mono_depth_ros.core.camera import depth_to_points
from mono_depth_ros.core.geometry import pose_vec_to_mat, transform_points
from mono_depth_ros.core.icp import icp
from mono_depth_ros.core.neighbours import NearestIndex
import numpy as np
import pytest
import torch


def _numpy_nearest(query, ref):
    """Index of the nearest ``ref`` row per ``query`` row, by full numpy distances."""
    d = ((query[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
    return d.argmin(1), np.sqrt(d.min(1))


@pytest.mark.parametrize('method', ['kdtree', 'brute', 'grid', 'auto'])
def test_index_is_built_once_and_exact_for_many_queries(method):
    """One index, three query batches (as ICP's iterations): equal to numpy brute force."""
    g = torch.Generator().manual_seed(4)
    ref = torch.randn(2, 600, 3, generator=g, dtype=torch.float64) * 4
    ref_valid = torch.rand(2, 600, generator=g) > 0.25
    index = NearestIndex(ref, ref_valid, method, chunk_size=101)
    for shift in (0.0, 0.3, 2.0):
        query = torch.randn(2, 300, 3, generator=g, dtype=torch.float64) * 4 + shift
        q_valid = torch.rand(2, 300, generator=g) > 0.2
        idx, found = index(query, q_valid)
        assert torch.equal(found, q_valid)
        for b in range(2):
            valid = np.nonzero(ref_valid[b].numpy())[0]
            _, dist = _numpy_nearest(query[b].numpy(), ref[b, valid].numpy())
            got = (query[b] - ref[b, idx[b]]).norm(dim=1).numpy()
            ok = q_valid[b].numpy()
            np.testing.assert_allclose(got[ok], dist[ok], rtol=0, atol=1e-12)
            assert ref_valid[b, idx[b][found[b]]].all()


def test_bad_methods_are_named():
    """An unknown method, or a KD-tree on a non-CPU tensor, is a clear error."""
    with pytest.raises(ValueError, match='method must be one of'):
        NearestIndex(torch.zeros(1, 5, 3), method='octree')
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match='CPU'):
            NearestIndex(torch.zeros(1, 5, 3, device='cuda'), method='kdtree')


def test_icp_exact_searches_agree_with_the_reference(organised_cloud):
    """Point-to-point ICP with each exact search equals the scipy reference ICP (float64)."""
    depth, k = organised_cloud
    target = depth_to_points(depth[None], k[None]).flatten(2).transpose(1, 2)
    motion = pose_vec_to_mat(rigid(4.0, 0.3))
    source = transform_points(torch.linalg.inv(motion), target)
    expected = reference_icp(source[0].numpy(), target[0].numpy(), 10)
    for method in ('kdtree', 'brute', 'grid'):
        result = icp(source, target, iterations=10, nearest_method=method)
        np.testing.assert_allclose(result.transform[0].numpy(), expected, atol=1e-9,
                                   err_msg=method)
