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

The shipped weights were trained on rendered streets; here the camera walks through a
narrow indoor-like hall with other colours and boxes. Fine-tuning on the first frames
must lower, on later frames it never trained on, the photometric reconstruction error;
it should also lower the depth error against the renderer's exact depth, which it does
not yet do (an expected failure, strict, so that a fix shows up).
"""

import math
import time

from mono_depth_ros.core.config import LossConfig
from mono_depth_ros.core.losses import snippet_loss
from mono_depth_ros.core.weights import read_weights
from mono_depth_ros.evaluation.depth import depth_metrics
from mono_depth_ros.inference import frames_to_tensor, predict_depths
from mono_depth_ros.models import DEFAULT_WEIGHTS
from mono_depth_ros.online import OnlineTrainer
from mono_depth_ros.pipeline import DepthPipeline
from mono_depth_ros.sim.dataset import default_intrinsics, render_sequence
from mono_depth_ros.sim.motion import handheld_trajectory
from mono_depth_ros.sim.scene import box, closed_room, Scene
import numpy as np
import pytest
import torch

TRAIN_FRAMES = 20


def hall() -> Scene:
    """Build a narrow indoor hall, 4 m wide and 3 m high, with boxes (unlike the streets)."""
    room = closed_room(camera_height=1.4, half_width=2.0, height=3.0, near=-4.0, far=18.0)
    rects = list(room.rectangles)
    for i, (x, z, colour) in enumerate([(-1.3, 3.0, (0.8, 0.3, 0.3)), (1.2, 5.5, (0.3, 0.7, 0.3)),
                                        (-1.1, 8.0, (0.3, 0.3, 0.8)), (1.3, 10.5, (0.8, 0.8, 0.2)),
                                        (-1.2, 13.0, (0.6, 0.2, 0.7))]):
        rects += box((x, 1.4 - 0.45, z), (0.8, 0.9, 0.8), colour, period=0.3, phase=10.0 + i)
    return Scene(tuple(rects))


@pytest.fixture(scope='module')
def sequence():
    meta = read_weights(DEFAULT_WEIGHTS)[1]
    h, w = meta['input_size']
    poses = handheld_trajectory(32, seed=5, speed=0.25, lateral=0.0, height_drop=0.0)
    return render_sequence(hall(), poses, default_intrinsics(h, w), h, w, progress=False)


def scores(pipeline, seq, start):
    """Mean reconstruction term and median-scaled abs rel on frames ``start`` onwards."""
    size = pipeline.size
    frames = list(seq.images[start:])
    k = torch.as_tensor(seq.intrinsics, dtype=torch.float32)[None]
    images = frames_to_tensor(frames, size)
    losses = []
    with pipeline.lock, torch.no_grad():
        pipeline.depth_net.eval()
        pipeline.ego_net.eval()
        for i in range(len(frames) - 2):
            terms = snippet_loss(pipeline.depth_net, pipeline.ego_net, images[None, i:i + 3], k,
                                 LossConfig(icp_weight=0.0))
            losses.append(terms['reconstruction'].item())
        depths = predict_depths(pipeline.depth_net, frames, size)
    abs_rel = [depth_metrics(gt, pred, garg_crop=False)[0]['abs_rel']
               for gt, pred in zip(seq.depths[start:], depths)]
    return float(np.mean(losses)), float(np.mean(abs_rel))


@pytest.fixture(scope='module')
def adapted(sequence, tmp_path_factory):
    """Scores before and after fine-tuning on the first frames, and the trainer."""
    torch.manual_seed(0)
    pipeline = DepthPipeline(str(DEFAULT_WEIGHTS))
    before = scores(pipeline, sequence, TRAIN_FRAMES)
    path = tmp_path_factory.mktemp('online') / 'adapted.safetensors'
    trainer = OnlineTrainer(pipeline, save_path=str(path), buffer_size=TRAIN_FRAMES,
                            batch_size=4, lr=2e-4, swap_every=10)
    for image in sequence.images[:TRAIN_FRAMES]:
        trainer.add_frame(image, sequence.intrinsics)
    for _ in range(80):
        trainer.step()
    return before, scores(pipeline, sequence, TRAIN_FRAMES), trainer


def test_finetuning_lowers_photometric_error_on_unseen_frames(sequence, adapted):
    before, after, trainer = adapted
    assert trainer.swaps >= 1 and all(math.isfinite(r['loss']) for r in trainer.history)
    assert after[0] < 0.97 * before[0], (before, after)
    # The adapted weights survive a save/load round trip.
    saved = DepthPipeline(str(trainer.save()))
    assert scores(saved, sequence, TRAIN_FRAMES) == pytest.approx(after, rel=1e-5)


@pytest.mark.xfail(strict=True, reason='known open problem: with the shipped weights, '
                   'fine-tuning on the hall lowers the photometric error (0.713 -> 0.607) '
                   'but raises abs_rel (0.233 -> 0.275)')
def test_finetuning_lowers_depth_error_on_unseen_frames(adapted):
    before, after, _ = adapted
    assert after[1] < 0.97 * before[1], (before, after)


def test_diverging_update_is_reverted_and_inference_is_not_blocked(sequence):
    pipeline = DepthPipeline(str(DEFAULT_WEIGHTS))
    reference = {k: v.clone() for k, v in pipeline.depth_net.state_dict().items()}
    trainer = OnlineTrainer(pipeline, batch_size=2, lr=1e-4, swap_every=1, duty=1.0)
    for image in sequence.images[:8]:
        trainer.add_frame(image, sequence.intrinsics)
    with pytest.raises(ValueError, match='network input size'):
        trainer.add_frame(np.zeros((64, 208, 3), np.uint8), sequence.intrinsics)
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
    for name, value in pipeline.depth_net.state_dict().items():
        assert torch.equal(value, reference[name]), name
    # After a revert the copy is the weights in use again, so training goes on from there.
    for name, value in trainer.depth_net.state_dict().items():
        assert torch.equal(value, reference[name]), name
    # With the thread training in the background, frames still go through the pipeline.
    trainer = OnlineTrainer(pipeline, batch_size=2, lr=1e-4, duty=0.5)
    for image in sequence.images[:8]:
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
