#!/usr/bin/env bash
# Fetches the console's browser assets (services/console/assets.txt) from the npm registry with
# `npm pack`, checks each package's sha512 against the pin, and copies the named files into
# services/console/src/tierline_console/static/vendor/. Idempotent: when the folder already holds
# the files of this very assets.txt it returns at once, without the network.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pins="${root}/services/console/assets.txt"
vendor="${root}/services/console/src/tierline_console/static/vendor"
stamp="${vendor}/.assets.txt"

say() { echo "[console-assets] $*" >&2; }

entries() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$pins"; }

up_to_date() {
  [[ -f "$stamp" ]] && cmp -s "$stamp" "$pins" || return 1
  local spec file served integrity
  while read -r spec file served integrity; do
    [[ -s "${vendor}/${served}" ]] || return 1
  done < <(entries)
}

if up_to_date; then
  touch "$stamp"  # for make: the stamp is as new as the pins it matches
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  say "npm is needed to fetch the console's browser assets: install it (Debian: apt-get install npm)"
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "${work}/files"
while read -r spec file served integrity; do
  say "fetching ${spec} (${file})"
  tarball="$(cd "$work" && npm pack --silent --pack-destination "$work" "$spec" | tail -n 1)"
  expected="${integrity#sha512-}"
  actual="$(openssl dgst -sha512 -binary "${work}/${tarball}" | base64 -w0)"
  if [[ "$actual" != "$expected" ]]; then
    say "${spec}: the registry's package does not match the sha512 pinned in assets.txt; nothing copied"
    exit 1
  fi
  tar -xzf "${work}/${tarball}" -C "$work" "package/${file}"
  mv "${work}/package/${file}" "${work}/files/${served}"
  rm -rf "${work}/package"
done < <(entries)

mkdir -p "$vendor"
cp "${work}"/files/* "$vendor"/
cp "$pins" "$stamp"
say "browser assets in ${vendor#"${root}"/}"
