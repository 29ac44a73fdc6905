#!/usr/bin/env bash
# One command to get a working mqg-webgpu checkout: npm dependencies, a WebGPU adapter (on
# Debian/Ubuntu without one, Mesa's software Vulkan driver, lavapipe, new enough for Dawn), and the
# build. Idempotent: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

say() { printf '[setup] %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
  exit 1
fi

if [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

probe() { node scripts/probe-adapter.mjs "$@"; }

if ! probe --quiet; then
  say "no WebGPU adapter opens; trying to install a software Vulkan driver (Mesa lavapipe >= 24)"
  if [ ! -r /etc/os-release ] || ! command -v apt-get >/dev/null; then
    say "not a Debian/Ubuntu system: install a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver for your GPU, then rerun."
    exit 1
  fi
  . /etc/os-release
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "need root (or sudo) to install mesa-vulkan-drivers"; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
    # Debian 12 ships Mesa 22, too old for Dawn's Vulkan backend; bookworm-backports has Mesa 25.
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      say "adding the bookworm-backports apt source"
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
        $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    fi
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers
  else
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q mesa-vulkan-drivers
  fi
  probe --quiet || { say "still no adapter after installing mesa-vulkan-drivers: $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null). Dawn needs Mesa 24 or newer."; exit 1; }
fi
probe

if [ ! -f dist/node/cli.js ] || [ -n "$(find src scripts/build.mjs -newer dist/node/cli.js -print -quit 2>/dev/null)" ]; then
  say "building dist/"
  node scripts/build.mjs
fi
say "ready: try \`npx mqg doctor\` or \`npx mqg train\`"
