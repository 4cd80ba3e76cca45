#!/usr/bin/env bash
# Installs the Debian packages Meshsmith needs, if any are missing (root or sudo required then).
# Usage: scripts/system-deps.sh [run|test]
set -euo pipefail
need=(python3 python3-venv python3-dev)
if [ "${1:-run}" = "test" ]; then
    need+=(nodejs npm xvfb xauth libxcb-icccm4 libxcb-keysyms1 libgl1 libegl1)
fi
missing=()
for pkg in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Tools that came from elsewhere than Debian (pyenv's Python, a Node install) count as present.
command -v node >/dev/null && command -v npm >/dev/null && missing=("${missing[@]/nodejs}") && missing=("${missing[@]/npm}")
python3 -c "import venv, ensurepip" 2>/dev/null && missing=("${missing[@]/python3-venv}") && missing=("${missing[@]/python3}")
python3 -c "import sysconfig, os; assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))" 2>/dev/null && missing=("${missing[@]/python3-dev}")
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
