//! Where a command may write: never over one of its own inputs (by any name: a symlink, `..`, a hard
//! link), never over a device, FIFO or folder, and never the same file twice.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// Refuses `outputs` that are not absent or regular files, that name one of `inputs`, or that name
/// each other. Call it before any work and again just before writing.
pub fn check_outputs(outputs: &[&Path], inputs: &[&Path]) -> anyhow::Result<()> {
    for (i, output) in outputs.iter().enumerate() {
        if let Some(kind) = special_kind(output) {
            bail!("{} is {kind}; the output must be a new or regular file", output.display());
        }
        for input in inputs {
            if same_file(output, input) {
                bail!(
                    "{} is the input {}; writing it would destroy it. Choose another output name",
                    output.display(),
                    input.display()
                );
            }
        }
        for other in &outputs[..i] {
            if same_file(output, other) {
                bail!(
                    "{} and {} are the same file; choose an output name that does not end in .json",
                    other.display(),
                    output.display()
                );
            }
        }
    }
    Ok(())
}

/// What a present non-regular file is, following symlinks; `None` when absent or a regular file.
fn special_kind(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device");
        }
        if kind.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Whether two paths name the same file: the same inode when both exist (hard links and symlinks
/// included), else the same canonical location.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt as _;
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    match (canonical(a), canonical(b)) {
        (Some(ca), Some(cb)) => ca == cb,
        _ => false,
    }
}

/// The canonical path of `path`, or of its folder joined with its name when the file does not exist yet.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(std::fs::canonicalize(parent).ok()?.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_by_any_name_are_refused() {
        let dir = std::env::temp_dir().join(format!("pb-outputs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let script = dir.join("s.xml");
        std::fs::write(&script, "<speak/>").unwrap();
        let dotted = dir.join("sub").join("..").join("s.xml");
        let linked = dir.join("hard.wav");
        std::fs::hard_link(&script, &linked).unwrap();
        for output in [&script, &dotted, &linked] {
            let err = check_outputs(&[output], &[&script]).unwrap_err().to_string();
            assert!(err.contains("would destroy it"), "{err}");
        }
        let fresh = dir.join("take.wav");
        assert!(check_outputs(&[&fresh, &dir.join("take.json")], &[&script]).is_ok());
        assert!(check_outputs(&[&fresh, &fresh], &[&script]).is_err());
        assert!(check_outputs(&[&dir.join("sub")], &[&script]).unwrap_err().to_string().contains("a folder"));
        #[cfg(unix)]
        assert!(
            check_outputs(&[Path::new("/dev/null")], &[&script])
                .unwrap_err()
                .to_string()
                .contains("a device")
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
