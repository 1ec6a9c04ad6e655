//! The figures of `cardhub bench monitor` and the report it prints: the
//! latency histogram and its percentiles, the least-squares slope that
//! judges the hub's memory, each phase's figures, and the table.
//!
//! Neighbours: the screens that record latencies are [`super::screens`];
//! the driver that samples the processes and builds the report is
//! [`super`] (`mod.rs`).

use std::fmt;
use std::time::Duration;

use super::screens::{DRAIN, ScreenReport, StalledOutcome};
use super::{MonitorBenchOptions, PHASE_NAMES};
use crate::bench::hub::ProcessFigures;

/// Latencies are counted in 1 ms buckets up to this; longer ones share
/// the last bucket (the exact maximum is kept beside it).
const HISTOGRAM_LIMIT_MS: u64 = 10_000;

/// The goal for the 99th percentile, tick included.
const GOAL_P99_MS: u64 = 250;

/// Memory is "flat" below this slope over the second half of a phase. The
/// bus retains a fixed number of changes and bounds every screen's queue,
/// so once warm the hub holds nothing that grows with time; any per-change
/// leak at thousands of changes a second (a few bytes each) would exceed
/// 1 MB a minute, while the allocator's noise over a minute of one-second
/// samples stays well under it. The second half, because a stalled
/// screen's bounded queue fills in its first seconds (a step, by design:
/// `[monitor] queue_frames` ticks at most); a leak goes on after that. The
/// whole phase's slope is printed too.
const FLAT_MB_PER_MIN: f64 = 1.0;

/// The report lists the hub's RSS every this many samples (seconds).
const RSS_PRINT_EVERY: usize = 5;

/// Latencies in 1 ms buckets.
#[derive(Clone, Debug)]
pub(super) struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max_ms: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; HISTOGRAM_LIMIT_MS as usize + 1],
            count: 0,
            max_ms: 0,
        }
    }
}

impl Histogram {
    pub(super) fn record(&mut self, ms: u64) {
        self.buckets[ms.min(HISTOGRAM_LIMIT_MS) as usize] += 1;
        self.count += 1;
        self.max_ms = self.max_ms.max(ms);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.max_ms = self.max_ms.max(other.max_ms);
    }

    /// The smallest latency (ms) that a share `q` of the recorded ones do
    /// not exceed; `None` when empty. In the last bucket: the maximum.
    fn percentile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (ms, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(if ms as u64 == HISTOGRAM_LIMIT_MS {
                    self.max_ms
                } else {
                    ms as u64
                });
            }
        }
        Some(self.max_ms)
    }
}

/// Least-squares slope of y over x; `None` without two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (points.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

impl ProcessFigures {
    fn rss_mb(&self) -> impl Iterator<Item = f64> + '_ {
        self.rss_kb.iter().map(|&(_, kb)| kb as f64 / 1024.0)
    }

    /// MB per minute, least squares over the samples from `from` (a share
    /// of the phase: 0.0 all of it, 0.5 its second half).
    fn rss_slope(&self, from: f64) -> f64 {
        let start = self.elapsed.as_secs_f64() * from;
        let points: Vec<(f64, f64)> = self
            .rss_kb
            .iter()
            .filter(|&&(t, _)| t >= start)
            .map(|&(t, kb)| (t, kb as f64 / 1024.0))
            .collect();
        slope(&points).unwrap_or(0.0) * 60.0
    }
}

/// One phase's figures.
#[derive(Clone, Debug)]
pub struct PhaseFigures {
    /// A or B.
    name: &'static str,
    latency: Histogram,
    /// Each reading screen's p99 (screens that received changes).
    screen_p99: Vec<u64>,
    frames: u64,
    resyncs: u32,
    /// Reading screens whose connection ended, and why (the first).
    ended: (usize, Option<String>),
    process: ProcessFigures,
}

impl PhaseFigures {
    pub(super) fn new(i: usize, screens: &[ScreenReport], process: ProcessFigures) -> Self {
        let mut latency = Histogram::default();
        let mut screen_p99 = Vec::new();
        let (mut frames, mut resyncs, mut ended) = (0, 0, (0, None));
        for s in screens.iter().map(|s| &s.phases[i]) {
            latency.merge(&s.latency);
            screen_p99.extend(s.latency.percentile(0.99));
            frames += s.frames;
            resyncs += s.resyncs;
            if let Some(why) = &s.ended {
                ended.0 += 1;
                ended.1.get_or_insert_with(|| why.clone());
            }
        }
        screen_p99.sort_unstable();
        Self {
            name: PHASE_NAMES[i],
            latency,
            screen_p99,
            frames,
            resyncs,
            ended,
            process,
        }
    }

