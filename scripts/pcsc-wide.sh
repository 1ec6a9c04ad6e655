#!/usr/bin/env bash
# pcsc-wide.sh: builds pcsc-lite (the same upstream version as Debian's
# pcscd) with room for 128 readers instead of 16, for runs that need more
# readers than Debian's pcscd serves: the workshop benchmark with 100
# printers, each with a contact encoder.
#
# usage: scripts/pcsc-wide.sh build|env|run COMMAND...
#   build   fetch Debian's source tarball of the installed pcsc-lite, raise
#           PCSCLITE_MAX_READERS_CONTEXTS to 128, build and install it under
#           /opt/cardhub-pcsc-wide, or CARDHUB_PCSC_WIDE_PREFIX (done once;
#           later calls return at once).
#   env     print the environment that runs the rig on it (for eval).
#   run     build if needed, start the rig on it with CARDHUB_PCSC_RIG_ENTRIES
#           entries (default 50: 100 readers), run COMMAND in that
#           environment, then put the standard rig back (16 readers on
#           Debian's pcscd) whatever COMMAND did.
#
# Why a build: pcsc-lite keeps its readers in a fixed array of
# PCSCLITE_MAX_READERS_CONTEXTS (16) entries, a compile-time constant its
# maintainer calls historical; sites with more readers rebuild it. The
# constant is part of the protocol between libpcsclite and pcscd (the
# reader-state array travels whole), so the clients of a wide pcscd load the
# wide libpcsclite: `run` sets LD_LIBRARY_PATH for COMMAND. While the wide
# pcscd runs, programs on Debian's libpcsclite cannot use PC/SC: do not run
# the test suite meanwhile.
#
# Needs: curl, gcc, make, flex (installed with apt-get when missing).
set -euo pipefail

what=${1:-}
prefix=${CARDHUB_PCSC_WIDE_PREFIX:-/opt/cardhub-pcsc-wide}
readers=128
src_dir=/tmp/cardhub-pcsc-wide-src
here=$(cd "$(dirname "$0")" && pwd)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

# The upstream version of the installed pcsc-lite (1.9.9-2 -> 1.9.9).
version() {
  local v
  v=$(dpkg-query -W -f '${Version}' pcscd 2>/dev/null || true)
  if [ -z "$v" ]; then
    echo "pcsc-wide: Debian's pcscd is not installed: run scripts/ensure-packages.sh test" >&2
    exit 1
  fi
  v=${v#*:}
  echo "${v%-*}"
}

built() {
  [ -x "$prefix/sbin/pcscd" ] && [ -f "$prefix/lib/libpcsclite.so.1" ] &&
    grep -q "PCSCLITE_MAX_READERS_CONTEXTS[[:space:]]*$readers\$" \
      "$prefix/include/PCSC/pcsclite.h" 2>/dev/null
}

build() {
  local v tarball missing=()
  if built; then
    return 0
  fi
  v=$(version)
  for tool in curl gcc make flex; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "pcsc-wide: installing ${missing[*]}"
    as_root apt-get install -y --no-install-recommends "${missing[@]}"
  fi
  tarball=pcsc-lite_$v.orig.tar.bz2
  mkdir -p "$src_dir"
  if ! [ -f "$src_dir/$tarball" ]; then
    echo "pcsc-wide: fetching $tarball from deb.debian.org"
    curl -sSf --retry 3 -o "$src_dir/$tarball.part" \
      "https://deb.debian.org/debian/pool/main/p/pcsc-lite/$tarball"
    mv -f "$src_dir/$tarball.part" "$src_dir/$tarball"
  fi
  rm -rf "$src_dir/pcsc-lite-$v"
  tar -xjf "$src_dir/$tarball" -C "$src_dir"
  cd "$src_dir/pcsc-lite-$v"
  if ! grep -q "^#define PCSCLITE_MAX_READERS_CONTEXTS[[:space:]]*16\$" src/PCSC/pcsclite.h.in; then
    echo "pcsc-wide: pcsc-lite $v does not define PCSCLITE_MAX_READERS_CONTEXTS as 16 where expected;" \
      "look at src/PCSC/pcsclite.h.in in $src_dir" >&2
    exit 1
  fi
  sed -i "s/^\(#define PCSCLITE_MAX_READERS_CONTEXTS[[:space:]]*\)16\$/\1$readers/" src/PCSC/pcsclite.h.in
  echo "pcsc-wide: building pcsc-lite $v with $readers readers (log $src_dir/build.log)"
  # Same socket and driver directories as Debian's, no udev/USB hot-plug:
  # the rig's readers all come from its reader.conf.
  if ! {
    ./configure --prefix="$prefix" --enable-ipcdir=/run/pcscd \
      --enable-usbdropdir=/usr/lib/pcsc/drivers --disable-libudev --disable-usb \
      --disable-libsystemd --disable-polkit --disable-documentation &&
      make -j"$(nproc)" && as_root make install
  } >"$src_dir/build.log" 2>&1; then
    echo "pcsc-wide: the build failed; end of $src_dir/build.log:" >&2
    tail -n 20 "$src_dir/build.log" >&2
    exit 1
  fi
  built
}

print_env() {
  echo "CARDHUB_PCSCD=$prefix/sbin/pcscd"
  echo "LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "CARDHUB_PCSC_RIG_ENTRIES=${CARDHUB_PCSC_RIG_ENTRIES:-50}"
}

case "$what" in
  build)
    build
    echo "pcsc-wide: $prefix/sbin/pcscd serves up to $readers readers"
    ;;
  env)
    built || {
      echo "pcsc-wide: not built yet: run scripts/pcsc-wide.sh build" >&2
      exit 1
    }
    print_env | sed 's/^/export /'
    ;;
  run)
    shift
    if [ "$#" -eq 0 ]; then
      echo "usage: scripts/pcsc-wide.sh run COMMAND..." >&2
      exit 2
    fi
    build
    # The standard rig comes back however COMMAND ends (this shell's own
    # environment never had the wide one's variables).
    trap 'echo "pcsc-wide: putting the standard rig back"; "$here/pcsc-rig.sh" start' EXIT
    status=0
    (
      while IFS= read -r line; do
        export "${line?}"
      done < <(print_env)
      "$here/pcsc-rig.sh" start
      "$@"
    ) || status=$?
    exit "$status"
    ;;
  *)
    echo "usage: scripts/pcsc-wide.sh build|env|run COMMAND..." >&2
    exit 2
    ;;
esac
