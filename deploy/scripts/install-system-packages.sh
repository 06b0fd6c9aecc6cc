#!/usr/bin/env bash
# Installs the Debian packages the test suite runs for real (make system-packages; make test runs it).
#
# Idempotent and fast when everything is there: each package is checked by the commands it
# provides, and apt-get runs only for the missing ones. As root it installs directly, otherwise
# through sudo when sudo works without a prompt; failing both, it says what to install and
# exits non-zero.
set -euo pipefail

# One entry per Debian package: "package: command command ...", the commands that prove it is
# installed. Add a package by adding a line.
REQUIRED=(
  "prometheus: prometheus promtool"           # the e2e scrape test and the alert rule tests
  "chromium: chromium"                        # pages rendered in a real headless browser
  "chromium-driver: chromedriver"             # Selenium's driver for that browser
  "npm: npm"                                  # fetches the console's browser assets (make console-assets)
  "dovecot-imapd: dovecot doveadm"            # a real IMAP server for intake's IMAP fetching tests
  # "prometheus-alertmanager: prometheus-alertmanager amtool"
)

say() { echo "[system-packages] $*" >&2; }

has_command() {
  # /usr/sbin and /usr/bin first: some packages put their binaries outside a non-root PATH
  PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH}" command -v "$1" >/dev/null 2>&1
}

missing=()
for entry in "${REQUIRED[@]}"; do
  package="${entry%%:*}"
  read -r -a commands <<<"${entry#*:}"
  absent=()
  for command in "${commands[@]}"; do
    has_command "${command}" || absent+=("${command}")
  done
  if ((${#absent[@]} == 0)); then
    say "${package}: present (${commands[*]})"
  else
    say "${package}: missing (${absent[*]})"
    missing+=("${package}")
  fi
done

if ((${#missing[@]} == 0)); then
  say "all system packages present"
  exit 0
fi

explain() {
  say "$1"
  say "install them yourself, then run make again:"
  say "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  exit 1
}

if ! has_command apt-get; then
  explain "no apt-get on this machine (the packages are Debian's: ${missing[*]})"
fi

as_root=()
if ((EUID != 0)); then
  if has_command sudo && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    explain "not root, and sudo is unavailable or asks for a password"
  fi
fi

say "installing ${missing[*]} (apt-get update first; this takes a minute)"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for entry in "${REQUIRED[@]}"; do
  package="${entry%%:*}"
  read -r -a commands <<<"${entry#*:}"
  for command in "${commands[@]}"; do
    has_command "${command}" || explain "${package} was installed but ${command} is still missing"
  done
done
say "installed ${missing[*]}"
