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

"""The networks in use, shared between inference and online fine-tuning.

:class:`NetworkSlot` is the only thing both sides touch: inference runs the networks inside
:meth:`NetworkSlot.use`; fine-tuning takes a :meth:`~NetworkSlot.snapshot` to train on and
:meth:`~NetworkSlot.swap` s better weights in. Each holds the lock only for a copy.

May import: torch.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from typing import Dict, Iterator, Tuple

import torch

__all__ = ['NetworkSlot']

StateDict = Dict[str, torch.Tensor]


class NetworkSlot:
    """The depth and ego-motion networks in use, behind one lock.

    Args:
        depth_net: the depth network (kept in eval mode).
        ego_net: the ego-motion network (kept in eval mode).

    """

    def __init__(self, depth_net: torch.nn.Module, ego_net: torch.nn.Module) -> None:
        """Hold the networks (switched to eval mode)."""
        self._depth_net = depth_net.eval()
        self._ego_net = ego_net.eval()
        self.lock = threading.Lock()
        self.swaps = 0

    @contextlib.contextmanager
    def use(self) -> Iterator[Tuple[torch.nn.Module, torch.nn.Module]]:
        """Hold the lock and yield ``(depth_net, ego_net)`` for inference."""
        with self.lock:
            yield self._depth_net, self._ego_net

    def snapshot(self) -> Tuple[torch.nn.Module, torch.nn.Module]:
        """Return independent copies of both networks (eval mode), taken under the lock."""
        with self.lock:
            return copy.deepcopy(self._depth_net), copy.deepcopy(self._ego_net)

    def swap(self, depth_state: StateDict, ego_state: StateDict) -> None:
        """Load new weights into the networks in use, between two frames."""
        with self.lock:
            self._depth_net.load_state_dict(depth_state)
            self._ego_net.load_state_dict(ego_state)
            self.swaps += 1

    @property
    def device(self) -> torch.device:
        """Return where the networks live."""
        return next(self._depth_net.parameters()).device
