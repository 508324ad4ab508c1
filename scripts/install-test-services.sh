#!/usr/bin/env bash
# Installs the servers some tests run for real (idempotent; safe to call on every CI run).
#   - Dovecot IMAP (Debian package dovecot-imapd), for tests/connectors/imap.
#   - Chromium (Debian package chromium), for the dashboard's browser tests (tests/browser);
#     Playwright drives it directly, so no browser is downloaded.
# Needs root or sudo, and apt (Debian/Ubuntu). Prints what it did.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$1: not installed and apt-get is missing; install it by hand" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  shift
  as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_dovecot() {
  command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]
}

if have_dovecot; then
  echo "dovecot: already installed ($(PATH="$PATH:/usr/sbin" dovecot --version 2>/dev/null || echo '?'))"
else
  echo "dovecot: installing dovecot-imapd with apt-get"
  apt_install dovecot dovecot-imapd
  echo "dovecot: installed ($(PATH="$PATH:/usr/sbin" dovecot --version))"
fi
# The package may start a system-wide Dovecot on ports 143/993; the tests run
# their own private instance on a free loopback port, so that one is not needed.

if [ -x /usr/bin/chromium ]; then
  echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null | head -1 || echo '?'))"
else
  echo "chromium: installing chromium with apt-get"
  # fonts-dejavu-core: headless pages and the README screenshot need a real font.
  apt_install chromium chromium fonts-dejavu-core
  echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null | head -1))"
fi
