//! The command line's stdout and stderr. A reader that goes away (`gateprobe run --verbose |
//! head -1`) ends the printing, never the command: the rest of the output is dropped, and the
//! command still saves its state, writes its reports and exits with its own code. Rust ignores
//! SIGPIPE, so a closed pipe is an `EPIPE` error here, on which `print!` would panic (exit 101);
//! restoring SIGPIPE's default instead would kill `run` before it saves its state, and `serve`
//! on a closed log pipe.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// Drops everything later written to stdout (`-qq`).
pub fn silence_stdout() {
    STDOUT_GONE.store(true, Ordering::Relaxed);
}

pub fn out(args: std::fmt::Arguments<'_>) {
    if let Some(e) = write(&mut std::io::stdout().lock(), &STDOUT_GONE, args)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        err(format_args!("warning: could not write to stdout ({e}); the rest of its output is dropped\n"));
    }
}

pub fn err(args: std::fmt::Arguments<'_>) {
    let _ = write(&mut std::io::stderr().lock(), &STDERR_GONE, args);
}

/// Writes unless an earlier write to `w` failed; returns the error of the first that fails.
fn write(w: &mut impl Write, gone: &AtomicBool, args: std::fmt::Arguments<'_>) -> Option<std::io::Error> {
    if gone.load(Ordering::Relaxed) {
        return None;
    }
    let e = w.write_fmt(args).and_then(|()| w.flush()).err()?;
    gone.store(true, Ordering::Relaxed);
    Some(e)
}
