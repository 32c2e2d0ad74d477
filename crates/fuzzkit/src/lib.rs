//! Dev-only: what every fuzz target of the workspace shares (FUZZING.md). Case count and seed
//! come from the environment (`FHIRDIR_FUZZ_CASES`, `FHIRDIR_FUZZ_SEED`; the default seed is
//! fixed so that a CI failure reproduces), and [`timed`] fails a slow case and aborts the
//! process, naming the input, when a case hangs.

use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// The proptest configuration: `default_cases` unless `FHIRDIR_FUZZ_CASES` says otherwise.
pub fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("FHIRDIR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let seed = std::env::var("FHIRDIR_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EA2_C4F0);
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // Failures become table-driven regression tests, not files in the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `f` on `input`, failing the case if it takes longer than `slow`; a watchdog thread
/// aborts the process (naming the input) if a case runs longer than `hung`.
pub fn timed<T>(
    slow: Duration,
    hung: Duration,
    input: &str,
    f: impl FnOnce() -> T,
) -> Result<T, TestCaseError> {
    // The case each test thread is running, for the watchdog (tests run in parallel).
    type Running = Vec<(ThreadId, Instant, Duration, String)>;
    static RUNNING: Mutex<Running> = Mutex::new(Vec::new());
    static WATCHDOG: OnceLock<()> = OnceLock::new();
    let running = || RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    WATCHDOG.get_or_init(|| {
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            for (_, start, hung, input) in running().iter() {
                if start.elapsed() > *hung {
                    eprintln!("fuzz case hung for over {hung:?} on input {input:?}");
                    std::process::abort();
                }
            }
        });
    });
    let me = std::thread::current().id();
    let start = Instant::now();
    running().push((me, start, hung, input.to_owned()));
    let out = f();
    running().retain(|(id, ..)| *id != me);
    let took = start.elapsed();
    prop_assert!(took < slow, "took {took:?} on {input:?}");
    Ok(out)
}
