#!/usr/bin/env bash
# Makes a fresh machine able to run the tests and benchmarks; quick and silent when all is there.
# - node_modules from the lockfile (puppeteer's own browser download is skipped: it cannot work here,
#   Debian's /usr/bin/chromium is the browser);
# - the two CPU WebGPU adapters: Mesa llvmpipe behind EGL (Dawn's OpenGL ES backend) and SwiftShader
#   Vulkan, which ships inside Debian's chromium; libvulkan1 is the loader Dawn dlopens for it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PUPPETEER_SKIP_DOWNLOAD=true

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[ensure-env] installing node modules (npm ci)"
  npm ci --no-audit --no-fund
fi

missing=()
[ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || missing+=(chromium)
ldconfig -p | grep -q 'libvulkan.so.1 ' || missing+=(libvulkan1)
ldconfig -p | grep -q 'libEGL_mesa.so.0 ' || missing+=(libegl-mesa0)
ldconfig -p | grep -q 'libgbm.so.1 ' || missing+=(libgbm1)
compgen -G '/usr/lib/*/dri/swrast_dri.so' > /dev/null || missing+=(libgl1-mesa-dri)

if [ ${#missing[@]} -gt 0 ]; then
  echo "[ensure-env] installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo > /dev/null; then SUDO=sudo; else
      echo "[ensure-env] not root and no sudo: install these yourself: apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" > /dev/null
fi
