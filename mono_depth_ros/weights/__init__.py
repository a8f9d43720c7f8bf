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


"""The shipped weights (each file's recipe is in ``training/configs/``).

``compact_v26`` is the default (``training/configs/compact_v22.yaml`` for its depth, better
than the previous default ``compact_v7`` on streets and level with it indoors, then
``training/configs/compact_v26.yaml``: its ego-motion network with batch norm folded away,
``fold_bn``, and trained alone without the zoom augmentation, which made it under-rotate).
``compact_v26_street`` is better still on streets and worse indoors
(``training/configs/compact_v18.yaml`` for its depth, then ``compact_v26.yaml`` for its
ego-motion network; the README's quality section), for robots that only
drive streets. The node's ``weights``
parameter takes a path or one of the names of :data:`SHIPPED`.

May import: the standard library only.
"""

from pathlib import Path

__all__ = ['DEFAULT_WEIGHTS', 'FIRST_WEIGHTS', 'PREVIOUS_WEIGHTS', 'SHIPPED', 'STREET_WEIGHTS',
           'default_weights', 'resolve_weights']

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / 'compact_v26_48x160.safetensors'
#: the previous default (``training/configs/compact_v7.yaml``), kept for side-by-side figures
#: and as a one-parameter way back (``compact_v2_48x160`` to ``compact_v4_48x160``,
#: ``compact_v22_48x160`` and ``compact_v22bn_48x160``, the default's depth network with the
#: ego-motion networks before ``update_bn`` and before ``compact_v26``, left the package; they
#: stay in git history)
PREVIOUS_WEIGHTS = Path(__file__).resolve().parent / 'compact_v7_48x160.safetensors'
#: the first shipped weights (``training/configs/compact.yaml``), kept for the same reason
FIRST_WEIGHTS = Path(__file__).resolve().parent / 'compact_48x160.safetensors'
#: the street file; it replaced ``compact_v18bn_street_48x160`` and ``compact_v18_street_48x160``
#: (the same depth, earlier ego-motion networks) and ``compact_v15_street_48x160`` (git history
#: keeps them)
STREET_WEIGHTS = Path(__file__).resolve().parent / 'compact_v26_street_48x160.safetensors'
#: Short names of the shipped files, as the node's ``weights`` parameter takes them.
SHIPPED = {'default': DEFAULT_WEIGHTS, 'street': STREET_WEIGHTS, 'previous': PREVIOUS_WEIGHTS,
           'first': FIRST_WEIGHTS}


def default_weights() -> Path:
    """Return the path of the shipped weights; a missing file is a clear error."""
    if not DEFAULT_WEIGHTS.is_file():
        raise FileNotFoundError(f'{DEFAULT_WEIGHTS}: the default weights are missing from '
                                'this install; pass a weights file, or train one with '
                                'training/configs/compact_v22.yaml and compact_v26.yaml')
    return DEFAULT_WEIGHTS


def resolve_weights(name: str) -> str:
    """Return the file ``name`` means: empty = the default, a key of :data:`SHIPPED`, a path.

    Raises:
        FileNotFoundError: a shipped name whose file is missing from this install.

    """
    if not name:
        return str(default_weights())
    if name in SHIPPED:
        path = SHIPPED[name]
        if not path.is_file():
            raise FileNotFoundError(f'{path}: the shipped weights {name!r} are missing from '
                                    'this install')
        return str(path)
    return name
