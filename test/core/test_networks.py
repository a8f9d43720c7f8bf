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

"""The paper's networks: sizes, output ranges, batch norm at inference, bad input."""

from mono_depth_ros.core.config import from_dict, ModelConfig
from mono_depth_ros.core.networks import build_networks, DispNet, EgoMotionNet, MIN_DISP
import pytest
import torch


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_paper_configuration_parameter_counts():
    depth_net, ego_net = build_networks(ModelConfig())
    # reference.md: about 31.6 M and 1.6 M parameters
    assert 31.0e6 < _count(depth_net) < 32.2e6
    assert 1.5e6 < _count(ego_net) < 1.7e6


def test_compact_variant_is_much_smaller():
    depth_net, ego_net = build_networks(ModelConfig(depth_width=0.25, egomotion_width=0.25))
    assert _count(depth_net) < 2.5e6
    assert _count(ego_net) < 0.2e6


@pytest.mark.parametrize('size', [(128, 416), (96, 160), (100, 150)])
def test_dispnet_scales_and_range(size):
    h, w = size
    torch.manual_seed(0)
    disps = DispNet(width=0.25).eval()(torch.rand(2, 3, h, w))
    assert len(disps) == 4
    for s, d in enumerate(disps):
        assert d.shape[:2] == (2, 1)
        assert abs(d.shape[2] - h / 2 ** s) < 1 and abs(d.shape[3] - w / 2 ** s) < 1
        assert d.min() >= MIN_DISP and d.max() <= 10 + MIN_DISP


def test_disparity_floor_is_configurable_and_saved(tmp_path):
    """A saturated head gives exactly the floor; the floor survives a save and load."""
    from mono_depth_ros.core.weights import load_networks, save_networks
    config = ModelConfig(depth_width=0.125, egomotion_width=0.125, min_disparity=0.001)
    depth_net, ego_net = build_networks(config)
    with torch.no_grad():
        for head in depth_net.heads.values():
            head.weight.zero_()
            head.bias.fill_(-60.0)  # sigmoid underflows to 0: disparity is the floor alone
    depth_net.eval()
    with torch.no_grad():
        finest = depth_net(torch.rand(1, 3, 32, 64))[0]
    torch.testing.assert_close(finest, torch.full_like(finest, 0.001))
    save_networks(tmp_path / 'w.safetensors', depth_net, ego_net, config)
    loaded, _, meta = load_networks(tmp_path / 'w.safetensors')
    assert meta['model']['min_disparity'] == 0.001 and loaded.min_disparity == 0.001
    old = {k: v for k, v in config.to_dict().items() if k != 'min_disparity'}
    assert from_dict(ModelConfig, old, 'model').min_disparity == MIN_DISP  # older files
    with pytest.raises(ValueError, match='min_disparity'):
        ModelConfig(min_disparity=0.0)


def test_egomotion_output_shape_and_scale():
    torch.manual_seed(0)
    net = EgoMotionNet(seq_length=3, width=0.25).eval()
    motion = net(torch.rand(4, 3, 3, 64, 208))
    assert motion.shape == (4, 2, 6)
    assert motion.abs().max() < 0.1  # the head is scaled by 0.01


def test_batch_norm_uses_running_statistics_in_eval():
    # In eval mode an image's output must not depend on what else is in the batch (the
    # released code kept batch norm in training mode, where it would).
    torch.manual_seed(0)
    net = DispNet(width=0.25)
    net.train()
    for _ in range(3):  # give the running statistics something to hold
        net(torch.rand(2, 3, 64, 96))
    net.eval()
    image = torch.rand(1, 3, 64, 96)
    alone = net(image)[0]
    crowd = net(torch.cat([image, torch.rand(3, 3, 64, 96) * 5]))[0][:1]
    torch.testing.assert_close(alone, crowd)
    net.train()
    crowd_train = net(torch.cat([image, torch.rand(3, 3, 64, 96) * 5]))[0][:1]
    assert (crowd_train - alone).abs().max() > 1e-3  # batch statistics really differ


def test_bad_input_shapes_are_named():
    with pytest.raises(ValueError, match='images must have shape'):
        DispNet(width=0.25)(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match='frames must have shape'):
        EgoMotionNet(3, 0.25)(torch.rand(1, 2, 3, 64, 64))
    with pytest.raises(ValueError, match='seq_length'):
        ModelConfig(seq_length=1)


