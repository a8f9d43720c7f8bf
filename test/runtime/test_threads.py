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

"""Inference threads: torch's pool as asked, numpy's BLAS at one thread beside it."""

from mono_depth_ros.runtime.threads import set_threads, TORCH_DEFAULT_THREADS
import numpy as np
from threadpoolctl import threadpool_info
import torch


def test_set_threads_keeps_blas_at_one_and_restores_torch_default():
    before = torch.get_num_threads()
    try:
        set_threads(2)
        assert torch.get_num_threads() == 2
        blas = [pool for pool in threadpool_info() if pool['user_api'] == 'blas']
        assert blas, 'numpy should have loaded a BLAS library'
        assert all(pool['num_threads'] == 1 for pool in blas), blas
        a = np.ones((256, 256), np.float32)
        np.testing.assert_allclose(a @ a, 256.0)  # BLAS still computes at one thread
        set_threads(0)
        assert torch.get_num_threads() == TORCH_DEFAULT_THREADS
    finally:
        torch.set_num_threads(before)
