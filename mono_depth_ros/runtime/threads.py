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

"""The CPU threads of inference: torch's intra-op pool, and numpy's BLAS kept to one.

On a two-core machine a torch pool of two threads and numpy's OpenBLAS pool of two fought
for the cores whenever a frame's small numpy products (the box resize of the torch
backend) ran between two networks: ``python -m benchmarks.bench_pipeline`` measured the
torch pipeline at 21 frames/s against 78 for its bare networks, and 68 with
``OPENBLAS_NUM_THREADS=1``. The per-frame products are far too small to gain from BLAS
threads, so :func:`set_threads` keeps BLAS at one thread (through threadpoolctl, which can
change a loaded library's pool; an environment variable works only before numpy loads).

May import: torch, threadpoolctl.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits
import torch

__all__ = ['set_threads', 'TORCH_DEFAULT_THREADS']

#: torch's own intra-op thread count, before anything here changes it
TORCH_DEFAULT_THREADS = torch.get_num_threads()

_blas_limit = None  # kept: the limit lasts while this object lives


def set_threads(threads: int) -> None:
    """Set torch's intra-op threads (0: torch's own default) and numpy's BLAS to one."""
    global _blas_limit
    torch.set_num_threads(threads or TORCH_DEFAULT_THREADS)
    if _blas_limit is None:
        _blas_limit = threadpool_limits(limits=1, user_api='blas')
