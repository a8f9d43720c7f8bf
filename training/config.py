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


"""The typed training configuration: YAML plus ``section.key=value`` overrides.

May import: :mod:`mono_depth_ros.core.config`, PyYAML and the standard library.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Sequence, Tuple, Union

from mono_depth_ros.core.config import from_dict, LossConfig, ModelConfig
import yaml

__all__ = ['CONFIG_DIR', 'AugmentConfig', 'DataConfig', 'OptimConfig', 'OutputConfig',
           'TrainConfig', 'config_path', 'load_config', 'parse_size']

#: the shipped training configurations (``train.yaml``: the paper's; ``compact.yaml``)
CONFIG_DIR = Path(__file__).resolve().parent / 'configs'


@dataclass(frozen=True)
class DataConfig:
    """Where the prepared snippets are (see :mod:`mono_depth_ros.data.snippets`)."""

    root: str = 'outputs/data/prepared'
    """A prepared folder, or several joined by ``os.pathsep`` (``:``), trained on together."""
    train_split: str = 'train'
    val_split: str = 'val'
    workers: int = 2
    hard_sampling: float = 0.0
    """0: every step draws its snippets uniformly (the paper). ``a > 0``: snippet ``i`` with
    probability proportional to ``loss_i ** a`` under the networks the run starts from,
    scored once and kept in the output folder for a resume
    (:mod:`mono_depth_ros_training.sampling`)."""


@dataclass(frozen=True)
class OptimConfig:
    """Adam and the schedule (the paper: lr 2e-4, beta1 0.9, batch 4)."""

    lr: float = 2e-4
    beta1: float = 0.9
    eps: float = 1e-8
    batch_size: int = 4
    steps: int = 200000
    seed: int = 0
    schedule: str = 'constant'
    """``constant`` (the paper) or ``cosine`` (decay to ``lr * lr_min_ratio`` at ``steps``)."""
    lr_min_ratio: float = 0.05
    train_depth: bool = True
    """``false`` freezes the depth network (weights and batch-norm statistics; it runs in
    eval mode) and trains the ego-motion network alone."""

    def __post_init__(self) -> None:
        """Check the values."""
        if self.lr <= 0 or self.eps <= 0 or self.batch_size < 1 or self.steps < 0:
            raise ValueError(
                f'optim: need lr > 0, eps > 0, batch_size >= 1, steps >= 0; got {self}')
        if self.schedule not in ('constant', 'cosine'):
            raise ValueError(f"optim.schedule must be 'constant' or 'cosine', got "
                             f'{self.schedule!r}')
        if not 0 < self.lr_min_ratio <= 1:
            raise ValueError(f'optim.lr_min_ratio must be in (0, 1], got {self.lr_min_ratio}')


@dataclass(frozen=True)
class AugmentConfig:
    """The paper's augmentations (ranges are ``[low, high]``, sampled uniformly).

    ``flip`` (not the paper's; 0 = off) is the probability that a snippet is mirrored left
    to right, every frame and the intrinsics with it: a mirrored world the camera could
    have moved through, with the yaw and roll of its motion negated.
    """

    enabled: bool = True
    gamma: Tuple[float, float] = (0.8, 1.2)
    brightness: Tuple[float, float] = (0.5, 2.0)
    colour: Tuple[float, float] = (0.8, 1.2)
    scale: Tuple[float, float] = (1.0, 1.15)
    flip: float = 0.0

    def __post_init__(self) -> None:
        """Check the ranges."""
        for name in ('gamma', 'brightness', 'colour', 'scale'):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f'augment.{name}: need 0 < low <= high, got {low}, {high}')
        if self.scale[0] < 1.0:
            raise ValueError('augment.scale: zoom factors must be >= 1 (scale then crop)')
        if not 0.0 <= self.flip <= 1.0:
            raise ValueError(f'augment.flip is a probability in [0, 1], got {self.flip}')


@dataclass(frozen=True)
class OutputConfig:
    """Where and how often to log, draw and checkpoint.

    ``snapshot_every`` (a multiple of ``checkpoint_every``; 0 = off) also keeps deployable
    weights ``snapshots/step_NNNNNNN.safetensors`` along the way, for learning curves.
    """

    folder: str = 'outputs/train'
    log_every: int = 10
    image_every: int = 500
    checkpoint_every: int = 1000
    snapshot_every: int = 0
    tensorboard: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; stored inside checkpoints and exported weights."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> Dict[str, Any]:
        """Plain nested ``dict`` (JSON- and YAML-serialisable)."""
        return asdict(self)


_SECTIONS = {'model': ModelConfig, 'loss': LossConfig, 'data': DataConfig,
             'optim': OptimConfig, 'augment': AugmentConfig, 'output': OutputConfig}


def apply_overrides(raw: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as YAML) to a nested dict."""
    out = {k: dict(v or {}) for k, v in raw.items()}
    for item in overrides:
        if '=' not in item or '.' not in item.split('=', 1)[0]:
            raise ValueError(f'override {item!r}: expected section.key=value')
        key, value = item.split('=', 1)
        section, name = key.split('.', 1)
        if section not in _SECTIONS:
            raise ValueError(f'override {item!r}: unknown section {section!r}; sections: '
                             f'{sorted(_SECTIONS)}')
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def config_from_dict(raw: Dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig`; unknown sections or keys are errors naming them."""
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ValueError(f'unknown section(s) {unknown}; sections: {sorted(_SECTIONS)}')
    parts = {}
    for name, cls in _SECTIONS.items():
        values = dict(raw.get(name) or {})
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(value)
        parts[name] = from_dict(cls, values, name)
    return TrainConfig(**parts)


def config_path(name: Union[str, Path]) -> Path:
    """Find a YAML file by path, or a shipped configuration by name (``'train'``).

    Raises:
        FileNotFoundError: neither a file nor a shipped configuration; lists the names.

    """
    path = Path(name)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / (path.name if path.suffix == '.yaml' else path.name + '.yaml')
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in CONFIG_DIR.glob('*.yaml'))
    raise FileNotFoundError(f'{name}: no such configuration file, and not a shipped '
                            f'configuration (shipped: {names})')


def _read(path: Union[str, Path, None]) -> Dict[str, Any]:
    raw: Dict[str, Any] = {}
    if path is not None:
        path = config_path(path)
        with open(path) as handle:
            raw = yaml.safe_load(handle) or {}
        if not isinstance(raw, dict):
            raise ValueError(f'{path}: expected a mapping of sections')
    return raw


def load_config(path: Union[str, Path, None], overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML file or shipped configuration (see :func:`config_path`), apply overrides.

    With ``path`` None the dataclass defaults are used.
    """
    return config_from_dict(apply_overrides(_read(path), overrides))


def keys_set(path: Union[str, Path, None], overrides: Sequence[str] = (),
             section: str = 'model') -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """Return the keys of ``section`` that the file sets and those the overrides set."""
    in_file = tuple((_read(path).get(section) or {}).keys())
    given = tuple(o.split('=', 1)[0].split('.', 1)[1] for o in overrides
                  if o.split('=', 1)[0].startswith(section + '.'))
    return in_file, given


def parse_size(text: str) -> Tuple[int, int]:
    """``'HxW'`` as ``(H, W)``: the ``--size`` argument of the training commands."""
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f'size must be HxW (e.g. 128x416), got {text!r}') \
            from err
    return h, w
