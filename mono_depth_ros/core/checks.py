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

"""One small helper that checks tensor shapes at run time and names what is wrong.

May import: torch, numpy, scipy, safetensors and other ``mono_depth_ros.core`` modules.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch

__all__ = ['check_shape']

Dim = Union[int, str, None]


def check_shape(tensor: torch.Tensor, shape: Sequence[Dim], name: str) -> None:
    """Raise ``ValueError`` unless ``tensor`` matches ``shape``.

    ``shape`` lists one entry per dimension: an ``int`` must match exactly, a ``str`` or
    ``None`` matches any size. A leading ``'*'`` matches any number of leading dimensions.

    Args:
        tensor: the tensor to check.
        shape: the expected shape, e.g. ``('B', 1, 'H', 'W')`` or ``('*', 4, 4)``.
        name: the argument's name, used in the message.

    Raises:
        ValueError: the rank or a fixed dimension differs.
        TypeError: ``tensor`` is not a tensor.

    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(tensor).__name__}')
    dims = list(shape)
    actual = tuple(tensor.shape)
    if dims and dims[0] == '*':
        dims = dims[1:]
        ok = len(actual) >= len(dims)
        tail = actual[len(actual) - len(dims):] if ok else actual
    else:
        ok = len(actual) == len(dims)
        tail = actual
    if ok:
        ok = all(not isinstance(d, int) or d == a for d, a in zip(dims, tail))
    if not ok:
        want = '(' + ', '.join(str(d) for d in shape) + ')'
        raise ValueError(f'{name} must have shape {want}, got {actual}')
