#!/usr/bin/env bash
# Build glmkit with `--features cuda` for sm_90 (H100/H200) on a machine with no GPU and no
# system CUDA, from packages alone: CUDA 13.0 compiler wheels from PyPI, link-only stub
# libraries generated from cudarc's bindings (scripts/gpu/make_stubs.py). See docs/gpu.md.
#
# Writes target-cuda/carry/glmkit.xz (where scripts/gpu/check.sh looks for it) and prints how
# long the build took. Everything lives under target-cuda/ (gitignored); ./target is untouched.
#
# Environment: GLMKIT_CUDA_DIR (default target-cuda), CUDA_COMPUTE_CAP (default 90),
# CARGO_BUILD_JOBS (cargo's own).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dir=${GLMKIT_CUDA_DIR:-$root/target-cuda}
wheels=$dir/wheels
prefix=$dir/cuda-prefix
cuda_home=$prefix/nvidia/cu13
carry=$dir/carry
start=$(date +%s)

say() { echo "build.sh: $*" >&2; }

# 1. CUDA 13.0 compiler and runtime wheels (about 104 MB, once).
wanted=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85
        nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88)
if [ ! -x "$cuda_home/bin/nvcc" ]; then
    say "downloading CUDA 13.0 wheels into $wheels"
    mkdir -p "$wheels"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux2014_x86_64 -d "$wheels" "${wanted[@]}"
    rm -rf "$prefix"
    mkdir -p "$prefix"
    for w in "$wheels"/*.whl; do
        python3 -m zipfile -e "$w" "$prefix"
    done
    chmod +x "$cuda_home"/bin/* "$cuda_home"/nvvm/bin/*
    ln -sfn lib "$cuda_home/lib64"
    [ -e "$cuda_home/lib/libcudart.so" ] || ln -s libcudart.so.13 "$cuda_home/lib/libcudart.so"
fi
"$cuda_home/bin/nvcc" --version | tail -n 2 >&2

# 2. Link-only stubs for libcuda, cublas, cublasLt, curand, nvrtc (cudarc looks in lib/stubs).
cargo fetch --locked >/dev/null
cudarc_version=$(awk '/^name = "cudarc"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
cudarc_src=$(ls -d "$HOME"/.cargo/registry/src/*/cudarc-"$cudarc_version" | head -n 1)
python3 scripts/gpu/make_stubs.py "$cudarc_src" "$cuda_home/lib/stubs" >&2

# 3. The build. CUDA_COMPUTE_CAP is required where nvidia-smi is absent (90 -> sm_90a).
say "cargo build --release --features cuda (CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90})"
PATH=$cuda_home/bin:$PATH CUDA_HOME=$cuda_home CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90} \
    cargo build --locked --release --features cuda --bin glmkit --target-dir "$dir"
built=$(date +%s)

# 4. Compressed copy for the GPU machine (at most 64 MiB can be carried there).
mkdir -p "$carry"
xz -T2 -6 -c "$dir/release/glmkit" >"$carry/glmkit.xz.tmp"
mv "$carry/glmkit.xz.tmp" "$carry/glmkit.xz"
end=$(date +%s)

# 5. Started without a GPU (stubs only), the binary must fail with a one-line error.
probe=$(env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE LD_LIBRARY_PATH=$cuda_home/lib/stubs:$cuda_home/lib "$dir/release/glmkit" model forward \
    --model fixtures/model/glm-gqa --input fixtures/model/golden.json --device cuda 2>&1) && {
    say "expected the device probe to fail without a GPU, it succeeded: $probe"
    exit 1
}
say "without a GPU the binary says: $probe"

say "binary $(du -h "$dir/release/glmkit" | cut -f1), compressed $(du -h "$carry/glmkit.xz" | cut -f1) at $carry/glmkit.xz"
say "build took $((built - start)) s (cargo), $((end - start)) s in all"
