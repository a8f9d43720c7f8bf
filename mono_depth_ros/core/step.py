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

"""The one training step: forward, vid2depth loss, backward, optimiser step.

Offline training (one process or DDP), the training demo and online fine-tuning all call
:func:`train_step`; they differ only in where their snippets come from and what they do
with the figures.

May import: torch and the core modules ``config`` and ``losses``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional

from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.losses import LOSS_TERMS, snippet_loss
import torch

__all__ = ['StepResult', 'train_step']


@dataclass
class StepResult:
    """What one step did.

    Attributes:
        terms: every loss term and the networks' outputs (see
            :func:`~mono_depth_ros.core.losses.snippet_loss`); the loss terms still hold
            their graphs until the result is dropped.
        applied: the optimiser stepped (False when the loss was not finite).

    """

    terms: Dict[str, torch.Tensor]
    applied: bool

    def figures(self) -> Dict[str, float]:
        """Return the loss terms as plain floats (named as :data:`LOSS_TERMS`)."""
        return {name: float(self.terms[name].detach()) for name in LOSS_TERMS}


def train_step(depth_net: torch.nn.Module, egomotion_net: torch.nn.Module,
               optimiser: torch.optim.Optimizer, images: torch.Tensor,
               intrinsics: torch.Tensor, config: LossConfig = LossConfig(),
               all_finite: Optional[Callable[[bool], bool]] = None) -> StepResult:
    """Train both networks on one batch of snippets.

    Args:
        depth_net: the depth network (in training mode, or wrapped by DDP).
        egomotion_net: the ego-motion network (likewise).
        optimiser: holds the parameters of both.
        images: snippets, shape ``(B, S, 3, H, W)``, in ``[0, 1]``.
        intrinsics: camera matrices for ``H x W``, shape ``(B, 3, 3)``.
        config: the loss configuration.
        all_finite: with several processes, turns this process's "loss is finite" into
            "every process's loss is finite" (so that all skip or all step together).

    Returns:
        A :class:`StepResult`. A non-finite loss changes no weight.

    """
    terms = snippet_loss(depth_net, egomotion_net, images, intrinsics, config)
    finite = bool(torch.isfinite(terms['total']))
    if all_finite is not None:
        finite = all_finite(finite)
    optimiser.zero_grad(set_to_none=True)
    if not finite:
        return StepResult(terms, False)
    terms['total'].backward()
    optimiser.step()
    return StepResult(terms, True)
