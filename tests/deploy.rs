//! The deployment files are checked, not only shipped: the systemd unit passes
//! `systemd-analyze verify` (with ExecStart pointed at the built binary: verify wants it to exist)
//! and stays hardened (`systemd-analyze security` exposure at most 2.0 of 10).

use std::process::Command;

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/systemd/gateprobe.service"))
        .expect("deploy/systemd/gateprobe.service");
    assert!(text.contains("ExecStart=/usr/local/bin/gateprobe serve"), "the unit starts serve");
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("gateprobe.service");
    std::fs::write(&unit, text.replace("/usr/local/bin/gateprobe", env!("CARGO_BIN_EXE_gateprobe"))).unwrap();

    let run = |args: &[&str]| {
        let out = Command::new("systemd-analyze").args(args).arg(&unit).output().unwrap_or_else(|e| {
            panic!("systemd-analyze could not start ({e}); scripts/install-deps installs it (Debian's systemd)")
        });
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, said) = run(&["verify"]);
    assert!(ok && said.trim().is_empty(), "systemd-analyze verify:\n{said}");
    // The threshold is in tenths: 20 is an exposure of 2.0 ("OK" in systemd's words).
    let (ok, said) = run(&["security", "--offline=true", "--threshold=20"]);
    assert!(ok, "exposure above 2.0:\n{said}");
}
