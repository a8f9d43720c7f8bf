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

"""Online fine-tuning on a scene unlike the training data (no ROS needed).

The shipped weights were trained on rendered streets and varied layouts, never this hall:
the camera moves through a narrow indoor-like hall with other colours and boxes.
Fine-tuning on the first frames must lower, on later frames it never trained on, the depth
error against the renderer's exact depth (on the handheld walk: not raise it) and not raise
the photometric reconstruction error.

Two camera motions: a wheeled robot weaving gently down the hall (headings within a few
degrees, as in the training data); and a handheld camera whose yaw wanders by up to 0.1 rad
per frame. There the shipped ego-motion network predicts only about half of the true
rotation in this unseen scene (gain 0.52 before fine-tuning, asserted to rise in
``test_handheld_finetuning_lowers_photometric_error_and_turns_more``); with the first
weights fine-tuning then bent the depth and the depth error rose (a strict expected
failure until the compact_v2 weights); it fell on the handheld path with compact_v2 to v4.
With compact_v7, which starts where they ended, it rose in most seeds until the depth
network got a tenth of the ego-motion network's learning rate (``depth_lr_scale``).
"""

import math
import time

from benchmarks.adaptation import finetune_on_sequence, sequence_scores
from mono_depth_ros.core.inference import frames_to_tensor
from mono_depth_ros.core.weights import read_weights
from mono_depth_ros.runtime.online import OnlineTrainer
from mono_depth_ros.runtime.pipeline import DepthPipeline
from mono_depth_ros.sim.dataset import default_intrinsics, render_sequence
from mono_depth_ros.sim.motion import car_trajectory, handheld_trajectory
from mono_depth_ros.sim.scene import hall
from mono_depth_ros.weights import DEFAULT_WEIGHTS
import numpy as np
import pytest
import torch

TRAIN_FRAMES = 20


def render_hall(poses):
    h, w = read_weights(DEFAULT_WEIGHTS)[1]['input_size']
    return render_sequence(hall(), poses, default_intrinsics(h, w), h, w, progress=False)


@pytest.fixture(scope='module')
def sequence():
    """Render a wheeled robot weaving gently down the hall, 0.25 m per frame, no stop."""
    return render_hall(car_trajectory(32, seed=5, speed=0.25, max_lateral=0.4,
                                      stop_probability=0.0))


@pytest.fixture(scope='module')
def handheld_sequence():
    """Render a handheld camera walking down the hall, yaw wandering up to 0.1 rad/frame."""
    return render_hall(handheld_trajectory(32, seed=5, speed=0.25, lateral=0.0,
                                           height_drop=0.0))


@pytest.fixture(scope='module')
def adapted(sequence, tmp_path_factory, one_thread):
    path = tmp_path_factory.mktemp('online') / 'adapted.safetensors'
    return finetune_on_sequence(str(DEFAULT_WEIGHTS), sequence, TRAIN_FRAMES,
                                save_path=str(path))


@pytest.fixture(scope='module')
def adapted_handheld(handheld_sequence, one_thread):
    return finetune_on_sequence(str(DEFAULT_WEIGHTS), handheld_sequence, TRAIN_FRAMES)


def test_finetuning_swaps_keeps_photometric_error_and_round_trips(sequence, adapted):
    before, after, trainer = adapted.before, adapted.after, adapted.trainer
    assert trainer.swaps >= 1 and all(math.isfinite(r['loss']) for r in trainer.history)
    # The default weights (trained on indoor spaces too) start at a low photometric error
    # on this path; with the offline batch-norm statistics kept, fine-tuning lowers it
    # (compact_v4: 0.0998 -> 0.0795; re-estimating them gave 0.0930, and 0.0991 from 0.0947
    # with the compact_v5 weights) while the depth error halves (see the next test).
    assert after.reconstruction < 1.02 * before.reconstruction, (before, after)
    # The adapted weights survive a save/load round trip.
    saved = sequence_scores(DepthPipeline(str(trainer.save())), sequence, TRAIN_FRAMES)
    assert (saved.reconstruction, saved.abs_rel) == pytest.approx(
        (after.reconstruction, after.abs_rel), rel=1e-5)


def test_finetuning_lowers_depth_error_on_unseen_frames(adapted):
    assert adapted.after.abs_rel < 0.97 * adapted.before.abs_rel, adapted


def test_handheld_finetuning_lowers_photometric_error_and_turns_more(adapted_handheld):
    """On the handheld path the network misses rotation (gain 0.52 measured); adapting helps.

    Measured (compact_v4): photometric 0.236 -> 0.199, rotation gain 0.52 -> 0.59 on the
    unseen frames; compact_v7: 0.246 -> 0.211, 0.58 -> 0.75; compact_v7 with the depth
    network at a tenth of the lr: 0.246 -> 0.209, 0.58 -> 0.81.
    """
    before, after = adapted_handheld.before, adapted_handheld.after
    assert after.reconstruction < 0.97 * before.reconstruction, (before, after)
    assert after.rotation_gain > before.rotation_gain + 0.05, (before, after)


