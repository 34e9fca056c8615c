#!/usr/bin/env bash
# Real servers the tests use: PostgreSQL (Optuna's shared storage) and Chromium (the dashboard's
# browser test). Installed from Debian's packages when missing; the tests start them on 127.0.0.1.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "scripts/test_services.sh: ${need[*]} missing and not root; the tests that need them will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
