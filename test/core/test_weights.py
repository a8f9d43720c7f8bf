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

"""Weights I/O: round trip, clear errors on bad files, atomic writes, no pickle."""

import json
import os
import struct

from mono_depth_ros.core import weights as weights_mod
from mono_depth_ros.core.config import ModelConfig
from mono_depth_ros.core.networks import build_networks
from mono_depth_ros.core.weights import load_networks, read_weights, save_networks
from mono_depth_ros.core.weights import WeightsError
import pytest
import torch

CONFIG = ModelConfig(height=64, width=96, depth_width=0.25, egomotion_width=0.25)


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    depth_net, ego_net = build_networks(CONFIG)
    depth_net.train()
    depth_net(torch.rand(2, 3, 64, 96))  # non-trivial batch-norm running statistics
    path = tmp_path / 'model.safetensors'
    save_networks(path, depth_net, ego_net, CONFIG, training={'lr': 2e-4},
                  extra={'step': 7})
    return path, depth_net.eval(), ego_net.eval()


def test_round_trip_gives_identical_outputs(saved):
    path, depth_net, ego_net = saved
    depth2, ego2, meta = load_networks(path)
    image = torch.rand(1, 3, 64, 96)
    frames = torch.rand(1, 3, 3, 64, 96)
    for a, b in zip(depth_net(image), depth2(image)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(ego_net(frames), ego2(frames), rtol=0, atol=0)
    assert not depth2.training and not ego2.training
    assert meta['input_size'] == [64, 96]
    assert meta['model'] == CONFIG.to_dict()
    assert meta['training'] == {'lr': 2e-4} and meta['extra'] == {'step': 7}


def test_file_is_safetensors_not_pickle(saved):
    path, _, _ = saved
    raw = path.read_bytes()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    assert 'mono_depth_ros' in header['__metadata__']
    assert not raw.startswith(b'PK') and b'\x80\x02' != raw[:2]  # neither zip nor pickle


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match='not found'):
        load_networks(tmp_path / 'nope.safetensors')


@pytest.mark.parametrize('keep', [0, 5, 100, -10])
def test_truncated_file(saved, keep):
    path, _, _ = saved
    raw = path.read_bytes()
    path.write_bytes(raw[:keep] if keep >= 0 else raw[:keep])
    with pytest.raises(WeightsError, match='truncated'):
        load_networks(path)


def test_garbage_header(saved):
    path, _, _ = saved
    path.write_bytes(struct.pack('<Q', 10) + b'not json!!' + b'\0' * 100)
    with pytest.raises(WeightsError, match='not a safetensors file'):
        read_weights(path)


def test_flipped_data_byte_is_caught(saved):
    path, _, _ = saved
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match='corrupt'):
        load_networks(path)


def test_foreign_safetensors_file(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / 'other.safetensors'
    save_file({'w': torch.zeros(3)}, str(path))
    with pytest.raises(WeightsError, match='no "mono_depth_ros" metadata'):
        load_networks(path)


def test_architecture_mismatch_is_named(saved, tmp_path):
    path, depth_net, ego_net = saved
    with pytest.raises(WeightsError, match='differs from the expected'):
        load_networks(path, expected=ModelConfig(depth_width=0.5))
    # a file whose metadata claims another width than its tensors have
    wrong = ModelConfig(height=64, width=96, depth_width=0.5, egomotion_width=0.25)
    bad = tmp_path / 'bad.safetensors'
    save_networks(bad, depth_net, ego_net, wrong)
    with pytest.raises(WeightsError, match='depth network does not match.*shape mismatch'):
        load_networks(bad)


def test_newer_format_is_refused(saved, monkeypatch, tmp_path):
    _, depth_net, ego_net = saved
    monkeypatch.setattr(weights_mod, 'FORMAT_VERSION', 99)
    path = tmp_path / 'future.safetensors'
    save_networks(path, depth_net, ego_net, CONFIG)
    monkeypatch.setattr(weights_mod, 'FORMAT_VERSION', 1)
    with pytest.raises(WeightsError, match='format version 99'):
        load_networks(path)


def test_interrupted_write_keeps_the_old_file(saved, monkeypatch):
    path, depth_net, ego_net = saved
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(OSError, match='disk full'):
        save_networks(path, depth_net, ego_net, CONFIG, extra={'step': 8})
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_shipped_names_resolve_to_loadable_files(tmp_path):
    """'' and every shipped name give a file that loads; a path passes through unchanged."""
    from mono_depth_ros.weights import DEFAULT_WEIGHTS, resolve_weights, SHIPPED

    assert resolve_weights('') == str(DEFAULT_WEIGHTS) == resolve_weights('default')
    finest = {}
    for name in SHIPPED:
        path = resolve_weights(name)
        assert path == str(SHIPPED[name])
        depth_net, _, meta = load_networks(path)
        assert tuple(meta['input_size']) == (48, 160)
        finest[name] = next(iter(depth_net.state_dict().values()))
    # Different files, not one file under four names.
    assert not torch.equal(finest['street'], finest['default'])
    other = str(tmp_path / 'mine.safetensors')
    assert resolve_weights(other) == other


def test_a_missing_shipped_file_is_a_clear_error(tmp_path, monkeypatch):
    """A shipped name whose file this install lacks names the file."""
    import mono_depth_ros.weights as shipped

    monkeypatch.setitem(shipped.SHIPPED, 'street', tmp_path / 'gone.safetensors')
    with pytest.raises(FileNotFoundError, match='gone.safetensors.*street'):
        shipped.resolve_weights('street')
