#!/usr/bin/env bash
# pcsc-rig.sh: a real PC/SC stack whose readers are vpcd virtual readers, for
# tests (and for poking by hand with pcsc_scan or opensc-tool).
#
# usage: scripts/pcsc-rig.sh start|stop|status|conf
#   start   write the reader.conf, (re)start pcscd on it unless it already
#           runs on exactly that file, wait until the readers are up.
#           Idempotent and safe to call from several processes at once.
#   stop    stop every pcscd on this machine (the client socket
#           /run/pcscd/pcscd.comm is machine-wide: one pcscd serves all).
#   status  say whether pcscd runs on the rig's reader.conf (exit 0) or not
#           (exit 3), and print the port -> reader name table.
#   conf    write the reader.conf and print it.
#
# Environment:
#   CARDHUB_PCSC_RIG_ENTRIES  vpcd entries in the reader.conf (default 8; each
#                             entry gives two readers, so 16 by default).
#   CARDHUB_PCSCD             the pcscd to run (default: Debian's). Debian's
#                             pcsc-lite serves at most 16 readers (a
#                             compile-time limit); scripts/pcsc-wide.sh builds
#                             one that serves 128, for more entries. Its
#                             clients need its libpcsclite (LD_LIBRARY_PATH):
#                             the limit is part of the client protocol.
#
# Files live in /tmp/cardhub-pcsc-rig/ (machine-wide, like pcscd itself):
#   reader.conf   the private reader.conf given to `pcscd -c`
#   drivers/      one copy of the vpcd driver per entry (see below)
#   pcscd.log     pcscd's --info log of the current run
#   port-P.lock   the per-reader lease locks taken by
#                 cardhub_devices::rig::ReaderLease (not by this script)
#
# Reader naming (checked against pcsc-lite 1.9.9 with vsmartcard-vpcd 3.3):
# entry k (k = 0..N-1) has port P = 35963 + 2k and FRIENDLYNAME
# "cardhub vpcd P"; pcscd appends " <reader> <slot>" in hex, and vpcd's two
# slots listen on P and P+1. So a test's simulated card connects to
#
#   127.0.0.1:P     -> the card appears in reader "cardhub vpcd P 00 00"
#   127.0.0.1:P+1   -> the card appears in reader "cardhub vpcd P 00 01"
#
# i.e. reader index i (0..2N-1) <-> card port 35963 + i, and
# cardhub_devices::reader::vpcd_reader_name(i) gives the name.
#
# Two things the obvious reader.conf gets wrong, both seen on this stack:
# - The friendly name carries the port because pcscd 1.9.9 names every entry
#   with the same FRIENDLYNAME "... 00 00"/"... 00 01" alike.
# - Each entry loads its own copy of the driver (drivers/libifdvpcd-P.so):
#   vpcd keeps its slots in one static array indexed by slot number, and
#   pcscd loads a LIBPATH once for all entries naming it, so with a shared
#   LIBPATH every entry would drive the last entry's sockets and the other
#   ports would never accept a card.
set -euo pipefail

what=${1:-status}
entries=${CARDHUB_PCSC_RIG_ENTRIES:-8}
first_port=35963
rig_dir=/tmp/cardhub-pcsc-rig
conf=$rig_dir/reader.conf
log=$rig_dir/pcscd.log
script_lock=$rig_dir/rig.lock
driver=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
pcscd_bin=${CARDHUB_PCSCD:-$(command -v pcscd 2>/dev/null || echo /usr/sbin/pcscd)}
socket=/run/pcscd/pcscd.comm
pidfile=/run/pcscd/pcscd.pid
# Seconds to wait for pcscd to stop, then to come up with all its readers.
stop_wait_s=5
start_wait_s=15

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

