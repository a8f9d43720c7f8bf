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


"""Which snippets a training step takes: uniform draws, loss-weighted draws, resume."""

import json
import os

from mono_depth_ros.core.config import LossConfig, ModelConfig
from mono_depth_ros.core.losses import snippet_loss
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.data.snippets import SnippetDataset
from mono_depth_ros_training.sampling import (LOSSES_FILE, run_weights, sampling_weights,
                                              snippet_losses, StepBatches)
import pytest
import torch
import torch.multiprocessing as mp


def test_weighted_draws_follow_the_weights_and_resume_exactly():
    """Frequencies match the weights (a zero weight is never drawn); a resume repeats."""
    weights = torch.tensor([0.0, 1.0, 3.0, 6.0])
    sampler = StepBatches(4, 4, 5000, seed=3, weights=weights)
    counts = torch.bincount(torch.tensor([i for batch in sampler for i in batch]),
                            minlength=4).double()
    assert counts[0] == 0
    share = counts / counts.sum()
    assert torch.allclose(share, weights.double() / 10, atol=0.01), share
    full = list(StepBatches(4, 4, 50, seed=3, weights=weights))
    assert list(StepBatches(4, 4, 50, seed=3, start=20, weights=weights)) == full[20:]
    # Two processes take the two halves of the same global batch.
    halves = zip(StepBatches(4, 4, 50, 3, rank=0, world_size=2, weights=weights),
                 StepBatches(4, 4, 50, 3, rank=1, world_size=2, weights=weights))
    assert [a + b for a, b in halves] == full
    uniform = torch.bincount(torch.tensor([i for b in StepBatches(4, 4, 5000, 3) for i in b]))
    assert (uniform / uniform.sum() - 0.25).abs().max() < 0.01
    for bad in (torch.zeros(4), torch.tensor([1.0, -1, 1, 1]), torch.ones(3),
                torch.tensor([1.0, float('nan'), 1, 1])):
        with pytest.raises(ValueError, match='non-negative'):
            StepBatches(4, 4, 10, 0, weights=bad)


def test_sampling_weights_closed_form():
    """``loss ** a``; exponent 0 is uniform; a non-finite loss gets the largest weight."""
    losses = torch.tensor([0.5, 1.0, 2.0])
    assert torch.equal(sampling_weights(losses, 2.0), torch.tensor([0.25, 1.0, 4.0],
                                                                   dtype=torch.float64))
    assert torch.equal(sampling_weights(losses, 0.0), torch.ones(3, dtype=torch.float64))
    odd = sampling_weights(torch.tensor([1.0, float('inf'), 3.0]), 1.0)
    assert odd.tolist() == [1.0, 3.0, 3.0]
    with pytest.raises(ValueError, match='>= 0'):
        sampling_weights(losses, -1.0)
    with pytest.raises(ValueError, match='finite'):
        sampling_weights(torch.tensor([float('nan')]), 1.0)


