#!/usr/bin/env bash
# The main job on the embedded default: render a drive, learn depth and ego-motion from it,
# evaluate against the rendered ground truth, write pictures and weights to outputs/demo.
# Extra arguments go to the demo (see: scripts/main.sh --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
exec "$root/.venv/bin/python" -m mono_depth_ros.demo "$@"
