#!/usr/bin/env bash
# The main job on the embedded default: render a drive, replay it as a rosbag2 into the depth
# node (shipped weights), record its outputs, evaluate against the rendered ground truth and
# write metrics and pictures to outputs/demo.
# Extra arguments go to the demo (see: scripts/main.sh --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$root/.venv/bin/python" -m mono_depth_ros.ros.demo "$@"
