//! What the discovery benchmarks share: CPU clocks (a thread's, the whole process's), resident
//! memory, medians, keys, and the CPU cost of one loopback datagram. Included with `mod support;`
//! by each benchmark (a folder without `main.rs`, so cargo does not take it for a benchmark).

// Each benchmark uses its own part of this module.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;
use secp256k1::SecretKey;

/// How a benchmark was started, which decides its sizes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// By `cargo test` (or without `--bench`): a run that only checks the benchmark works; its
    /// figures are no measurement.
    Smoke,
    /// `cargo bench` with `ETHP2P_BENCH_QUICK` set: fewer, smaller rounds.
    Quick,
    /// `cargo bench`.
    Full,
}

/// The mode of this run, from its arguments and `ETHP2P_BENCH_QUICK`.
pub fn mode() -> Mode {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--test") || !has("--bench") {
        Mode::Smoke
    } else if std::env::var("ETHP2P_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
        Mode::Quick
    } else {
        Mode::Full
    }
}

/// A thread's CPU-time clock.
#[derive(Clone, Copy)]
pub struct CpuClock(libc::clockid_t);

impl CpuClock {
    /// The calling thread's clock.
    pub fn this_thread() -> CpuClock {
        CpuClock(libc::CLOCK_THREAD_CPUTIME_ID)
    }

    /// The clock of another thread, where the platform has one.
    #[cfg(target_os = "linux")]
    pub fn of(thread: &std::thread::JoinHandle<()>) -> Option<CpuClock> {
        use std::os::unix::thread::JoinHandleExt;
        let mut clock: libc::clockid_t = 0;
        // SAFETY: the thread is alive (its handle is held) and `clock` is a valid out pointer.
        let rc = unsafe { libc::pthread_getcpuclockid(thread.as_pthread_t(), &mut clock) };
        (rc == 0).then_some(CpuClock(clock))
    }

    /// The clock of another thread, where the platform has one.
    #[cfg(not(target_os = "linux"))]
    pub fn of(_: &std::thread::JoinHandle<()>) -> Option<CpuClock> {
        None
    }

    /// CPU time the thread has used so far.
    pub fn now(self) -> Duration {
        let mut time = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `time` is a valid out pointer; the clock id came from the C library.
        let rc = unsafe { libc::clock_gettime(self.0, &mut time) };
        assert_eq!(rc, 0, "clock_gettime");
        Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
    }
}

/// CPU time (user + system) of every thread of this process so far (`getrusage`), for code
/// that may run threads of its own.
pub fn process_cpu() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid out pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Resident set size of this process, from `/proc/self/statm` (Linux; `None` elsewhere).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// The median (the mean of the middle two for an even count); NaN for none.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// A duration in microseconds.
pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// A random secp256k1 key.
pub fn random_key(rng: &mut StdRng) -> SecretKey {
    loop {
        if let Ok(key) = SecretKey::from_secret_bytes(rng.random()) {
            return key;
        }
    }
}

/// CPU time of one blocking `send_to` and one `recv_from` of a `size`-byte datagram on
/// loopback (a send on loopback also runs the receiving socket's side of the delivery), each
/// averaged over `rounds` batches of 32.
pub fn measure_udp(rounds: usize, size: usize) -> (Duration, Duration) {
    const BATCH: usize = 32;
    let bind = || UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let (a, b) = (bind(), bind());
    let to = b.local_addr().expect("bound");
    let datagram = vec![0x5au8; size];
    let mut buf = [0u8; 2048];
    let clock = CpuClock::this_thread();
    let (mut send, mut receive) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let start = clock.now();
        for _ in 0..BATCH {
            a.send_to(&datagram, to).expect("send on loopback");
        }
        send += clock.now() - start;
        let start = clock.now();
        for _ in 0..BATCH {
            b.recv_from(&mut buf).expect("receive on loopback");
        }
        receive += clock.now() - start;
    }
    let count = (rounds * BATCH) as u32;
    (send / count, receive / count)
}
