#!/usr/bin/env bash
# Fetches Cisco's AXL schema (WSDL and XSD, versions 8.5–12.5, shipped in the PyPI package ciscoaxl)
# once into a cache folder and prints that folder: its `<version>/AXLSoap.xsd` is what requests and
# answers are validated against. Set UCP_AXL_SCHEMA_DIR to use a folder you already have.
set -euo pipefail

if [[ -n ${UCP_AXL_SCHEMA_DIR:-} ]]; then
    if [[ -f $UCP_AXL_SCHEMA_DIR/12.5/AXLSoap.xsd ]]; then
        echo "$UCP_AXL_SCHEMA_DIR"
        exit 0
    fi
    echo "axl-schema: UCP_AXL_SCHEMA_DIR=$UCP_AXL_SCHEMA_DIR has no 12.5/AXLSoap.xsd" >&2
    exit 1
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/ucp/axl-schema
if [[ -f $cache/12.5/AXLSoap.xsd ]]; then
    echo "$cache"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The wheel only: its dependencies are not needed to read the schema files.
PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
    python3 -m pip download --quiet --no-deps --dest "$work" ciscoaxl >&2
wheel=$(ls "$work"/ciscoaxl-*.whl | head -n 1)
python3 - "$wheel" "$work/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name.startswith("ciscoaxl/schema/"):
            wheel.extract(name, sys.argv[2])
PY
mkdir -p "$(dirname "$cache")"
rm -rf "$cache.tmp"
mv "$work/unpacked/ciscoaxl/schema" "$cache.tmp"
mv "$cache.tmp" "$cache"
echo "$cache"
