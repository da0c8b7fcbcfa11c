//! Scrubbing with long tokens (not a timed test; run by `benches/scrub.sh`). For each token
//! shape: the time to build the scrubber, and to scrub 1 MiB of text that holds the token 4
//! times and is otherwise made of near misses (the token with its last byte changed), each the
//! median of 5 rounds, printed beside its ceiling. Linear means the one-letter shapes cost
//! about what the random one does (the JWT holds its segments as two more values, so twice as
//! much to build); the quadratic scrubber took 12.5 s to build for 64 KiB of one letter.

use std::hint::black_box;
use std::time::{Duration, Instant};

use gateprobe::{REDACTED, Scrubber, Secret};
use rand::Rng;
use rand::distr::Alphanumeric;

/// Token length of every shape.
const TOKEN: usize = 64 << 10;
/// Length of the scrubbed text.
const TEXT: usize = 1 << 20;
const ROUNDS: usize = 5;
/// Ceilings (release build): about ten times the random token's figures on a quiet 2-core
/// machine, far below what a quadratic shape takes.
const BUILD_CEILING: Duration = Duration::from_millis(50);
const SCRUB_CEILING: Duration = Duration::from_millis(50);

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..ROUNDS).map(|_| f()).collect();
    times.sort();
    times[ROUNDS / 2]
}

/// `TEXT` bytes: the token 4 times, near misses of it around them.
fn text_around(token: &str) -> String {
    let last = token.as_bytes()[token.len() - 1];
    let miss = format!("{}{} ", &token[..token.len() - 1], if last == b'#' { '%' } else { '#' });
    let mut text = String::with_capacity(TEXT + token.len());
    while text.len() < TEXT {
        text.push_str(if text.len() % (TEXT / 4) < miss.len() { token } else { &miss });
        text.push(' ');
    }
    text
}

/// The tokens of each shape, `len` bytes long (the first is the one scrubbed).
fn shapes(len: usize) -> [(&'static str, Vec<String>); 4] {
    let random: String = rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect();
    let one_letter = "a".repeat(len);
    // A JWT whose payload and signature are one letter each (both are scrubbed on their own).
    let header = "eyJhbGciOiJIUzI1NiJ9";
    let half = (len - header.len() - 2) / 2;
    let jwt = format!("{header}.{}.{}", "b".repeat(half), "c".repeat(len - header.len() - 2 - half));
    [
        ("random (alphanumeric)", vec![random]),
        ("one letter", vec![one_letter.clone()]),
        ("JWT, segments of one letter", vec![jwt]),
        ("one letter, and its first 8 letters as a second token", vec![one_letter, "a".repeat(8)]),
    ]
}

fn build_time(tokens: &[String]) -> Duration {
    let secrets: Vec<Secret> = tokens.iter().map(|t| Secret::new(t.clone())).collect();
    median(|| {
        let start = Instant::now();
        black_box(Scrubber::new(&secrets));
        start.elapsed()
    })
}

fn main() {
    println!(
        "== scrubber with 64 KiB tokens ({} rounds, median); ceilings: build {} ms, scrub of 1 MiB {} ms",
        ROUNDS,
        BUILD_CEILING.as_millis(),
        SCRUB_CEILING.as_millis()
    );
    let mut over = 0;
    for (name, tokens) in &shapes(TOKEN) {
        let build = build_time(tokens);
        let secrets: Vec<Secret> = tokens.iter().map(|t| Secret::new(t.clone())).collect();
        let scrubber = Scrubber::new(&secrets);
        let text = text_around(&tokens[0]);
        let mut redactions = 0;
        let scrub = median(|| {
            let start = Instant::now();
            let scrubbed = black_box(scrubber.scrub(&text));
            let elapsed = start.elapsed();
            redactions = scrubbed.matches(REDACTED).count();
            elapsed
        });
        let ok = build <= BUILD_CEILING && scrub <= SCRUB_CEILING;
        over += usize::from(!ok);
        println!(
            "{name:<54} build {:>7.3} ms   scrub 1 MiB {:>7.3} ms ({:>4.0} MB/s, {redactions} redactions)   {}",
            build.as_secs_f64() * 1e3,
            scrub.as_secs_f64() * 1e3,
            TEXT as f64 / scrub.as_secs_f64() / 1e6,
            if ok { "ok" } else { "OVER THE CEILING" }
        );
    }
    if over > 0 {
        std::process::exit(1);
    }
}
