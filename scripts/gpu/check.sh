#!/usr/bin/env bash
# The GPU check of glmkit's CUDA build, in one command (see docs/gpu.md): golden fixtures on
# CUDA, then `glmkit model score` against transformers in bf16 at three shapes. Needs python3
# with torch and transformers, nvidia-smi, and the binary from scripts/gpu/build.sh at
# target-cuda/carry/glmkit.xz; no Rust, no network. Results go to $OUT (or target-cuda/check).
#
#   scripts/gpu/check.sh [--dry-run] [--shapes 57m,1b,9b] [--skip-golden]
#
# --dry-run runs what needs no GPU: where no driver is found, the stub libraries of build.sh
# stand in for it, so the binary's clean failure without a GPU is checked too.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
packed=${GLMKIT_XZ:-$root/target-cuda/carry/glmkit.xz}
out=${OUT:-$root/target-cuda/check}
work=$(mktemp -d "${TMPDIR:-/tmp}/glmkit-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
dry_run=0
for arg in "$@"; do
    [ "$arg" = "--dry-run" ] && dry_run=1
done

[ -f "$packed" ] || { echo "check.sh: no $packed (run scripts/gpu/build.sh first)" >&2; exit 1; }
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    "$packed" "$work/glmkit"
chmod +x "$work/glmkit"

# The CUDA 13 libraries the binary links: libcuda from the driver; cuBLAS, cuRAND and the
# runtime from PyTorch's CUDA wheels (or a CUDA toolkit) when the system has none.
libdirs=$(python3 - <<'PY'
import glob, os, site, sys
wanted = ["libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcudart.so.13"]
roots = site.getsitepackages() + [site.getusersitepackages(), "/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu"]
dirs = []
for name in wanted:
    for r in roots:
        hits = glob.glob(os.path.join(r, "**", name), recursive=True) if "site-packages" in r or "dist-packages" in r else glob.glob(os.path.join(r, name))
        if hits:
            d = os.path.dirname(hits[0])
            if d not in dirs:
                dirs.append(d)
            break
    else:
        print(f"check.sh: {name} not found", file=sys.stderr)
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "$dry_run" = 1 ] && ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1'; then
    stubs=$root/target-cuda/cuda-prefix/nvidia/cu13/lib
    [ -d "$stubs/stubs" ] || { echo "check.sh: --dry-run without a driver needs build.sh's stubs in $stubs/stubs" >&2; exit 1; }
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$stubs/stubs:$stubs"
fi
if ldd "$work/glmkit" | grep -q 'not found'; then
    echo "check.sh: libraries missing:" >&2
    ldd "$work/glmkit" | grep 'not found' >&2
    exit 1
fi
echo "check.sh: binary $(du -h "$work/glmkit" | cut -f1), libraries from ${LD_LIBRARY_PATH}"
PYTHONUNBUFFERED=1 python3 scripts/gpu/check.py --glmkit "$work/glmkit" --work "$work" --out "$out" "$@"
