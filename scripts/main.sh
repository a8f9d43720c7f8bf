#!/usr/bin/env bash
# The main job on the embedded default: render a drive, replay it as a rosbag2 into the depth
# node (shipped weights), record its outputs, evaluate against the rendered ground truth and
# write metrics and pictures to outputs/demo.
# Extra arguments go to the demo (see: scripts/main.sh --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
exec "$root/.venv/bin/python" -m mono_depth_ros.demo "$@"
