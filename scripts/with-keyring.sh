#!/usr/bin/env bash
# Runs a command with a Secret Service (gnome-keyring) on a private D-Bus
# session bus, so that keychain tests use the real thing. If a session bus
# with org.freedesktop.secrets is already there, the command just runs.
#   scripts/with-keyring.sh go test ./store
set -euo pipefail

has_secrets() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'
}

if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && has_secrets; then
  exec "$@"
fi

if [ "${TOKEND_IN_KEYRING_SESSION:-}" != 1 ]; then
  for tool in dbus-run-session gnome-keyring-daemon; do
    command -v "$tool" >/dev/null || {
      echo "with-keyring: $tool is missing: apt-get install -y --no-install-recommends dbus gnome-keyring libsecret-tools" >&2
      exit 1
    }
  done
  export TOKEND_IN_KEYRING_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi

# Inside the private bus: a throwaway login keyring, unlocked with a
# password on stdin, in a throwaway home so the user's keyrings are untouched.
keyhome=$(mktemp -d)
trap 'kill "${kpid:-}" 2>/dev/null || true; rm -rf "$keyhome"' EXIT
export XDG_DATA_HOME="$keyhome/data" XDG_RUNTIME_DIR="$keyhome/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
eval "$(printf 'tokend-ci\n' | gnome-keyring-daemon --unlock --components=secrets)"
kpid=${GNOME_KEYRING_PID:-}
for _ in $(seq 100); do
  has_secrets && break
  sleep 0.1
done
has_secrets || { echo "with-keyring: org.freedesktop.secrets did not appear on the session bus" >&2; exit 1; }
export TOKEND_SECRET_SERVICE=1
"$@"
