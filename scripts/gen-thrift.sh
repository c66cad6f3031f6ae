#!/usr/bin/env bash
# Regenerates the Thrift code from idl/im_service.thrift: the Node.js module
# under gen-nodejs/ (committed) and, with --py DIR, the Python module that the
# interop tests use. Needs Debian's thrift-compiler (0.17).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v thrift >/dev/null; then
  echo "thrift compiler not found: install it with 'apt-get install -y thrift-compiler'" >&2
  exit 1
fi

if [ "${1:-}" = "--py" ]; then
  out=${2:?usage: gen-thrift.sh --py DIR}
  mkdir -p "$out"
  thrift --gen py -out "$out" idl/im_service.thrift
  exit 0
fi

rm -rf gen-nodejs
mkdir gen-nodejs
# Plain js:node output calls thrift.Q, which the 0.24 runtime no longer has;
# the es6 flavour uses native promises.
thrift --gen js:node,es6,ts -out gen-nodejs idl/im_service.thrift
# The generated files are CommonJS while the project is an ES module package.
printf '{ "type": "commonjs" }\n' > gen-nodejs/package.json
