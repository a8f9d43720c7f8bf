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

"""Online fine-tuning: a background thread that adapts the networks to the current scene.

It keeps a ring buffer of the latest frames (float tensors at the network resolution, as
the pipeline feeds the networks), trains a private copy of both networks with the package's
one training step (:func:`~mono_depth_ros.core.step.train_step`: the offline loss, 3D term
included) and, every ``swap_every`` steps, compares the copy with the weights in use on the
newest snippets: a better copy is swapped into the :class:`NetworkSlot` (a state-dict copy
under its lock, milliseconds); a copy whose loss is NaN or above ``diverge_ratio`` times the
reference is thrown away (reverted to the weights in use, optimiser reset). Inference never
waits for a training step: the thread sleeps so that it uses at most ``duty`` of the wall
time, and the slot's lock is only held for copies.

May import: :mod:`mono_depth_ros.core` and :mod:`mono_depth_ros.runtime.slot`.
"""

from __future__ import annotations

import collections
import copy
from pathlib import Path
import threading
import time
from typing import Any, Deque, Dict, Mapping, Optional, Tuple

from mono_depth_ros.core.config import from_dict, LossConfig, ModelConfig
from mono_depth_ros.core.losses import snippet_loss
from mono_depth_ros.core.networks import train_on_running_statistics
from mono_depth_ros.core.step import train_step
from mono_depth_ros.core.weights import save_networks
from mono_depth_ros.runtime.slot import NetworkSlot
import numpy as np
import torch

__all__ = ['OnlineTrainer']

#: the newest step records kept in :attr:`OnlineTrainer.history`
HISTORY_LENGTH = 1000