def test_egomotion_output_scale_is_a_plain_factor():
    """Same weights, scale 0.1 instead of 0.01: ten times the motion; old metadata -> 0.01."""
    torch.manual_seed(0)
    small = EgoMotionNet(3, 0.25, True, 0.01).eval()
    large = EgoMotionNet(3, 0.25, True, 0.1).eval()
    large.load_state_dict(small.state_dict())
    frames = torch.rand(2, 3, 3, 64, 96)
    torch.testing.assert_close(large(frames), 10.0 * small(frames))
    old = {k: v for k, v in ModelConfig().to_dict().items() if k != 'egomotion_scale'}
    assert from_dict(ModelConfig, old).egomotion_scale == 0.01
    assert build_networks(ModelConfig(egomotion_scale=0.1))[1].output_scale == 0.1
    _, no_bn = build_networks(ModelConfig(depth_width=0.25, egomotion_width=0.25,
                                          egomotion_batch_norm=False))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())
    assert from_dict(ModelConfig, old).egomotion_batch_norm is None
    with pytest.raises(ValueError, match='egomotion_scale'):
        ModelConfig(egomotion_scale=0.0)


def test_egomotion_without_batch_norm_keeps_the_signal_at_initialisation():
    # torch's default initialisation shrinks activations ~sqrt(3)-fold per layer; without
    # batch norm the deepest features were almost constant (std 0.015 measured) and the
    # motions the same for every input
    torch.manual_seed(0)
    x = torch.rand(4, 3, 3, 48, 160)
    net = EgoMotionNet(3, 0.25, batch_norm=False, output_scale=0.1).eval()
    with torch.no_grad():
        features = net.body((x.reshape(4, 9, 48, 160) - 0.45) / 0.225)
        motions = net(x)
    assert features.std() > 0.1
    assert motions.std(0).mean() > 1e-3  # the output depends on the input


def test_translation_scale_multiplies_translation_only():
    """egomotion_translation_scale: translation x k, rotation unchanged; old weights load 1."""
    torch.manual_seed(0)
    base = EgoMotionNet(3, 0.25, True, 0.1).eval()
    scaled = EgoMotionNet(3, 0.25, True, 0.1, translation_scale=10.0).eval()
    scaled.load_state_dict(base.state_dict())
    frames = torch.rand(2, 3, 3, 48, 160)
    with torch.no_grad():
        a, b = base(frames), scaled(frames)
    torch.testing.assert_close(b[..., :3], 10 * a[..., :3])
    torch.testing.assert_close(b[..., 3:], a[..., 3:])
    old = {k: v for k, v in ModelConfig().to_dict().items()
           if k != 'egomotion_translation_scale'}
    assert from_dict(ModelConfig, old).egomotion_translation_scale == 1.0
    with pytest.raises(ValueError, match='egomotion_translation_scale'):
        ModelConfig(egomotion_translation_scale=0.0)


def test_rescaled_head_predicts_the_same_motion_at_new_output_scales():
    """rescale_egomotion_head: other scales, same outputs; then a step moves translation more."""
    from mono_depth_ros.core.networks import rescale_egomotion_head

    torch.manual_seed(0)
    old = EgoMotionNet(3, 0.25, False, 0.1).eval()
    frames = torch.rand(2, 3, 3, 48, 160)
    for scale, translation in ((0.1, 10.0), (0.01, 1.0), (1.0, 0.5)):
        new = EgoMotionNet(3, 0.25, False, scale, translation).eval()
        new.load_state_dict(old.state_dict())
        rescale_egomotion_head(new, old.factors)
        with torch.no_grad():
            torch.testing.assert_close(new(frames), old(frames), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match='6 positive'):
        rescale_egomotion_head(new, torch.zeros(6))
    # One plain gradient step on the same loss: with translation x10 the head's translation
    # moves 10x further per unit of its parameters' change (here: 100x in output for SGD).
    moved = []
    for translation in (1.0, 10.0):
        net = EgoMotionNet(3, 0.25, False, 0.1, translation).eval()
        net.load_state_dict(old.state_dict())
        rescale_egomotion_head(net, old.factors)
        before = net(frames).detach()
        net(frames)[..., :3].sum().backward()
        with torch.no_grad():
            for param in net.head.parameters():
                param -= 1e-3 * param.grad
        moved.append(float((net(frames).detach() - before)[..., :3].abs().mean()))
    assert moved[1] / moved[0] == pytest.approx(100.0, rel=0.05)


@pytest.mark.parametrize('size', [(48, 160), (96, 320)])
def test_receptive_field_covers_the_image(size):
    # Seven stride-2 stages: one output pixel low on the left (where a near object stands)
    # depends on every input pixel, at the shipped size and at twice it.
    h, w = size
    torch.manual_seed(0)
    net = DispNet(width=0.25).eval()
    image = torch.rand(1, 3, h, w, requires_grad=True)
    net(image)[0][0, 0, int(h * 0.75), int(w * 0.3)].backward()
    reach = image.grad[0].abs().sum(0)
    assert bool((reach > 0).all()), f'{int((reach == 0).sum())} pixels out of reach'
