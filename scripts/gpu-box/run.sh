#!/usr/bin/env bash
# On a GPU machine, after scripts/gpu-box/pack.sh's .dev/ and .gl/ were copied beside the checkout:
# installs them (idempotent; needs root for dpkg -x into /) and runs the named stages on the hardware
# adapter (MUFASA_ADAPTER=gpu unless set). $OUT (default ./gpu-out) receives logs and JSON.
#   att      npm run bench -- attention          nce    npm run bench -- infonce
#   train    npm run bench -- train (EPOCHS, default 40; time to RecBole's HR@10)
#   cmp      mufasa compare (MODELS, SEEDS, CFG, TAG, ZS=--zero-shot, BUDGET s per run, TMO s in all)
# Used for the H100 (Dawn/Vulkan, driver 580) numbers quoted in infonce.ts, matmul.ts and sort.wgsl.
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p "${OUT:-gpu-out}"
OUT=$(cd "${OUT:-gpu-out}" && pwd)
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if ! command -v node > /dev/null; then xz -dc .dev/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node; fi
[ -f .dev/node_modules/webgpu/dist/linux-x64/dawn.node ] || xz -dc .dev/dawn.node.xz > .dev/node_modules/webgpu/dist/linux-x64/dawn.node
[ -f .dev/data/glove/glove-ml100k-100d.txt ] || xz -dc .dev/data/glove/glove-ml100k-100d.txt.xz > .dev/data/glove/glove-ml100k-100d.txt
# NVIDIA's Vulkan ICD lives outside the loader's search path on some images.
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* > /dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export MUFASA_ADAPTER=${MUFASA_ADAPTER:-gpu}
D=.dev/data/ml-100k
G=.dev/data/glove/glove-ml100k-100d.txt
for s in "$@"; do
  echo "=== stage $s $(date +%T)"
  case $s in
    att) node .dev/b/bench.mjs attention --json "$OUT/attention.json" 2>&1 | tee "$OUT/attention.log" ;;
    nce) node .dev/b/bench.mjs infonce --json "$OUT/infonce.json" 2>&1 | tee "$OUT/infonce.log" ;;
    train) node .dev/b/bench.mjs train --data $D --word-vectors $G --epochs "${EPOCHS:-40}" --target-hr10 0.0976 --json "$OUT/train.json" 2>&1 | tee "$OUT/train.log" ;;
    cmp)
      tag=${TAG:-x}
      timeout "${TMO:-540}" node .dev/b/cli.mjs compare --data $D --word-vectors $G ${CFG:+--config "$CFG"} --models "${MODELS:-sasrec,mufasa}" \
        --seeds "${SEEDS:-3}" --time-budget "${BUDGET:-120}" ${ZS:-} --out "/tmp/cmp-$tag" 2>&1 | grep -v 'report only' > "$OUT/cmp-$tag.log"
      tail -30 "$OUT/cmp-$tag.log"
      (cd /tmp && tar czf "$OUT/cmp-$tag.tgz" $(find "cmp-$tag" -name results.json -o -name 'compare.*'))
      ;;
    *) echo "unknown stage $s" >&2 ;;
  esac
done
