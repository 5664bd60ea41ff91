//! Writing generated files so that a reader never sees half of one.
//!
//! The text goes to a temporary file in the same folder, which is then renamed over the target:
//! an error or an interrupt leaves the previous file as it was.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::UserError;

/// Writes `contents` to `path` atomically with the given Unix mode (e.g. 0o644, 0o600).
pub(crate) fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), UserError> {
    write_with(path, mode, &mut |w| {
        w.write_all(contents).map_err(WriteError::Io)
    })
}

/// Why a streamed write failed: the file could not be written, or what fed it failed (the
/// message is the caller's and is passed on unchanged).
#[derive(Debug)]
pub(crate) enum WriteError {
    Io(std::io::Error),
    Source(UserError),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        WriteError::Io(e)
    }
}

impl From<UserError> for WriteError {
    fn from(e: UserError) -> Self {
        WriteError::Source(e)
    }
}

/// Like [`write()`], with the contents streamed by `fill` through a buffer: a large file is never
/// held in memory. On any error the temporary file is removed and `path` is left as it was.
pub(crate) fn write_with(
    path: &Path,
    mode: u32,
    fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), WriteError>,
) -> Result<(), UserError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| UserError::new(format!("{}: cannot create folder: {e}", dir.display())))?;
    let fail = |e: std::io::Error| UserError::new(format!("{}: cannot write: {e}", path.display()));
    let mut tmp = tempfile::Builder::new()
        .prefix(".kopsform-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, tmp.as_file_mut());
        match fill(&mut out) {
            Ok(()) => {}
            Err(WriteError::Io(e)) => return Err(fail(e)),
            Err(WriteError::Source(e)) => return Err(e),
        }
        out.flush().map_err(fail)?;
    }
    tmp.as_file().sync_all().map_err(fail)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.yml");
        write(&path, b"a: 1\n", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a: 1\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.yml"]);
    }
}
