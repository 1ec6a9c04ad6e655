//! What the benchmarks read about a process from Linux's `/proc`: its CPU
//! time (user + system, all threads, from `/proc/<pid>/stat`) and its
//! resident memory (`VmRSS` in `/proc/<pid>/status`); and this process's
//! own CPU time to the nanosecond. Linux only; nothing here is used by the
//! hub itself.
//!
//! Each reader is a thin file read around a pure parser, so the parsing is
//! tested on literal lines. Callers map [`ProcfsError`] into their own
//! error: [`workshop`](super::workshop) (the hub's CPU per card) and
//! [`monitor`](super::monitor) (the hub's CPU and RSS over each phase).

use std::time::Duration;

/// The unit of the CPU times in `/proc/<pid>/stat`: USER_HZ ticks a
/// second. The kernel converts its internal clock (CONFIG_HZ) to USER_HZ
/// for user space, and USER_HZ is part of the ABI, fixed at 100 on every
/// Linux architecture (what `sysconf(_SC_CLK_TCK)` returns), so it is not
/// asked at run time.
pub const USER_HZ: u64 = 100;

/// Why a `/proc` file gave no figure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcfsError {
    /// The file could not be read.
    #[error("read {path}: {source} (has the process exited? /proc exists on Linux only)")]
    Read {
        /// The file.
        path: String,
        /// What the read said.
        source: std::io::Error,
    },
    /// The file was read but lacks the expected field.
    #[error("no {field} in {path}: not the layout this Linux reader expects")]
    Unexpected {
        /// The file.
        path: String,
        /// The field looked for.
        field: &'static str,
    },
}

/// User + system CPU time of process `pid` (this one:
/// [`std::process::id`]), all its threads.
pub fn cpu_time(pid: u32) -> Result<Duration, ProcfsError> {
    read_field(
        format!("/proc/{pid}/stat"),
        "utime and stime",
        stat_cpu_time,
    )
}

/// CPU time of this process so far, all its threads, to the nanosecond
/// (`CLOCK_PROCESS_CPUTIME_ID`: the scheduler's own accounting, not the
/// ticks of `/proc/<pid>/stat`), for spans of a few milliseconds.
pub fn own_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration;
    // the clock id is a constant the kernel always provides.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut now) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// Resident memory of process `pid`, kB.
pub fn rss_kb(pid: u32) -> Result<u64, ProcfsError> {
    read_field(format!("/proc/{pid}/status"), "VmRSS", status_vm_rss_kb)
}

/// Reads the file at `path` and takes `field` out of it with `parse`.
fn read_field<T>(
    path: String,
    field: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, ProcfsError> {
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).ok_or(ProcfsError::Unexpected { path, field }),
        Err(source) => Err(ProcfsError::Read { path, source }),
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn stat_cpu_time(stat: &str) -> Option<Duration> {
    // The command name (field 2) may hold spaces and parentheses: count
    // from after its last `)`.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(ticks(utime.checked_add(stime)?))
}

/// `n` USER_HZ ticks, exactly.
fn ticks(n: u64) -> Duration {
    const NANOS_PER_TICK: u64 = 1_000_000_000 / USER_HZ;
    Duration::from_secs(n / USER_HZ) + Duration::from_nanos(n % USER_HZ * NANOS_PER_TICK)
}

/// The `VmRSS:` line's figure (kB) of a `/proc/<pid>/status` text.
fn status_vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_after_a_command_name_with_spaces() {
        let stat = "4242 (cardhub (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(stat_cpu_time(stat), Some(Duration::from_millis(3_250)));
        let plain = "7 (cardhub) R 1 7 7 0 -1 0 0 0 0 0 1 0 0 0 20 0 1 0";
        assert_eq!(stat_cpu_time(plain), Some(Duration::from_millis(10)));
    }

    #[test]
    fn a_stat_line_without_its_cpu_fields_gives_nothing() {
        assert_eq!(stat_cpu_time("4242 cardhub S 1 4242"), None);
        assert_eq!(stat_cpu_time("4242 (cardhub) S 1 4242 4242 0 -1"), None);
        assert_eq!(
            stat_cpu_time("4242 (cardhub) S 1 4242 4242 0 -1 4194560 900 0 0 0 x 75 0"),
            None
        );
    }

    #[test]
    fn ticks_are_hundredths_of_a_second_exactly() {
        assert_eq!(ticks(0), Duration::ZERO);
        assert_eq!(ticks(1), Duration::from_millis(10));
        assert_eq!(ticks(12_345), Duration::from_millis(123_450));
    }

    #[test]
    fn vm_rss_is_read_from_its_line() {
        assert_eq!(
            status_vm_rss_kb("Name:\tcardhub\nVmRSS:\t   51200 kB\n"),
            Some(51_200)
        );
        assert_eq!(status_vm_rss_kb("Name:\tkthreadd\nThreads:\t1\n"), None);
    }

    #[test]
    fn this_process_has_memory_and_its_cpu_time_grows_while_it_works() {
        let me = std::process::id();
        assert!(rss_kb(me).unwrap() > 0);
        let start = cpu_time(me).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut spin = 0u64;
        while cpu_time(me).unwrap() == start && std::time::Instant::now() < deadline {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        assert!(cpu_time(me).unwrap() > start);
    }

    #[test]
    fn a_process_that_does_not_exist_is_a_read_error() {
        // Above the largest pid Linux hands out (2^22).
        let err = cpu_time(u32::MAX).unwrap_err();
        assert!(matches!(err, ProcfsError::Read { .. }), "{err}");
        assert!(err.to_string().contains("/proc/4294967295/stat"));
    }
}