    fn p99(&self) -> Option<u64> {
        self.latency.percentile(0.99)
    }
}

/// What the benchmark prints.
#[derive(Clone, Debug)]
pub struct MonitorBenchReport {
    pub(super) options: MonitorBenchOptions,
    /// From the screens' first snapshots to phase A.
    pub(super) warm_up: Duration,
    pub(super) phases: Vec<PhaseFigures>,
    pub(super) stalled: Vec<StalledOutcome>,
    pub(super) hub_log: String,
}

fn ms(v: Option<u64>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}

impl fmt::Display for MonitorBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "monitor: {} simulated devices, {} changes/s, tick {} ms, {} reading screens; phase B adds {} stalled; {} s a phase, one hub, after {:.0} s of warm-up",
            o.devices,
            o.rate,
            o.tick_ms,
            o.screens,
            o.stalled,
            o.seconds,
            self.warm_up.as_secs_f64()
        )?;
        write!(f, "| figure |")?;
        for p in &self.phases {
            write!(f, " phase {} |", p.name)?;
        }
        writeln!(f, "\n| --- |{}", " --- |".repeat(self.phases.len()))?;
        let row =
            |f: &mut fmt::Formatter<'_>, name: &str, cell: &dyn Fn(&PhaseFigures) -> String| {
                write!(f, "| {name} |")?;
                for p in &self.phases {
                    write!(f, " {} |", cell(p))?;
                }
                writeln!(f)
            };
        row(
            f,
            "change-to-screen latency p50 / p90 / p99 / max (ms)",
            &|p| {
                let l = &p.latency;
                format!(
                    "{} / {} / {} / {}",
                    ms(l.percentile(0.5)),
                    ms(l.percentile(0.9)),
                    ms(p.p99()),
                    l.max_ms
                )
            },
        )?;
        let secs = |p: &PhaseFigures| p.process.elapsed.as_secs_f64();
        row(f, "changes received / s, all reading screens", &|p| {
            format!("{:.0}", p.latency.count as f64 / secs(p))
        })?;
        row(f, "changes received / s, per reading screen", &|p| {
            format!("{:.0}", p.latency.count as f64 / secs(p) / o.screens as f64)
        })?;
        row(f, "deltas frames / s, per reading screen", &|p| {
            format!("{:.1}", p.frames as f64 / secs(p) / o.screens as f64)
        })?;
        row(
            f,
            "per-screen p99 min / median / max (ms)",
            &|p| match p.screen_p99.as_slice() {
                [] => "-".into(),
                s => format!("{} / {} / {}", s[0], s[s.len() / 2], s[s.len() - 1]),
            },
        )?;
        row(f, "reading screens with no changes", &|p| {
            (o.screens - p.screen_p99.len()).to_string()
        })?;
        row(f, "resync snapshots, reading screens", &|p| {
            p.resyncs.to_string()
        })?;
        row(f, "reading screens disconnected", &|p| match &p.ended {
            (0, _) => "0".into(),
            (n, why) => format!("{n} ({})", why.as_deref().unwrap_or("?")),
        })?;
        row(f, "hub CPU (% of one core)", &|p| {
            format!("{:.0}%", p.process.hub_cpu_pct)
        })?;
        row(f, "hub RSS start / end / max (MB)", &|p| {
            let mb: Vec<f64> = p.process.rss_mb().collect();
            let max = mb.iter().copied().fold(0.0, f64::max);
            format!("{:.1} / {:.1} / {:.1}", mb[0], mb[mb.len() - 1], max)
        })?;
        row(
            f,
            "hub RSS slope, whole phase / second half (MB / min)",
            &|p| {
                format!(
                    "{:+.2} / {:+.2}",
                    p.process.rss_slope(0.0),
                    p.process.rss_slope(0.5)
                )
            },
        )?;
        row(f, "this benchmark's CPU (% of one core)", &|p| {
            format!("{:.0}%", p.process.bench_cpu_pct)
        })?;
        if let [a, b] = self.phases.as_slice()
            && let (Some(pa), Some(pb)) = (a.p99(), b.p99())
        {
            writeln!(
                f,
                "phase B p99 / phase A p99: {:.2}",
                pb as f64 / pa.max(1) as f64
            )?;
        }
        for p in &self.phases {
            let every: Vec<String> = p
                .process
                .rss_mb()
                .step_by(RSS_PRINT_EVERY)
                .map(|mb| format!("{mb:.1}"))
                .collect();
            writeln!(
                f,
                "hub RSS in phase {}, every {RSS_PRINT_EVERY} s (MB): {}",
                p.name,
                every.join(" ")
            )?;
        }
        // Stalled screens that fared alike share a line.
        let mut alike: std::collections::BTreeMap<(String, &str), (usize, u64, u64)> =
            std::collections::BTreeMap::new();
        for s in &self.stalled {
            let key = (
                s.snapshots.join(", "),
                s.ended.as_deref().unwrap_or("still open"),
            );
            let e = alike.entry(key).or_insert((0, u64::MAX, 0));
            *e = (e.0 + 1, e.1.min(s.frames), e.2.max(s.frames));
        }
        for ((snapshots, ended), (n, least, most)) in alike {
            writeln!(
                f,
                "{n} stalled screen(s), reading again after phase B for {} s: {least} to {most} frames each, snapshots [{snapshots}], {ended}",
                DRAIN.as_secs(),
            )?;
        }
        for p in &self.phases {
            let met = |ok: bool| if ok { "met" } else { "NOT met" };
            writeln!(
                f,
                "goal, phase {}: p99 < {GOAL_P99_MS} ms: {} ({} ms); memory flat (|slope over the second half| < {FLAT_MB_PER_MIN} MB/min): {} ({:+.2} MB/min)",
                p.name,
                met(p.p99().is_some_and(|v| v < GOAL_P99_MS)),
                ms(p.p99()),
                met(p.process.rss_slope(0.5).abs() < FLAT_MB_PER_MIN),
                p.process.rss_slope(0.5)
            )?;
        }
        if !self.hub_log.is_empty() {
            writeln!(
                f,
                "the hub's log (warnings and errors) ends with:\n{}",
                self.hub_log
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_the_smallest_bucket_holding_their_rank() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(0.5), None);
        for ms in 1..=100 {
            h.record(ms);
        }
        assert_eq!(h.percentile(0.5), Some(50));
        assert_eq!(h.percentile(0.99), Some(99));
        assert_eq!(h.percentile(1.0), Some(100));
        let mut other = Histogram::default();
        other.record(HISTOGRAM_LIMIT_MS + 500);
        h.merge(&other);
        assert_eq!((h.count, h.max_ms), (101, HISTOGRAM_LIMIT_MS + 500));
        assert_eq!(h.percentile(1.0), Some(HISTOGRAM_LIMIT_MS + 500));
        assert_eq!(h.percentile(0.5), Some(51));
    }

    #[test]
    fn the_slope_is_least_squares_and_flat_noise_is_near_zero() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|t| (f64::from(t), 3.0 + 0.5 * f64::from(t)))
            .collect();
        assert!((slope(&line).unwrap() - 0.5).abs() < 1e-9);
        let noise: Vec<(f64, f64)> = (0..60)
            .map(|t| (f64::from(t), 40.0 + f64::from(t % 2)))
            .collect();
        assert!(slope(&noise).unwrap().abs() * 60.0 < FLAT_MB_PER_MIN);
        assert_eq!(slope(&[(1.0, 2.0)]), None);
    }

    #[test]
    fn a_bounded_step_early_in_a_phase_is_flat_in_its_second_half() {
        // 60 one-second samples: +6 MB over the first 15 s, then flat.
        let process = ProcessFigures {
            elapsed: Duration::from_secs(60),
            hub_cpu_pct: 0.0,
            bench_cpu_pct: 0.0,
            rss_kb: (0..=60u32)
                .map(|t| (f64::from(t), 85_000 + u64::from(t.min(15)) * 400))
                .collect(),
        };
        assert!(process.rss_slope(0.0) > FLAT_MB_PER_MIN);
        assert!(process.rss_slope(0.5).abs() < 1e-9);
    }
}
