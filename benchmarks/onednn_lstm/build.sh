#!/usr/bin/env bash
# Builds the oneDNN LSTM experiment (see README.md here) into $BUILD (default /tmp/onednn_lstm).
# Needs pip access to PyPI, g++ and the repo's virtual environment (TensorFlow).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${BUILD:-/tmp/onednn_lstm}"
PYTHON="${PYTHON:-python}"
mkdir -p "$BUILD/wheels" "$BUILD/lib"
# PyPI's oneDNN builds: onednn-cpu-gomp 2023.2.0 (oneDNN 3.2, GNU OpenMP) ships the library only;
# onednn-devel 2026.1.0 ships headers configured for the SYCL/TBB build. The C API the headers
# wrap is the same for what is used here, so the headers are re-configured for OpenMP.
"$PYTHON" -m pip download --quiet --no-deps -d "$BUILD/wheels" onednn-cpu-gomp==2023.2.0 onednn-devel==2026.1.0
"$PYTHON" -m pip install --quiet --no-deps --target "$BUILD/devel" "$BUILD"/wheels/onednn_devel-*.whl
(cd "$BUILD" && unzip -o -q wheels/onednn_cpu_gomp-*.whl "*/lib/libdnnl.so.3.2" -d gomp)
cp "$BUILD"/gomp/*/data/lib/libdnnl.so.3.2 "$BUILD/lib/" && ln -sf libdnnl.so.3.2 "$BUILD/lib/libdnnl.so.3"
rm -rf "$BUILD/include" && cp -r "$BUILD/devel/include" "$BUILD/include"
sed -i -e 's/define DNNL_CPU_THREADING_RUNTIME DNNL_RUNTIME_TBB/define DNNL_CPU_THREADING_RUNTIME DNNL_RUNTIME_OMP/' \
       -e 's/define DNNL_CPU_RUNTIME DNNL_RUNTIME_SYCL/define DNNL_CPU_RUNTIME DNNL_RUNTIME_OMP/' \
       -e 's/define DNNL_GPU_RUNTIME DNNL_RUNTIME_SYCL/define DNNL_GPU_RUNTIME DNNL_RUNTIME_NONE/' \
       -e 's/define DNNL_GPU_VENDOR DNNL_VENDOR_INTEL/define DNNL_GPU_VENDOR DNNL_VENDOR_NONE/' \
       "$BUILD/include/oneapi/dnnl/dnnl_config.h"
DNNL=(-I"$BUILD/include" -L"$BUILD/lib" -l:libdnnl.so.3 -Wl,-rpath,"$BUILD/lib")
g++ -O2 -std=c++17 "$HERE/standalone_bench.cc" "${DNNL[@]}" -o "$BUILD/standalone_bench"
read -r -a TF_CFLAGS <<< "$("$PYTHON" -c 'import tensorflow as tf; print(" ".join(tf.sysconfig.get_compile_flags()))' 2>/dev/null)"
read -r -a TF_LFLAGS <<< "$("$PYTHON" -c 'import tensorflow as tf; print(" ".join(tf.sysconfig.get_link_flags()))' 2>/dev/null)"
g++ -O2 -std=c++17 -shared -fPIC -w "$HERE/tf_op.cc" "${TF_CFLAGS[@]}" "${TF_LFLAGS[@]}" "${DNNL[@]}" -o "$BUILD/tf_op.so"
echo "built $BUILD/standalone_bench and $BUILD/tf_op.so"