class OnlineTrainer:
    """Fine-tunes a copy of the networks in a :class:`NetworkSlot`.

    Args:
        slot: the networks in use.
        metadata: the weights' metadata (input size, architecture, training loss).
        save_path: where :meth:`save` writes the adapted weights (atomic).
        buffer_size: frames kept (the newest ``buffer_size``).
        batch_size: snippets per step.
        lr: Adam learning rate.
        swap_every: steps between comparisons with the weights in use.
        diverge_ratio: a copy worse than this times the reference is reverted.
        duty: the largest share of wall time the thread trains (0 to 1).
        loss: the loss configuration (default: the one in the weights' metadata, with
            projective ICP association for speed).
        seed: random seed of snippet sampling.
        depth_lr_scale: the depth network's learning rate as a share of ``lr`` (the
            ego-motion network's); 0 freezes the depth network. At 1 the depth error on a
            handheld walk through an unseen hall rose in five of six seeds (abs_rel 0.220
            to 0.199-0.338) while the photometric error fell; at 0.1 it fell in every seed
            (see ``test/runtime/test_online.py``).
        adapt_batch_norm: let training steps update the batch-norm running statistics
            (``False``, the default, keeps the offline ones: a few snippets of one place
            estimate them badly, and with them re-estimated the photometric error on frames
            the copy never trained on rose; see ``test/runtime/test_online.py``).

    """

    def __init__(self, slot: NetworkSlot, metadata: Mapping[str, Any],
                 save_path: Optional[str] = None, buffer_size: int = 30, batch_size: int = 2,
                 lr: float = 1e-4, swap_every: int = 10, diverge_ratio: float = 1.5,
                 duty: float = 0.5, loss: Optional[LossConfig] = None, seed: int = 0,
                 adapt_batch_norm: bool = False, depth_lr_scale: float = 0.1) -> None:
        """Copy the networks and prepare the optimiser; call :meth:`start` to run."""
        if not 0 < duty <= 1:
            raise ValueError(f'duty must be in (0, 1], got {duty}')
        if not 0 <= depth_lr_scale <= 1:
            raise ValueError(f'depth_lr_scale must be in [0, 1], got {depth_lr_scale}')
        self.depth_lr_scale = depth_lr_scale
        self.slot = slot
        self.metadata = dict(metadata)
        self.size: Tuple[int, int] = tuple(self.metadata['input_size'])
        self.seq = int(self.metadata['model']['seq_length'])
        self.save_path = save_path
        self.batch_size = batch_size
        self.swap_every = swap_every
        self.diverge_ratio = diverge_ratio
        self.duty = duty
        self.adapt_batch_norm = adapt_batch_norm
        trained = self.metadata.get('training', {}).get('loss', {})
        self.loss = loss or from_dict(LossConfig, {**trained, 'icp_association': 'projective'},
                                      'loss')
        self.buffer: Deque[Tuple[torch.Tensor, torch.Tensor]] = collections.deque(
            maxlen=buffer_size)
        self.buffer_lock = threading.Lock()
        self.depth_net, self.ego_net = slot.snapshot()
        self.depth_net.requires_grad_(depth_lr_scale > 0)  # frozen: no gradient to compute
        self.lr = lr
        self.optimiser = self._optimiser()
        self.generator = torch.Generator().manual_seed(seed)
        self.steps = 0
        self.swaps = 0
        self.reverts = 0
        self.history: Deque[Dict[str, Any]] = collections.deque(maxlen=HISTORY_LENGTH)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _optimiser(self) -> torch.optim.Optimizer:
        groups = [{'params': list(self.ego_net.parameters())}]
        if self.depth_lr_scale > 0:
            groups.append({'params': list(self.depth_net.parameters()),
                           'lr': self.lr * self.depth_lr_scale})
        return torch.optim.Adam(groups, lr=self.lr)

    def add_frame(self, image: torch.Tensor, intrinsics: np.ndarray) -> None:
        """Append a frame ``(3, H, W)`` float in ``[0, 1]`` at network resolution, with K."""
        if not isinstance(image, torch.Tensor) or tuple(image.shape) != (3, *self.size):
            raise ValueError(f'online fine-tuning takes (3, H, W) float tensors at the network '
                             f'input size {self.size}, got {getattr(image, "shape", image)}')
        k = torch.as_tensor(np.asarray(intrinsics), dtype=torch.float32)
        with self.buffer_lock:
            self.buffer.append((image.detach().float().cpu(), k))

    def clear(self) -> None:
        """Drop the buffered frames (after an odometry reset: frames are no longer a video)."""
        with self.buffer_lock:
            self.buffer.clear()

    def _snippets(self, newest: bool = False) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        with self.buffer_lock:
            frames = list(self.buffer)
        n = len(frames) - self.seq + 1
        if n < 1:
            return None
        if newest:
            starts = list(range(max(0, n - self.batch_size * 2), n))
        else:
            starts = torch.randint(n, (self.batch_size,), generator=self.generator).tolist()
        images = torch.stack([torch.stack([f[0] for f in frames[s:s + self.seq]])
                              for s in starts])
        intrinsics = torch.stack([frames[s + self.seq // 2][1] for s in starts])
        device = next(self.depth_net.parameters()).device
        return images.to(device), intrinsics.to(device)

    def _loss_of(self, depth_net, ego_net, batch) -> float:
        depth_net.eval()
        ego_net.eval()
        with torch.no_grad():
            value = snippet_loss(depth_net, ego_net, *batch, self.loss)['total'].item()
        return value

    def step(self) -> Optional[Dict[str, Any]]:
        """Take one training step; every ``swap_every`` steps, decide to swap or revert.

        Returns the step's figures, or None when the buffer is too short.
        """
        batch = self._snippets()
        if batch is None:
            return None
        self._train_mode()
        result = train_step(self.depth_net, self.ego_net, self.optimiser, *batch, self.loss)
        record: Dict[str, Any] = {'step': self.steps,
                                  'loss': float(result.terms['total'].detach())}
        self.steps += 1
        if self.steps % self.swap_every == 0:
            record['decision'] = self._decide()
        self.history.append(record)
        return record

    def _train_mode(self) -> None:
        """Training mode, with batch norm on its running statistics unless it adapts them."""
        if self.adapt_batch_norm:
            self.depth_net.train()
            self.ego_net.train()
        else:
            train_on_running_statistics(self.depth_net, self.ego_net)

    def _decide(self) -> str:
        """Swap the copy in if it beats the weights in use on the newest snippets."""
        batch = self._snippets(newest=True)
        reference_nets = self.slot.snapshot()
        reference = self._loss_of(*reference_nets, batch)
        candidate = self._loss_of(self.depth_net, self.ego_net, batch)
        if not np.isfinite(candidate) or candidate > self.diverge_ratio * reference:
            self.depth_net.load_state_dict(reference_nets[0].state_dict())
            self.ego_net.load_state_dict(reference_nets[1].state_dict())
            self.optimiser = self._optimiser()
            self.reverts += 1
            return 'reverted'
        if candidate < reference:
            self.slot.swap(copy.deepcopy(self.depth_net.state_dict()),
                           copy.deepcopy(self.ego_net.state_dict()))
            self.swaps += 1
            return 'swapped'
        return 'kept'

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                record = self.step()
            except (RuntimeError, ValueError) as err:
                self.history.append({'step': self.steps, 'error': str(err)})
                record = None
            spent = time.perf_counter() - t0
            idle = 0.2 if record is None else spent * (1 - self.duty) / self.duty
            self._stop.wait(idle)

    def start(self) -> None:
        """Start the background thread (daemon)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name='online_finetuning',
                                            daemon=True)
            self._thread.start()

    def stop(self, save: bool = False) -> None:
        """Stop the thread (after its current step); optionally save the weights in use."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if save and self.save_path:
            self.save()

    def save(self, path: Optional[str] = None) -> Path:
        """Write the weights in use (not the unvetted copy) atomically."""
        target = Path(path or self.save_path or 'online_weights.safetensors')
        meta = self.metadata
        config = from_dict(ModelConfig, meta['model'], 'model')
        depth_net, ego_net = self.slot.snapshot()
        save_networks(target, depth_net, ego_net, config, training=meta.get('training', {}),
                      extra={**meta.get('extra', {}), 'online_steps': self.steps,
                             'online_swaps': self.swaps})
        return target
