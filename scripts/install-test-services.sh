#!/usr/bin/env bash
# Installs the servers some tests run for real (idempotent; safe to call on every CI run).
#   - Dovecot IMAP (Debian package dovecot-imapd), for tests/connectors/imap.
# Needs root or sudo, and apt (Debian/Ubuntu). Prints what it did.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

have_dovecot() {
  command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]
}

if have_dovecot; then
  echo "dovecot: already installed ($(PATH="$PATH:/usr/sbin" dovecot --version 2>/dev/null || echo '?'))"
else
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "dovecot: not installed and apt-get is missing; install Dovecot's IMAP server by hand" >&2
    exit 1
  fi
  echo "dovecot: installing dovecot-imapd with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null
  echo "dovecot: installed ($(PATH="$PATH:/usr/sbin" dovecot --version))"
fi
# The package may start a system-wide Dovecot on ports 143/993; the tests run
# their own private instance on a free loopback port, so that one is not needed.
