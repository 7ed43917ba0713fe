#!/usr/bin/env bash
# Builds `peer-uws`: an echo server on uWebSockets v20, the reference
# peer, which is not on crates.io. uWebSockets is not fetched from GitHub
# (no internet here but the package registries): its C API comes prebuilt in
# socketify's PyPI source archive (libsocketify_linux_amd64.so: uWebSockets 20
# + uSockets on a libuv event loop), pinned by version and SHA-256 below.
# `echo.c` calls that C API directly: no Python at run time.
#
#   bash bench/peers/uws/build.sh [OUT_DIR]   # default: $CARGO_TARGET_DIR/release
#
# Puts peer-uws and the library beside it in OUT_DIR (the binary finds the
# library through its rpath). Installs libuv1 with apt when it is missing.
# Exits 2 (with a message) where the prebuilt library cannot run: not Linux
# x86-64. See docs/benchmarks.md ("The peers") for what this build is and is not.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../../.."
out="${1:-${CARGO_TARGET_DIR:-$root/target}/release}"
version=0.0.31
sha256=7502bed5b382e75f04ea3c6d6b53b76f27bb8653740db92e3f2b55fab388df20
lib=libsocketify_linux_amd64.so

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  echo "peer-uws: the prebuilt uWebSockets library is for Linux x86-64 only" >&2
  exit 2
fi
mkdir -p "$out"
if [ -x "$out/peer-uws" ] && [ -f "$out/$lib" ] && [ "$out/peer-uws" -nt "$here/echo.c" ]; then
  exit 0
fi
if ! ldconfig -p | grep -q 'libuv\.so\.1 '; then
  echo "peer-uws: installing libuv1" >&2
  apt-get update -qq && apt-get install -y -qq libuv1 >/dev/null
fi
command -v cc >/dev/null || { apt-get update -qq && apt-get install -y -qq gcc >/dev/null; }

cache="${XDG_CACHE_HOME:-$HOME/.cache}/ringws/socketify-$version"
archive="$cache/socketify-$version.tar.gz"
if ! echo "$sha256  $archive" | sha256sum -c --status 2>/dev/null; then
  mkdir -p "$cache"
  python3 -m pip download --quiet --no-deps --no-binary :all: \
    "socketify==$version" -d "$cache" >&2
fi
echo "$sha256  $archive" | sha256sum -c --status || {
  echo "peer-uws: $archive does not match the pinned SHA-256" >&2
  exit 1
}
tar -xzf "$archive" -C "$cache" "socketify-$version/src/socketify/$lib"
cp "$cache/socketify-$version/src/socketify/$lib" "$out/$lib"
cc -O2 -Wall -Wextra -o "$out/peer-uws" "$here/echo.c" \
  -L"$out" -l:"$lib" -Wl,-rpath,'$ORIGIN'
echo "peer-uws: built $out/peer-uws (uWebSockets 20 via socketify $version)" >&2
