//! Files only the user may read, replaced whole or not at all: the vault's
//! record files and the data-key fallback.
//!
//! A replacement is a new file beside the old one, created exclusively
//! (so a link planted under its name is never followed) with mode 0600,
//! synced, renamed over the old one, and the folder synced: after a crash
//! or a power cut at any point the file holds the old bytes or the new
//! ones, never a mix.

use std::io::{Read, Write};
use std::path::Path;

/// Creates `dir` if needed and makes it the user's alone (0700).
pub(crate) fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Replaces the file at `path` with `bytes`, atomically and durably.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or(std::io::ErrorKind::InvalidInput)?;
    let name = path
        .file_name()
        .ok_or(std::io::ErrorKind::InvalidInput)?
        .to_string_lossy();
    ensure_private_dir(dir)?;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let temporary = dir.join(format!(".{name}.{suffix}.tmp"));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
        return written;
    }
    // The new file is in place: a folder that can't be synced makes the
    // rename less durable, not undone, so the write is not reported as
    // failed (the caller would act as if the old bytes were still there).
    if let Err(e) = sync_dir(dir) {
        tracing::warn!(error = %e, "the folder could not be synced after a write");
    }
    Ok(())
}

/// Renames `from` over `to`. On Windows a file that another program
/// (antivirus, the search indexer, a sync client) holds open for a moment
/// refuses the rename: it is tried again a few times before giving up.
fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::rename(from, to) {
            Err(e)
                if cfg!(windows)
                    && e.kind() == std::io::ErrorKind::PermissionDenied
                    && tries < 5 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20 << tries));
            }
            result => return result,
        }
    }
}

/// Removes what a crash between creating a replacement and renaming it
/// left beside `path` (`.<name>.<random>.tmp`): nothing reads it, and it
/// may hold a data key that was never put in place.
#[cfg_attr(not(feature = "keyring"), allow(dead_code))]
pub(crate) fn remove_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if file_name.starts_with(&prefix) && file_name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Removes the file at `path`, if there is one, durably.
pub(crate) fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => path.parent().map_or(Ok(()), sync_dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Reads the file at `path`; `Ok(None)` when there is none.
///
/// On Unix the file is opened once, without following a link, and judged
/// by what was opened, then read from that same handle: nothing can be
/// swapped in between. A link, anything but a regular file, a file that
/// others may read or write (its secret may have been read, or planted)
/// and one another user owns (planted) are refused: the error's kind is
/// `PermissionDenied` and [`refusal`] says why. On Windows the file is
/// read as it is: its access list is not checked.
#[cfg_attr(not(feature = "keyring"), allow(dead_code))]
pub(crate) fn read(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let mut file = match open_private(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // Sized once, as `std::fs::read` does: a buffer that grew would leave
    // copies of the secret behind in freed memory.
    let size = file.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Why [`read`] refused a file, in words that name no secret.
#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refused {}

/// The reason [`read`] refused the file, when that is what `error` says
/// (rather than the system failing to read it).
#[cfg_attr(not(feature = "keyring"), allow(dead_code))]
pub(crate) fn refusal(error: &std::io::Error) -> Option<&'static str> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Refused>())
        .map(|refused| refused.0)
}

#[cfg(unix)]
fn refused(why: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, Refused(why))
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    use std::os::unix::fs::MetadataExt;
    // NONBLOCK: a FIFO planted under the name would hold the open until
    // someone writes to it; it is refused below instead.
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => std::fs::File::from(fd),
        // What NOFOLLOW answers for a link.
        Err(rustix::io::Errno::LOOP) => return Err(refused("it is a symbolic link")),
        Err(e) => return Err(e.into()),
    };
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(refused("it is not a regular file"));
    }
    if metadata.mode() & 0o077 != 0 {
        return Err(refused("other users may read or write it"));
    }
    if metadata.uid() != rustix::process::geteuid().as_raw() {
        return Err(refused("another user owns it"));
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "openrouter-connect-private-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_replacement_is_private_whole_and_leaves_no_temporary_file() {
        let dir = scratch("replace").join("inner");
        let path = dir.join("record.json");
        replace(&path, b"old").unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"new"[..]));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["record.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        // What a crash before the rename leaves goes, and nothing else.
        std::fs::write(dir.join(".record.json.0123456789abcdef.tmp"), b"half").unwrap();
        std::fs::write(dir.join(".other.json.0123456789abcdef.tmp"), b"not ours").unwrap();
        remove_leftovers(&path);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".other.json.0123456789abcdef.tmp", "record.json"]);
        remove(&path).unwrap();
        assert_eq!(read(&path).unwrap(), None);
        remove(&path).unwrap();
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_replaced_not_followed_and_an_open_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("link");
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("elsewhere");
        std::fs::write(&target, b"untouched").unwrap();
        let path = dir.join("record.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"untouched");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = read(&path).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(refusal(&error), Some("other users may read or write it"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every file that is not the user's alone is refused by what was
    /// opened, and the reason says which.
    #[cfg(unix)]
    #[test]
    fn only_a_regular_file_of_the_users_alone_is_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("read");
        let path = dir.join("vault-data-key");
        replace(&path, b"data key").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"data key"[..]));
        let refused_as = |path: &Path| {
            let error = read(path).expect_err("refused");
            assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
            refusal(&error)
        };

        // A link, even to a file of the user's alone.
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(refused_as(&link), Some("it is a symbolic link"));

        // A folder, and a FIFO (which must not hold the read waiting for
        // a writer).
        let folder = dir.join("folder");
        std::fs::create_dir(&folder).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(refused_as(&folder), Some("it is not a regular file"));
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .args(["-m", "600"])
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(refused_as(&fifo), Some("it is not a regular file"));

        // Any access for the group or others.
        for mode in [0o640, 0o620, 0o604, 0o602, 0o601, 0o610] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(
                refused_as(&path),
                Some("other users may read or write it"),
                "{mode:o}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

        // Another user's file, mode 0600: only root can make one.
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            assert_eq!(refused_as(&path), Some("another user owns it"));
        } else {
            eprintln!("not root: the owner check is not exercised");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
