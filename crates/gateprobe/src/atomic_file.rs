//! Files replaced whole (the run state, snapshots, reports): a reader, or a crash, sees the old
//! file or the new one, never a mix.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

const TEMP_PREFIX: &str = ".gateprobe-";
const TEMP_SUFFIX: &str = ".tmp";

/// A writer holds its temporary file for milliseconds; one this old was left by a killed
/// process. The margin is wide so that a concurrent writer's file is never taken from it.
const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

/// Replaces `path` with what `write` writes, through a buffer: a temporary file in the same
/// directory (rename is atomic only within one file system), fsync'd before the rename so the
/// rename cannot land before the data, then the directory fsync'd so the rename itself survives
/// a power loss. The file is 0644 (less the umask): nothing written here is secret (tokens never
/// reach the state, snapshots or reports), and other CI steps read reports.
///
/// A process killed between creating the temporary file and the rename (SIGKILL, OOM) leaves
/// it behind; each successful write removes such leftovers once they are `STALE_TEMP_AGE` old,
/// so a crash-looping service does not accumulate them.
pub fn write(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
    write(&mut buffered)?;
    buffered.flush()?;
    drop(buffered);
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)?;
    remove_stale_temp_files(dir);
    Ok(())
}

/// Removes `path` durably; a missing file is already removed.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => sync_dir(d),
        _ => Ok(()),
    }
}

/// Best effort: a leftover that cannot be removed now is tried again on the next write.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let stale = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age >= STALE_TEMP_AGE);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Windows cannot open a directory as a file; its rename is durable enough for a cache.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_bytes(path: &Path, bytes: &[u8]) {
        write(path, |w| w.write_all(bytes)).unwrap();
    }

    #[test]
    fn replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        write_bytes(&path, b"one");
        write_bytes(&path, b"two");
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> =
            std::fs::read_dir(dir.path().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    /// Pins: leftovers of a killed writer go with the next write once stale; a fresh one (maybe a
    /// concurrent writer's) and files that are not ours stay.
    #[test]
    fn removes_stale_temp_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - STALE_TEMP_AGE - Duration::from_secs(60);
        for name in [".gateprobe-stale1.tmp", ".gateprobe-fresh1.tmp", "notes.tmp", ".gateprobe-keep.json"] {
            std::fs::write(dir.path().join(name), b"{").unwrap();
            if name != ".gateprobe-fresh1.tmp" {
                let f = std::fs::File::options().write(true).open(dir.path().join(name)).unwrap();
                f.set_modified(old).unwrap();
            }
        }
        write_bytes(&dir.path().join("state.json"), b"{}");
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, [".gateprobe-fresh1.tmp", ".gateprobe-keep.json", "notes.tmp", "state.json"]);
    }
}
