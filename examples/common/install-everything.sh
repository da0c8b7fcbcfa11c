#!/usr/bin/env bash
# Installs the upstream tool server (npm @modelcontextprotocol/server-everything) into PREFIX once.
set -euo pipefail
PREFIX="$1"
VERSION=2026.8.31
[ -f "$PREFIX/.installed-$VERSION" ] && exit 0
echo "installing @modelcontextprotocol/server-everything@$VERSION into $PREFIX" >&2
mkdir -p "$PREFIX"
timeout 600 npm install --silent --no-audit --no-fund --prefix "$PREFIX" "@modelcontextprotocol/server-everything@$VERSION" >&2
touch "$PREFIX/.installed-$VERSION"
