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

"""Entry points of the installed executables (``ros2 run mono_depth_ros depth_node``).

Importing torch and rclpy takes seconds. A KeyboardInterrupt raised in that time would
surface from deep inside an import, and worse, a library that catches broad exceptions
while importing can swallow it and leave a half-initialised module behind (seen: numpy's
``dtypes`` left in ``sys.modules`` but not bound, so scipy's next import recursed until
RecursionError). So while the real module is imported, SIGINT does not raise: its
handler ends the process at once with status 0 (the user asked it to stop, and nothing
had started: no file, no DDS participant). Python's default handler is restored before
the node's ``main`` runs, which handles signals itself.

May import: the standard library; the node modules lazily.
"""

import importlib
import os
import signal
import sys

__all__ = ['demo', 'depth_node', 'replay']


def _quit_while_importing(signum, frame) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def _run(target: str) -> None:
    module, name = target.split(':')
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # a background start keeps SIGINT ignored
        signal.signal(signal.SIGINT, _quit_while_importing)
    try:
        entry = getattr(importlib.import_module(module), name)
    finally:
        if previous is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)
    entry()


def depth_node() -> None:
    """Run :func:`mono_depth_ros.ros.node.main`."""
    _run('mono_depth_ros.ros.node:main')


def replay() -> None:
    """Run :func:`mono_depth_ros.ros.replay.main`."""
    _run('mono_depth_ros.ros.replay:main')


def demo() -> None:
    """Run :func:`mono_depth_ros.ros.demo.main`."""
    _run('mono_depth_ros.ros.demo:main')


if __name__ == '__main__':
    depth_node()
