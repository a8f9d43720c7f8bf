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


"""torch.distributed helpers: start-up from ``torchrun``'s environment, synced batch norm.

One process per GPU (NCCL) or several CPU processes (gloo). Batch-norm statistics are
computed over the global batch, so a run on ``W`` processes with ``B / W`` snippets each
matches one process with ``B``: on CUDA with torch's ``SyncBatchNorm``, on the CPU (which
``SyncBatchNorm`` does not support) with :class:`GlobalBatchNorm2d`.

May import: :mod:`mono_depth_ros` (core, data, evaluation, sim) and this package; never
``runtime`` or ``ros``.
"""

from __future__ import annotations

import os
from typing import Tuple

import torch
from torch import nn
import torch.distributed as dist

__all__ = ['GlobalBatchNorm2d', 'convert_batch_norm', 'is_main', 'setup', 'world']


def setup(device: str) -> Tuple[int, int]:
    """Initialise the process group when launched by torchrun; return ``(rank, world)``."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size > 1 and not dist.is_initialized():
        backend = 'nccl' if device.startswith('cuda') else 'gloo'
        dist.init_process_group(backend)
    return world()


def world() -> Tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this is rank 0 (the one that logs and writes)."""
    return world()[0] == 0


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span all processes (works with gloo on CPU).

    Sums and counts are all-reduced with the differentiable
    ``torch.distributed.nn.functional.all_reduce``, so gradients are those of batch norm
    over the global batch. The state dict is a plain BatchNorm2d's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` ``(N, C, H, W)`` with global batch statistics while training."""
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        count = x.new_tensor([x.shape[0] * x.shape[2] * x.shape[3]], dtype=x.dtype)
        stats = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
        stats = all_reduce(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else (
                    1.0 / float(self.num_batches_tracked))
                self.running_mean.mul_(1 - m).add_(mean.detach() * m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)) * m)
        y = (x - mean.view(1, c, 1, 1)) * torch.rsqrt(var.view(1, c, 1, 1) + self.eps)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return y


def convert_batch_norm(module: nn.Module, device: str) -> nn.Module:
    """Swap BatchNorm2d layers for global-batch ones (SyncBatchNorm on CUDA).

    Call it before building the optimiser: SyncBatchNorm's conversion makes new parameters.
    """
    if device.startswith('cuda'):
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for child in module.modules():
        if type(child) is nn.BatchNorm2d:
            child.__class__ = GlobalBatchNorm2d  # same parameters and buffers, new forward
    return module
