#!/usr/bin/env bash
# Regenerates src/englog/protocol/ from proto/. The output is committed, so a fresh
# clone works without running this; run it (make proto) after changing a .proto file.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
out=src/englog/protocol
mkdir -p "$out"
"$PY" -m grpc_tools.protoc -Iproto --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" proto/englog/v1/worker.proto
# protoc writes englog/v1/worker_pb2*.py with absolute imports of "englog.v1";
# flatten them into the protocol package and make the import package-relative.
mv "$out"/englog/v1/worker_pb2*.py* "$out"/
rm -rf "$out"/englog
sed -i 's/^from englog\.v1 import worker_pb2/from englog.protocol import worker_pb2/' "$out"/worker_pb2_grpc.py
echo "generated $(ls "$out"/worker_pb2*)"