conf_text() {
  local k port
  echo "# cardhub PC/SC test rig, written by scripts/pcsc-rig.sh: $entries vpcd entries."
  for ((k = 0; k < entries; k++)); do
    port=$((first_port + 2 * k))
    printf '\n# card ports %d (reader "cardhub vpcd %d 00 00") and %d (reader "cardhub vpcd %d 00 01")\n' \
      "$port" "$port" $((port + 1)) "$port"
    printf 'FRIENDLYNAME "cardhub vpcd %d"\nDEVICENAME /dev/null:%d\nLIBPATH %s\nCHANNELID %d\n' \
      "$port" "$port" "$(driver_copy "$port")" "$port"
  done
}

# The private copy of the vpcd driver for the entry with port $1.
driver_copy() {
  echo "$rig_dir/drivers/libifdvpcd-$1.so"
}

write_drivers() {
  local k copy
  mkdir -p "$rig_dir/drivers"
  for ((k = 0; k < entries; k++)); do
    copy=$(driver_copy $((first_port + 2 * k)))
    if ! cmp -s "$driver" "$copy"; then
      # A new file moved into place: a running pcscd keeps its mapping of
      # the old one intact.
      cp -f "$driver" "$copy.new"
      chmod 644 "$copy.new"
      mv -f "$copy.new" "$copy"
    fi
  done
}

write_conf() {
  mkdir -p "$rig_dir"
  write_drivers
  local tmp
  tmp=$(mktemp "$rig_dir/reader.conf.XXXXXX")
  conf_text >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$conf"
}

# PIDs of every live pcscd on the machine (there is at most one client
# socket). Read from /proc so the rig needs no procps; zombies (a killed
# pcscd whose parent has not reaped it) do not count.
pcscd_pids() {
  local d
  for d in /proc/[0-9]*; do
    if [ "$(cat "$d/comm" 2>/dev/null)" = pcscd ] &&
      ! grep -q '^State:[[:space:]]*Z' "$d/status" 2>/dev/null; then
      echo "${d#/proc/}"
    fi
  done
}

# True when $pcscd_bin runs with `-c $conf`, its socket exists and $conf
# holds what this script would write now.
ours_running() {
  local pid cmdline k bin exe
  [ -S "$socket" ] || return 1
  [ -f "$conf" ] || return 1
  [ "$(cat "$conf")" = "$(conf_text)" ] || return 1
  for ((k = 0; k < entries; k++)); do
    cmp -s "$driver" "$(driver_copy $((first_port + 2 * k)))" || return 1
  done
  bin=$(readlink -f "$pcscd_bin")
  for pid in $(pcscd_pids); do
    # Another user's pcscd hides its binary: then the command line decides.
    exe=$(readlink -f "/proc/$pid/exe" 2>/dev/null || true)
    [ -z "$exe" ] || [ "$exe" = "$bin" ] || continue
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    case " $cmdline " in
      *" -c $conf "*) return 0 ;;
    esac
  done
  return 1
}

stop_pcscd() {
  local pids pid waited
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet pcscd.socket 2>/dev/null; then
    echo "pcsc-rig: stopping the system pcscd.socket so it does not restart pcscd"
    as_root systemctl stop pcscd.socket pcscd.service
  fi
  pids=$(pcscd_pids)
  [ -n "$pids" ] || return 0
  echo "pcsc-rig: stopping pcscd (pid $(echo $pids))"
  for pid in $pids; do
    as_root kill -TERM "$pid" 2>/dev/null || true
  done
  for ((waited = 0; waited < stop_wait_s * 10; waited++)); do
    [ -n "$(pcscd_pids)" ] || break
    sleep 0.1
  done
  pids=$(pcscd_pids)
  if [ -n "$pids" ]; then
    echo "pcsc-rig: pcscd did not stop in ${stop_wait_s}s, killing it"
    for pid in $pids; do
      as_root kill -KILL "$pid" 2>/dev/null || true
    done
    as_root rm -f "$socket" "$pidfile"
  fi
}

