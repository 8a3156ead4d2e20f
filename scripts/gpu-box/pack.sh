#!/usr/bin/env bash
# Packs what the benchmarks and the CLI need on a GPU machine that has no npm registry (and maybe no
# Node) into .dev/ and .gl/ (both gitignored), to be copied there beside a checkout of this repo:
#   .dev/b/bench.mjs, .dev/b/cli.mjs  bench/run.ts and src/cli.ts bundled by esbuild ('webgpu' left
#                                     external; shaders are still read from shaders/ at run time)
#   .dev/node.xz, .dev/dawn.node.xz    this machine's node binary and Dawn's linux-x64 addon, compressed
#   .dev/data/                         ML-100K and its GloVe subset (DATA, default ../shared/data)
#   .gl/*.deb                          the Vulkan loader and GLVND libraries (NVIDIA's ICD needs them)
# About 40 MiB in all. Then on the GPU machine: bash scripts/gpu-box/run.sh STAGE... (see there).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data}
mkdir -p .dev/b .dev/node_modules/webgpu/dist/linux-x64 .dev/data/glove .gl
entry=.dev/cli-entry.ts
cat > "$entry" <<'TS'
import { main } from '../src/cli.ts';
main(process.argv).then(() => process.exit(0), (err) => { console.error('mufasa:', err); process.exit(1); });
TS
banner="import{createRequire as __cr}from'module';const require=__cr(import.meta.url);"
npx esbuild bench/run.ts --bundle --platform=node --format=esm --target=node20 --external:webgpu --outfile=.dev/b/bench.mjs "--banner:js=$banner" --log-level=warning
npx esbuild "$entry" --bundle --platform=node --format=esm --target=node20 --external:webgpu --outfile=.dev/b/cli.mjs "--banner:js=$banner" --log-level=warning
cp node_modules/webgpu/index.js node_modules/webgpu/package.json .dev/node_modules/webgpu/
xz -T0 -c node_modules/webgpu/dist/linux-x64/dawn.node > .dev/dawn.node.xz
xz -T0 -c "$(command -v node)" > .dev/node.xz
rm -rf .dev/data/ml-100k && cp -r "$DATA/ml-100k" .dev/data/
xz -c "$DATA/glove/glove-ml100k-100d.txt" > .dev/data/glove/glove-ml100k-100d.txt.xz
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
mkdir -p /tmp/amd64/partial
apt-get $o update -qq
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
du -sh .dev .gl
