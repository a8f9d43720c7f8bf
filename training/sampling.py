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


"""Which snippets each training step takes: uniform, or weighted by their loss.

Every step ``t`` draws from a generator seeded by ``(seed, t)``, so a resumed run and every
process of a distributed one draw the same global batch. With ``data.hard_sampling`` ``a >
0``, snippet ``i`` is drawn with probability proportional to ``loss_i ** a``, its loss under
the networks the run starts from (scored once, in eval mode, by :func:`snippet_losses`, and
kept in the output folder as ``snippet_losses.json``, so that a resumed run draws what the
uninterrupted one would): the snippets the networks explain worst come up more often.

May import: :mod:`mono_depth_ros` (core, data), :mod:`mono_depth_ros_training.distributed`
and torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, List, Optional

from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.losses import snippet_loss
from mono_depth_ros.core.weights import atomic_write_bytes
from mono_depth_ros_training.distributed import world as process_world
import torch
import torch.distributed as dist
from torch.utils.data import Sampler
from tqdm import tqdm

__all__ = ['LOSSES_FILE', 'run_weights', 'sampling_weights', 'snippet_losses',
           'step_generator', 'StepBatches']

LOSSES_FILE = 'snippet_losses.json'


def step_generator(seed: int, step: int) -> torch.Generator:
    """Return the random generator of step ``step`` (the same on every process)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


class StepBatches(Sampler):
    """Yields, for steps ``start..steps-1``, this process's slice of the global batch.

    ``weights`` (one per snippet, non-negative, not all zero) draws snippets in proportion
    to them, with replacement; None draws them uniformly.
    """

    def __init__(self, size: int, batch: int, steps: int, seed: int, start: int = 0,
                 rank: int = 0, world_size: int = 1,
                 weights: Optional[torch.Tensor] = None) -> None:
        """See the class docstring; ``batch`` is the global batch size."""
        if batch % world_size:
            raise ValueError(f'global batch {batch} is not divisible by {world_size} '
                             'processes')
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float64)
            if (weights.shape != (size,) or not torch.isfinite(weights).all()
                    or (weights < 0).any() or weights.sum() <= 0):
                raise ValueError(f'weights must be {size} finite non-negative values, not '
                                 'all zero')
        self.size, self.batch, self.steps, self.seed = size, batch, steps, seed
        self.start, self.rank, self.world = start, rank, world_size
        self.weights = weights

    def __len__(self) -> int:
        """Return the number of steps left."""
        return max(0, self.steps - self.start)

    def __iter__(self) -> Iterator[List[int]]:
        """Yield index lists, one per step."""
        per = self.batch // self.world
        for step in range(self.start, self.steps):
            generator = step_generator(self.seed, step)
            if self.weights is None:
                picks = torch.randint(self.size, (self.batch,), generator=generator)
            else:
                picks = torch.multinomial(self.weights, self.batch, replacement=True,
                                          generator=generator)
            yield picks[self.rank * per:(self.rank + 1) * per].tolist()


@torch.no_grad()
def snippet_losses(depth_net: torch.nn.Module, ego_net: torch.nn.Module, data,
                   loss: LossConfig, device: str = 'cpu', progress: bool = True
                   ) -> torch.Tensor:
    """Total loss of every snippet of ``data`` alone (eval mode, no augmentation).

    Under torch.distributed each process scores every ``world``-th snippet from its rank
    and the scores are summed across processes, so every process returns them all. Batch
    norm is in eval mode, so no process waits on another until that sum.
    """
    rank, world = process_world()
    modes = depth_net.training, ego_net.training
    depth_net.eval()
    ego_net.eval()
    values = torch.zeros(len(data), dtype=torch.float64)
    for i in tqdm(range(rank, len(data), world), desc='scoring snippets',
                  disable=not progress, leave=False):
        item = data[i]
        terms = snippet_loss(depth_net, ego_net, item['images'][None].to(device),
                             item['intrinsics'][None].to(device), loss)
        values[i] = float(terms['total'])
    depth_net.train(modes[0])
    ego_net.train(modes[1])
    if world > 1:
        values = values.to(device)  # NCCL reduces device tensors only
        dist.all_reduce(values)
        values = values.cpu()
    return values


def sampling_weights(losses: torch.Tensor, exponent: float) -> torch.Tensor:
    """``losses ** exponent``, with non-finite losses given the largest finite weight."""
    if exponent < 0:
        raise ValueError(f'the sampling exponent must be >= 0, got {exponent}')
    losses = torch.as_tensor(losses, dtype=torch.float64)
    finite = torch.isfinite(losses) & (losses >= 0)
    if not finite.any():
        raise ValueError('no snippet has a finite loss')
    weights = torch.where(finite, losses, torch.zeros_like(losses)) ** exponent
    return torch.where(finite, weights, weights[finite].max())


def run_weights(folder: Path, depth_net: torch.nn.Module, ego_net: torch.nn.Module, data,
                loss: LossConfig, exponent: float, device: str = 'cpu',
                progress: bool = True, write: bool = True) -> Optional[torch.Tensor]:
    """Return the run's sampling weights (None for ``exponent`` 0), from ``folder``'s losses.

    The first call scores every snippet and writes ``folder / LOSSES_FILE`` (atomically,
    where ``write``: the main process); later calls, a resume among them, read it. Under
    torch.distributed the processes share the scoring (:func:`snippet_losses`); the file
    is written only after all of them have looked for it, so they all take one branch.

    Raises:
        ValueError: the kept file scores a different number of snippets (the data changed).

    """
    if exponent == 0:
        return None
    path = Path(folder) / LOSSES_FILE
    if path.is_file():
        losses = torch.tensor(json.loads(path.read_text())['losses'], dtype=torch.float64)
        if len(losses) != len(data):
            raise ValueError(f'{path} scores {len(losses)} snippets, the data has '
                             f'{len(data)}; delete it to score them again')
    else:
        losses = snippet_losses(depth_net, ego_net, data, loss, device, progress)
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, json.dumps({'losses': losses.tolist()}).encode())
    return sampling_weights(losses, exponent)