# True once pcscd logged "daemon ready" and every vpcd slot listens on its port.
rig_ready() {
  local k port
  [ -S "$socket" ] || return 1
  grep -q "daemon ready" "$log" 2>/dev/null || return 1
  for ((k = 0; k < 2 * entries; k++)); do
    port=$((first_port + k))
    grep -q "Waiting for virtual ICC on port $port\$" "$log" || return 1
  done
}

start_pcscd() {
  local waited
  if ! [ -x "$pcscd_bin" ]; then
    echo "pcsc-rig: pcscd ($pcscd_bin) is not installed: run scripts/ensure-packages.sh test" >&2
    exit 1
  fi
  if ! [ -f "$driver" ]; then
    echo "pcsc-rig: the vpcd driver $driver is missing: run scripts/ensure-packages.sh test" >&2
    exit 1
  fi
  echo "pcsc-rig: starting $pcscd_bin on $conf ($((2 * entries)) readers), log $log"
  : >"$log"
  # setsid: pcscd outlives the caller's process group. It inherits no file
  # descriptor but the log: not the lock on rig.lock (fd 9), nor a pipe of
  # whoever called us (a caller reading our output would wait for pcscd).
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then
        eval "exec $fd>&-"
      fi
    done
    exec </dev/null >>"$log" 2>&1
    if [ "$(id -u)" -eq 0 ]; then
      exec setsid "$pcscd_bin" --foreground --info -c "$conf"
    else
      exec sudo setsid "$pcscd_bin" --foreground --info -c "$conf"
    fi
  ) &
  for ((waited = 0; waited < start_wait_s * 10; waited++)); do
    if rig_ready; then
      echo "pcsc-rig: pcscd is up with $((2 * entries)) vpcd readers"
      return 0
    fi
    if [ -z "$(pcscd_pids)" ] && [ "$waited" -gt 10 ]; then
      break
    fi
    sleep 0.1
  done
  echo "pcsc-rig: pcscd did not come up with its readers in ${start_wait_s}s; end of $log:" >&2
  tail -n 20 "$log" >&2 || true
  exit 1
}

print_table() {
  local k port
  echo "card port -> reader name"
  for ((k = 0; k < entries; k++)); do
    port=$((first_port + 2 * k))
    echo "  $port -> cardhub vpcd $port 00 00"
    echo "  $((port + 1)) -> cardhub vpcd $port 00 01"
  done
}

case "$what" in
  start)
    if [ -z "${CARDHUB_PCSCD:-}" ] && [ "$entries" -gt 8 ]; then
      echo "pcsc-rig: $entries entries are $((2 * entries)) readers; Debian's pcscd serves 16:" \
        "run through scripts/pcsc-wide.sh run, or set CARDHUB_PCSCD to a pcscd built for more" >&2
      exit 1
    fi
    mkdir -p "$rig_dir"
    exec 9>"$script_lock"
    flock 9
    if ours_running; then
      exit 0
    fi
    stop_pcscd
    write_conf
    start_pcscd
    ;;
  stop)
    mkdir -p "$rig_dir"
    exec 9>"$script_lock"
    flock 9
    stop_pcscd
    ;;
  status)
    if ours_running; then
      echo "pcsc-rig: pcscd runs on $conf (pid $(echo $(pcscd_pids))), log $log"
      print_table
    elif [ -n "$(pcscd_pids)" ]; then
      echo "pcsc-rig: a pcscd runs, but not on the rig's reader.conf: scripts/pcsc-rig.sh start replaces it"
      exit 3
    else
      echo "pcsc-rig: pcscd is not running: scripts/pcsc-rig.sh start starts it"
      exit 3
    fi
    ;;
  conf)
    write_conf
    echo "# $conf"
    cat "$conf"
    ;;
  *)
    echo "usage: scripts/pcsc-rig.sh start|stop|status|conf" >&2
    exit 2
    ;;
esac