def test_handheld_finetuning_lowers_depth_error(adapted_handheld):
    """On the walk the depth error must fall, with the depth network at a tenth of the lr.

    Measured (compact_v7, seeds 0-5 of ``finetune_on_sequence``, one thread): with the
    depth network at the ego-motion network's learning rate abs_rel 0.220 -> 0.199-0.338
    (five of six seeds rose) while the photometric error fell; at ``depth_lr_scale`` 0.1,
    the default, 0.220 -> 0.192-0.206 in all six, photometric 0.246 -> 0.201-0.210,
    rotation gain 0.58 -> 0.80-0.85.
    """
    before, after = adapted_handheld.before, adapted_handheld.after
    assert after.abs_rel < 0.97 * before.abs_rel, (before, after)


def test_frozen_depth_network_keeps_its_weights(sequence):
    pipeline = DepthPipeline(str(DEFAULT_WEIGHTS))
    trainer = OnlineTrainer(pipeline.slot, pipeline.metadata, batch_size=2, swap_every=100,
                            depth_lr_scale=0.0)
    for image in frames_to_tensor(sequence.images[:6], pipeline.size):
        trainer.add_frame(image, sequence.intrinsics)
    depth = [p.clone() for p in trainer.depth_net.parameters()]
    ego = [p.clone() for p in trainer.ego_net.parameters()]
    for _ in range(2):
        trainer.step()
    assert all(torch.equal(a, b) for a, b in zip(depth, trainer.depth_net.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(ego, trainer.ego_net.parameters()))
    with pytest.raises(ValueError, match='depth_lr_scale'):
        OnlineTrainer(pipeline.slot, pipeline.metadata, depth_lr_scale=1.5)


@pytest.mark.parametrize('adapt', [False, True])
def test_batch_norm_statistics_stay_offline_unless_adapted(sequence, adapt):
    pipeline = DepthPipeline(str(DEFAULT_WEIGHTS))
    trainer = OnlineTrainer(pipeline.slot, pipeline.metadata, batch_size=2, lr=1e-4,
                            swap_every=100, adapt_batch_norm=adapt)
    for image in frames_to_tensor(sequence.images[:6], pipeline.size):
        trainer.add_frame(image, sequence.intrinsics)

    def statistics():
        return [b.clone() for net in (trainer.depth_net, trainer.ego_net)
                for name, b in net.named_buffers() if name.endswith('running_mean')]

    before = statistics()
    assert before  # the shipped networks have batch norm
    params = [p.clone() for p in trainer.depth_net.parameters()]
    for _ in range(2):
        trainer.step()
    changed = [not torch.equal(a, b) for a, b in zip(before, statistics())]
    assert all(changed) if adapt else not any(changed)
    # The weights train either way.
    assert any(not torch.equal(a, b) for a, b in zip(params, trainer.depth_net.parameters()))


def test_diverging_update_is_reverted_and_inference_is_not_blocked(sequence):
    pipeline = DepthPipeline(str(DEFAULT_WEIGHTS))
    with pipeline.slot.use() as (depth_net, _):
        reference = {k: v.clone() for k, v in depth_net.state_dict().items()}
    frames = frames_to_tensor(sequence.images[:8], pipeline.size)
    trainer = OnlineTrainer(pipeline.slot, pipeline.metadata, batch_size=2, lr=1e-4,
                            swap_every=1, duty=1.0)
    for image in frames:
        trainer.add_frame(image, sequence.intrinsics)
    with pytest.raises(ValueError, match='network input size'):
        trainer.add_frame(torch.zeros(3, 64, 208), sequence.intrinsics)
    with pytest.raises(ValueError, match='float tensors'):
        trainer.add_frame(sequence.images[0], sequence.intrinsics)
    # A copy whose weights went to NaN (its loss is NaN; no optimiser step is taken).
    with torch.no_grad():
        next(trainer.depth_net.parameters()).fill_(float('nan'))
    record = trainer.step()
    assert math.isnan(record['loss']) and record['decision'] == 'reverted'
    # A copy that diverged: every depth weight blown up 25 times, so its loss is far above
    # that of the weights in use.
    with torch.no_grad():
        for param in trainer.depth_net.parameters():
            param.mul_(25.0)
    record = trainer.step()
    assert record['decision'] == 'reverted' and trainer.reverts == 2 and trainer.swaps == 0
    with pipeline.slot.use() as (depth_net, _):
        for name, value in depth_net.state_dict().items():
            assert torch.equal(value, reference[name]), name
    # After a revert the copy is the weights in use again, so training goes on from there.
    for name, value in trainer.depth_net.state_dict().items():
        assert torch.equal(value, reference[name]), name
    # With the thread training in the background, frames still go through the pipeline.
    trainer = OnlineTrainer(pipeline.slot, pipeline.metadata, batch_size=2, lr=1e-4, duty=0.5)
    for image in frames:
        trainer.add_frame(image, sequence.intrinsics)
    trainer.start()
    try:
        for i, image in enumerate(sequence.images[:10]):
            result = pipeline.process(image, i * 100_000_000, sequence.intrinsics)
            assert np.isfinite(result.depth).any()
        for _ in range(600):  # at most a minute
            if trainer.steps >= 2:
                break
            time.sleep(0.1)
    finally:
        trainer.stop()
    assert trainer.steps >= 2
    assert not any('error' in record for record in trainer.history), trainer.history
