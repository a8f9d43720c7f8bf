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

"""Does online fine-tuning help? Scores of a pipeline before and after adapting to a sequence.

Used by ``test/test_online.py`` and ``benchmarks/online_quality.py`` on rendered sequences
(exact depth and poses). Unlike the rest of :mod:`mono_depth_ros.evaluation` this module
needs torch: it runs the networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.inference import (frames_to_tensor, pairwise_motions,
                                           photometric_error, predict_depths)
from mono_depth_ros.evaluation.depth import evaluate_depths
from mono_depth_ros.evaluation.pose import chain_motions, evaluate_trajectory
from mono_depth_ros.runtime.online import OnlineTrainer
from mono_depth_ros.runtime.pipeline import DepthPipeline
import numpy as np
import torch

__all__ = ['Adaptation', 'Scores', 'finetune_on_sequence', 'sequence_scores']


@dataclass(frozen=True)
class Scores:
    """Scores of a pipeline on the frames of a sequence from some index on.

    Attributes:
        reconstruction: mean photometric reconstruction term (no 3D term) over the 3-frame
            snippets, with the weights' own minimum-reprojection and auto-mask options.
        abs_rel: mean per-frame abs rel of median-scaled depth (no Garg crop, 80 m cap).
        ate: 5-frame snippet ATE (metres) of the chained ego-motion.
        rotation_error_deg: mean frame-to-frame rotation error.
        rotation_gain: least-squares gain of predicted on true frame-to-frame rotation
            (1 is right, 0 never turns); see
            :func:`~mono_depth_ros.evaluation.pose.rotation_scores`.
        depths: predicted depth per frame (network scale).

    """

    reconstruction: float
    abs_rel: float
    ate: float
    rotation_error_deg: float
    rotation_gain: float
    depths: List[np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class Adaptation:
    """Scores before and after fine-tuning, and the trainer (history, ``save``)."""

    before: Scores
    after: Scores
    trainer: OnlineTrainer = field(repr=False)


def sequence_scores(pipeline: DepthPipeline, seq, start: int = 0) -> Scores:
    """Score ``pipeline`` on frames ``start`` onwards of a rendered sequence."""
    frames = list(seq.images[start:])
    images = frames_to_tensor(frames, pipeline.size)
    with pipeline.slot.use() as (depth_net, ego_net):
        # The photometric error the weights were trained (and are fine-tuned) to lower.
        trained = pipeline.metadata.get('training', {}).get('loss', {})
        reconstruction = photometric_error(
            depth_net, ego_net, images, seq.intrinsics,
            min_reprojection=trained.get('min_reprojection', False),
            auto_mask=trained.get('auto_mask', False))
        depths = predict_depths(depth_net, frames, pipeline.size)
        motions = pairwise_motions(ego_net, frames, pipeline.size)
    depth = evaluate_depths(zip(seq.depths[start:], depths), garg_crop=False)
    trajectory = evaluate_trajectory(np.asarray(seq.poses[start:]), chain_motions(motions))
    return Scores(reconstruction, depth['abs_rel'], trajectory['ate_mean'],
                  trajectory['rotation_error_deg'], trajectory['rotation_gain'], depths)


def finetune_on_sequence(weights: str, seq, train_frames: int = 20, steps: int = 80,
                         batch_size: int = 4, lr: float = 2e-4, swap_every: int = 10,
                         save_path: Optional[str] = None, seed: int = 0,
                         loss: Optional[LossConfig] = None,
                         depth_lr_scale: float = 0.1) -> Adaptation:
    """Fine-tune on the first ``train_frames`` frames; score the frames after them.

    Drives :class:`OnlineTrainer` synchronously (``step`` in a loop, no thread, no duty
    cycle), so the result does not depend on the machine's speed.
    """
    if not 3 <= train_frames <= len(seq) - 3:
        raise ValueError(f'train_frames must leave at least 3 frames on either side, got '
                         f'{train_frames} of {len(seq)}')
    torch.manual_seed(seed)
    pipeline = DepthPipeline(weights)
    if seq.images.shape[1:3] != tuple(pipeline.size):
        raise ValueError(f'render the sequence at the network size {pipeline.size}, got '
                         f'{seq.images.shape[1:3]}')
    before = sequence_scores(pipeline, seq, train_frames)
    trainer = OnlineTrainer(pipeline.slot, pipeline.metadata, save_path=save_path,
                            buffer_size=train_frames, batch_size=batch_size, lr=lr,
                            swap_every=swap_every, seed=seed, loss=loss,
                            depth_lr_scale=depth_lr_scale)
    for image in frames_to_tensor(seq.images[:train_frames], pipeline.size):
        trainer.add_frame(image, seq.intrinsics)
    for _ in range(steps):
        trainer.step()
    return Adaptation(before, sequence_scores(pipeline, seq, train_frames), trainer)
