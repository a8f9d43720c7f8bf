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

"""Weights on disk: safetensors plus JSON metadata, written atomically, never pickled.

A weights file is one ``.safetensors`` file. Tensor names are prefixed by network
(``depth.`` and ``egomotion.``); the header's ``__metadata__`` holds one entry,
``mono_depth_ros``, a JSON document with the format version, the architecture
(:class:`~mono_depth_ros.core.config.ModelConfig`), the input size, the training
configuration and a SHA-256 of the tensor data, so that corruption is caught on load.
An optional ``calibration`` entry (:func:`metric_scale`) holds the metres per network depth
unit measured against ground truth (``mono_depth_ros_training.calibrate``).

May import: torch, numpy, scipy, safetensors and other ``mono_depth_ros.core`` modules.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import struct
import tempfile
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from mono_depth_ros.core.config import from_dict, ModelConfig
from mono_depth_ros.core.networks import build_networks, DispNet, EgoMotionNet
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
import torch
from torch import nn

__all__ = [
    'FORMAT_VERSION',
    'WeightsError',
    'atomic_write_bytes',
    'load_networks',
    'metric_scale',
    'read_weights',
    'save_networks',
    'update_metadata',
]

FORMAT_VERSION = 1
METADATA_KEY = 'mono_depth_ros'
PathLike = Union[str, os.PathLike]


class WeightsError(ValueError):
    """A weights file is missing, corrupt, truncated or does not fit the networks."""


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file
    is renamed over ``path`` (atomic on POSIX file systems).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    sha = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        sha.update(name.encode())
        sha.update(str(tensor.dtype).encode())
        sha.update(str(tuple(tensor.shape)).encode())
        sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()


def save_networks(path: PathLike, depth_net: DispNet, egomotion_net: EgoMotionNet,
                  config: ModelConfig, training: Optional[Mapping[str, Any]] = None,
                  extra: Optional[Mapping[str, Any]] = None,
                  extra_tensors: Optional[Mapping[str, torch.Tensor]] = None,
                  calibration: Optional[Mapping[str, Any]] = None) -> None:
    """Save both networks and their metadata to ``path`` (atomically).

    Args:
        path: the ``.safetensors`` file to write.
        depth_net: the depth network.
        egomotion_net: the ego-motion network.
        config: their architecture; it also records the input size.
        training: the training configuration, stored as given (must be JSON-serialisable).
        extra: anything else worth keeping (step, losses, data description).
        extra_tensors: more tensors (a checkpoint's optimiser state); their names must not
            start with ``depth.`` or ``egomotion.``.
        calibration: the metric calibration to keep (see :func:`metric_scale`), for a file
            made from a calibrated one whose depth is unchanged; None writes none.

    """
    tensors: Dict[str, torch.Tensor] = {}
    for prefix, net in (('depth.', depth_net), ('egomotion.', egomotion_net)):
        for name, value in net.state_dict().items():
            tensors[prefix + name] = value.detach().contiguous().cpu()
    for name, value in (extra_tensors or {}).items():
        if name.startswith(('depth.', 'egomotion.')):
            raise ValueError(f'extra tensor name {name!r} clashes with the networks')
        tensors[name] = value.detach().contiguous().cpu()
    from mono_depth_ros import __version__
    metadata = {
        'format_version': FORMAT_VERSION,
        'package_version': __version__,
        'model': config.to_dict(),
        'input_size': [config.height, config.width],
        'training': dict(training or {}),
        'extra': dict(extra or {}),
        'sha256': _digest(tensors),
    }
    if calibration is not None:
        metadata['calibration'] = dict(calibration)
    data = st_save(tensors, metadata={METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    atomic_write_bytes(path, data)


def _parse_header(path: Path, data: bytes) -> Dict[str, Any]:
    if len(data) < 8:
        raise WeightsError(f'{path}: truncated ({len(data)} bytes; a safetensors file starts '
                           'with an 8-byte header length)')
    (header_len,) = struct.unpack('<Q', data[:8])
    if 8 + header_len > len(data):
        raise WeightsError(f'{path}: truncated (header says {header_len} bytes of header, '
                           f'file has {len(data) - 8} after the length field)')
    try:
        header = json.loads(data[8:8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f'{path}: not a safetensors file (header is not JSON: {err})')
    if not isinstance(header, dict):
        raise WeightsError(f'{path}: not a safetensors file (header is not a JSON object)')
    ends = [entry['data_offsets'][1] for name, entry in header.items()
            if name != '__metadata__' and isinstance(entry, dict) and 'data_offsets' in entry]
    need = 8 + header_len + (max(ends) if ends else 0)
    if need > len(data):
        raise WeightsError(f'{path}: truncated (tensor data needs {need} bytes, file has '
                           f'{len(data)})')
    return header


def read_weights(path: PathLike) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Read and verify a weights file.

    Returns:
        ``(tensors, metadata)``.

    Raises:
        WeightsError: the file is missing, truncated, corrupt, from a newer format, or has
            no ``mono_depth_ros`` metadata; the message names the file and the problem.

    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f'{path}: weights file not found')
    data = path.read_bytes()
    header = _parse_header(path, data)
    raw_meta = (header.get('__metadata__') or {}).get(METADATA_KEY)
    if raw_meta is None:
        raise WeightsError(f'{path}: no "{METADATA_KEY}" metadata; not a weights file '
                           'written by this package')
    try:
        metadata = json.loads(raw_meta)
    except json.JSONDecodeError as err:
        raise WeightsError(f'{path}: metadata is not valid JSON ({err})')
    version = metadata.get('format_version')
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise WeightsError(f'{path}: format version {version!r} is not supported (this '
                           f'package reads up to {FORMAT_VERSION})')
    try:
        tensors = st_load(data)
    except SafetensorError as err:
        raise WeightsError(f'{path}: corrupt safetensors data ({err})')
    if _digest(tensors) != metadata.get('sha256'):
        raise WeightsError(f'{path}: tensor data is corrupt (SHA-256 does not match the '
                           'metadata)')
    return tensors, metadata


def _load_state(net: nn.Module, tensors: Mapping[str, torch.Tensor], prefix: str,
                path: Path) -> None:
    own = net.state_dict()
    given = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(own) - set(given))
    unexpected = sorted(set(given) - set(own))
    wrong = sorted(f'{k}: file {tuple(given[k].shape)} vs network {tuple(own[k].shape)}'
                   for k in set(own) & set(given) if given[k].shape != own[k].shape)
    problems = []
    if missing:
        problems.append(f'missing {missing[:5]}{" ..." if len(missing) > 5 else ""}')
    if unexpected:
        problems.append(f'unexpected {unexpected[:5]}{" ..." if len(unexpected) > 5 else ""}')
    if wrong:
        problems.append(f'shape mismatch {wrong[:5]}{" ..." if len(wrong) > 5 else ""}')
    if problems:
        raise WeightsError(f'{path}: {prefix.rstrip(".")} network does not match the file: '
                           + '; '.join(problems))
    net.load_state_dict(given)


def load_networks(path: PathLike, device: Union[str, torch.device] = 'cpu',
                  expected: Optional[ModelConfig] = None
                  ) -> Tuple[DispNet, EgoMotionNet, Dict[str, Any]]:
    """Build both networks from a weights file and load them, in ``eval`` mode.

    Args:
        path: the ``.safetensors`` file.
        device: where to put the networks.
        expected: if given, the file's architecture must equal it.

    Returns:
        ``(depth_net, egomotion_net, metadata)``.

    Raises:
        WeightsError: see :func:`read_weights`; also when the metadata's architecture is
            invalid, differs from ``expected``, or does not match the tensors.

    """
    path = Path(path)
    tensors, metadata = read_weights(path)
    try:
        config = from_dict(ModelConfig, metadata.get('model', {}), 'model')
    except (TypeError, ValueError) as err:
        raise WeightsError(f'{path}: invalid architecture in metadata ({err})')
    if expected is not None and config != expected:
        raise WeightsError(f'{path}: architecture {config} differs from the expected '
                           f'{expected}')
    depth_net, egomotion_net = build_networks(config)
    _load_state(depth_net, tensors, 'depth.', path)
    _load_state(egomotion_net, tensors, 'egomotion.', path)
    return depth_net.to(device).eval(), egomotion_net.to(device).eval(), metadata


def metric_scale(metadata: Mapping[str, Any]) -> Optional[float]:
    """Return the weights' calibrated metres per network depth unit, or None if they have none.

    Raises:
        WeightsError: the calibration entry is there but not a positive finite number.

    """
    calibration = metadata.get('calibration') or {}
    if 'metric_scale' not in calibration:
        return None
    value = calibration['metric_scale']
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0 < value < float('inf')):
        raise WeightsError(f'calibration.metric_scale must be a positive number, got {value!r}')
    return float(value)


def update_metadata(path: PathLike, **entries: Any) -> Dict[str, Any]:
    """Rewrite a weights file's metadata with ``entries`` added or replaced (atomically).

    The tensors (and their SHA-256) stay as they are; the architecture, input size, format
    version and digest cannot be changed this way. Returns the new metadata.
    """
    fixed = {'format_version', 'model', 'input_size', 'sha256'} & entries.keys()
    if fixed:
        raise ValueError(f'metadata keys {sorted(fixed)} belong to the tensors; retrain or '
                         're-export instead')
    tensors, metadata = read_weights(path)
    metadata = {**metadata, **entries}
    data = st_save(tensors, metadata={METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    atomic_write_bytes(path, data)
    return metadata
