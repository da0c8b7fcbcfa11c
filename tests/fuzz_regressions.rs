//! Inputs the fuzzers (`fuzz/`) found to crash, hang or break an invariant, replayed through the
//! very harness the fuzz targets run (`fuzz/harness.rs`), so each fix stays fixed under a plain
//! `cargo test`. Inputs live in `tests/fixtures/fuzz/<target>/`, one file each.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

/// A debug build on a shared CI core; the fuzzers flag anything over 5 s in release.
const BOUND: Duration = Duration::from_secs(20);

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in &files {
        let input = std::fs::read(file).unwrap();
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(|| run(&input));
        assert!(outcome.is_ok(), "{} panics again", file.display());
        assert!(start.elapsed() < BOUND, "{} took {:?}", file.display(), start.elapsed());
    }
    files.len()
}

#[test]
fn suite_loader_regressions() {
    assert!(replay("suite_loader", harness::suite_loader) > 0);
}

#[test]
fn response_decoder_regressions() {
    assert!(replay("response_decoders", harness::response_decoders) > 0);
}