def test_snippet_losses_score_each_snippet_alone_and_are_kept(tiny_dataset, tmp_path):
    """Each score is that snippet's own loss; the kept file is reused and checked."""
    data = SnippetDataset(tiny_dataset / 'prepared', 'train', 3, (32, 104))
    torch.manual_seed(0)
    depth_net, ego_net = build_networks(ModelConfig(height=32, width=104, depth_width=0.125,
                                                    egomotion_width=0.125))
    loss = LossConfig(icp_weight=0.0, num_scales=2)
    scores = snippet_losses(depth_net, ego_net, data, loss, progress=False)
    assert depth_net.training and ego_net.training  # the modes are put back
    assert len(scores) == len(data) and scores.std() > 0
    depth_net.eval()
    ego_net.eval()
    with torch.no_grad():
        for i in (0, len(data) - 1):
            item = data[i]
            alone = snippet_loss(depth_net, ego_net, item['images'][None],
                                 item['intrinsics'][None], loss)['total']
            assert float(alone) == pytest.approx(float(scores[i]), rel=1e-5)
    assert run_weights(tmp_path, depth_net, ego_net, data, loss, 0.0) is None
    first = run_weights(tmp_path, depth_net, ego_net, data, loss, 2.0, progress=False)
    assert torch.allclose(first, scores ** 2)
    kept = json.loads((tmp_path / LOSSES_FILE).read_text())['losses']
    assert len(kept) == len(data)
    # A resume reads the file (even with other networks) instead of scoring again.
    other = build_networks(ModelConfig(height=32, width=104, depth_width=0.125,
                                       egomotion_width=0.125))
    assert torch.equal(run_weights(tmp_path, *other, data, loss, 2.0), first)
    (tmp_path / LOSSES_FILE).write_text(json.dumps({'losses': kept[:-1]}))
    with pytest.raises(ValueError, match='delete it'):
        run_weights(tmp_path, depth_net, ego_net, data, loss, 2.0)


def test_training_with_hard_sampling_keeps_its_scores(tiny_dataset, tmp_path):
    """A run with ``data.hard_sampling`` scores the snippets once and keeps the scores."""
    from mono_depth_ros_training.config import load_config
    from mono_depth_ros_training.train import train, WEIGHTS

    config = load_config('train', [
        f'data.root={tiny_dataset / "prepared"}', 'model.height=32', 'model.width=104',
        'model.depth_width=0.125', 'model.egomotion_width=0.125', 'loss.icp_weight=0',
        'loss.num_scales=2', 'optim.steps=2', f'output.folder={tmp_path}',
        'output.tensorboard=false', 'data.workers=0', 'data.hard_sampling=1.5'])
    train(config, progress=False)
    kept = json.loads((tmp_path / LOSSES_FILE).read_text())['losses']
    assert len(kept) == len(SnippetDataset(tiny_dataset / 'prepared', 'train', 3))
    assert (tmp_path / WEIGHTS).is_file()


def _tiny_networks():
    torch.manual_seed(0)
    return build_networks(ModelConfig(height=32, width=104, depth_width=0.125,
                                      egomotion_width=0.125))


def _scoring_worker(rank, world_size, port, root, out):
    import mono_depth_ros_training.sampling as sampling

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    scored = []
    real = sampling.snippet_loss

    def counted(*args, **kwargs):
        scored.append(1)
        return real(*args, **kwargs)

    sampling.snippet_loss = counted
    data = SnippetDataset(root, 'train', 3, (32, 104))
    weights = run_weights(out, *_tiny_networks(), data, LossConfig(icp_weight=0.0, num_scales=2),
                          1.0, progress=False, write=rank == 0)
    (out.parent / f'rank{rank}.json').write_text(json.dumps(
        {'weights': weights.tolist(), 'scored': len(scored)}))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_share_the_scoring_and_agree(tiny_dataset, tmp_path, one_thread,
                                                   free_port):
    """Under torch.distributed each process scores half the snippets; all get every score."""
    root = tiny_dataset / 'prepared'
    data = SnippetDataset(root, 'train', 3, (32, 104))
    alone = snippet_losses(*_tiny_networks(), data, LossConfig(icp_weight=0.0, num_scales=2),
                           progress=False)
    mp.spawn(_scoring_worker, args=(2, free_port, root, tmp_path / 'run'), nprocs=2)
    ranks = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert [r['scored'] for r in ranks] == [(len(data) + 1) // 2, len(data) // 2]
    for r in ranks:
        torch.testing.assert_close(torch.tensor(r['weights'], dtype=torch.float64), alone,
                                   rtol=1e-6, atol=0)
    kept = json.loads((tmp_path / 'run' / LOSSES_FILE).read_text())['losses']
    torch.testing.assert_close(torch.tensor(kept, dtype=torch.float64), alone, rtol=1e-6,
                               atol=0)
