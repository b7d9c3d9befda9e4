#!/usr/bin/env bash
# Install exactly what package-lock.json pins, type-check, bundle and package qinet.vsix.
# Needs Node 20 and npm; packaging itself works offline.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run lint
npm run build
npm run package
