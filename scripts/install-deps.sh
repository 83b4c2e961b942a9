#!/usr/bin/env bash
# Installs the system packages UCProvision needs on Debian 12.
# Assumes Swift 6, PostgreSQL 15 (server + libpq-dev) and libssl-dev are already present.
# Idempotent: when everything is installed it prints one line and changes nothing.
set -euo pipefail

PACKAGES=(libldap2-dev libcurl4-openssl-dev slapd ldap-utils libxml2-utils libxml2-dev)

is_installed() {
    local status
    status=$(dpkg -s "$1" 2>/dev/null || true)
    [[ $status == *"Status: install ok installed"* ]]
}

# The SMTP sink the mail tests start (from PyPI). PIP_BREAK_SYSTEM_PACKAGES lets pip install into
# Debian's own python3 (PEP 668); older pips ignore it.
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "[deps] installing aiosmtpd (PyPI)"
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet aiosmtpd
fi

# Cisco's AXL schema (from PyPI's ciscoaxl), cached once; the AXL tests validate against it.
echo "[deps] AXL schema in $(bash "$(dirname "$0")/axl-schema.sh")"

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "[deps] all packages present (${PACKAGES[*]})"
    exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "[deps] missing packages (${missing[*]}) and not root, and sudo is not available" >&2
        exit 1
    fi
fi

echo "[deps] installing: ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Installing slapd on Debian starts the system slapd service on port 389. The project starts
# its own slapd on loopback ports in tests, so stop the one the install just started
# (it was not installed before, so any running system service came from this install).
for pkg in "${missing[@]}"; do
    if [[ $pkg == slapd ]]; then
        if command -v service >/dev/null 2>&1; then
            "${as_root[@]}" service slapd stop >/dev/null 2>&1 || true
        elif [[ -x /etc/init.d/slapd ]]; then
            "${as_root[@]}" /etc/init.d/slapd stop >/dev/null 2>&1 || true
        fi
    fi
done

echo "[deps] done"
