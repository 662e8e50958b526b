//! Finding certificate files under the configured paths.
//!
//! A configured file is read whatever its name; inside folders only names
//! ending in `.crt`, `.cer`, `.pem`, `.der`, `.p7b` or `.p7c` are read. Folders are walked
//! to a depth cap, at most a count of files is read, and files above a size
//! cap are reported instead of read. Symlinks are followed, but a folder
//! already visited (by its canonical path) is not entered again, which
//! breaks loops.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Name endings of certificate files looked at inside folders.
const CERTIFICATE_EXTENSIONS: &[&str] = &["crt", "cer", "pem", "der", "p7b", "p7c"];

/// Bounds on a walk.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    pub max_depth: usize,
    pub max_files: usize,
    pub max_file_bytes: u64,
}

/// Why one path could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// The path names nothing; `missing_folder` is the highest folder on the
    /// way to it that is missing too, if any.
    #[error("does not exist{}", missing_folder.as_ref().map(|f| format!(" (the folder {} is missing)", f.display())).unwrap_or_default())]
    Missing { missing_folder: Option<PathBuf> },
    #[error("file is {size_bytes} bytes, larger than the {limit_bytes} byte limit")]
    TooLarge { size_bytes: u64, limit_bytes: u64 },
    #[error("folder is deeper than {0} levels below the configured path; not entered")]
    TooDeep(usize),
    #[error("symlink loop: folder already visited as {0}")]
    Loop(PathBuf),
    #[error("more than {0} certificate files; the rest are not read")]
    TooManyFiles(usize),
}

impl FileError {
    /// Whether the OS refused access (rather than the file being bad).
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, Self::Io(err) if err.kind() == std::io::ErrorKind::PermissionDenied)
    }

    /// Whether nothing is at the path (a mistyped or not yet created path).
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Missing { .. })
    }
}

/// One file's contents (None: unchanged, not read), or why it was not read.
pub type FileResult<T = Vec<u8>> = (PathBuf, Result<T, FileError>);

/// Reads every certificate file under `roots` within `limits`.
#[cfg(test)]
pub fn read_certificate_files(roots: &[PathBuf], limits: WalkLimits) -> Vec<FileResult> {
    read_changed_certificate_files(roots, limits, &mut |_, _| false)
        .into_iter()
        .map(|(path, result)| (path, result.map(Option::unwrap_or_default)))
        .collect()
}

/// Like [`read_certificate_files`], but a file for which `unchanged` says
/// true (from its metadata) is not read: its result is `Ok(None)`.
pub fn read_changed_certificate_files(
    roots: &[PathBuf],
    limits: WalkLimits,
    unchanged: &mut dyn FnMut(&Path, &std::fs::Metadata) -> bool,
) -> Vec<FileResult<Option<Vec<u8>>>> {
    let mut walk = Walk {
        limits,
        visited: HashSet::new(),
        files_read: 0,
        results: Vec::new(),
        unchanged,
    };
    for root in roots {
        walk.visit(root, 0, true);
    }
    walk.results
}

struct Walk<'a> {
    limits: WalkLimits,
    visited: HashSet<PathBuf>,
    files_read: usize,
    results: Vec<FileResult<Option<Vec<u8>>>>,
    unchanged: &'a mut dyn FnMut(&Path, &std::fs::Metadata) -> bool,
}

impl Walk<'_> {
    fn visit(&mut self, path: &Path, depth: usize, configured: bool) {
        // `metadata` follows symlinks: a link to a folder is walked like the folder.
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            // A dangling symlink exists: it stays an I/O error below.
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound
                    && std::fs::symlink_metadata(path).is_err() =>
            {
                let missing_folder = highest_missing_folder(path);
                self.results.push((
                    path.to_path_buf(),
                    Err(FileError::Missing { missing_folder }),
                ));
                return;
            }
            Err(err) => {
                self.results
                    .push((path.to_path_buf(), Err(FileError::Io(err))));
                return;
            }
        };
        if metadata.is_dir() {
            self.visit_dir(path, depth);
        } else if metadata.is_file() && (configured || has_certificate_extension(path)) {
            if self.files_read >= self.limits.max_files {
                if self.files_read == self.limits.max_files {
                    self.results.push((
                        path.to_path_buf(),
                        Err(FileError::TooManyFiles(self.limits.max_files)),
                    ));
                    // Report the cap once, not for every file beyond it.
                    self.files_read += 1;
                }
                return;
            }
            self.files_read += 1;
            let result = if (self.unchanged)(path, &metadata) {
                Ok(None)
            } else {
                read_capped(path, metadata.len(), self.limits.max_file_bytes).map(Some)
            };
            self.results.push((path.to_path_buf(), result));
        }
    }

    fn visit_dir(&mut self, path: &Path, depth: usize) {
        if depth > self.limits.max_depth {
            self.results.push((
                path.to_path_buf(),
                Err(FileError::TooDeep(self.limits.max_depth)),
            ));
            return;
        }
        let canonical = match std::fs::canonicalize(path) {
            Ok(canonical) => canonical,
            Err(err) => {
                self.results
                    .push((path.to_path_buf(), Err(FileError::Io(err))));
                return;
            }
        };
        if !self.visited.insert(canonical.clone()) {
            // Two configured paths naming one folder is not a loop; a link back is.
            if depth > 0 {
                self.results
                    .push((path.to_path_buf(), Err(FileError::Loop(canonical))));
            }
            return;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(err) => {
                self.results
                    .push((path.to_path_buf(), Err(FileError::Io(err))));
                return;
            }
        };
        let mut children: Vec<PathBuf> = Vec::new();
        for entry in entries {
            match entry {
                // A plain file whose name is not a certificate's is never read:
                // skip it from the folder listing itself (no stat per key file).
                Ok(entry)
                    if entry.file_type().is_ok_and(|t| t.is_file())
                        && !has_certificate_extension(Path::new(&entry.file_name())) => {}
                Ok(entry) => children.push(entry.path()),
                Err(err) => self
                    .results
                    .push((path.to_path_buf(), Err(FileError::Io(err)))),
            }
        }
        // A stable order makes the file cap and the reports reproducible.
        children.sort();
        for child in children {
            self.visit(&child, depth + 1, false);
        }
    }
}

/// The highest folder on the way to `path` that does not exist, if any.
fn highest_missing_folder(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .filter(|folder| !folder.as_os_str().is_empty())
        .take_while(|folder| std::fs::symlink_metadata(folder).is_err())
        .last()
        .map(Path::to_path_buf)
}

fn has_certificate_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            CERTIFICATE_EXTENSIONS
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        })
}

/// Reads `path` unless it is larger than `limit_bytes` (checked again while
/// reading, in case the file grows).
fn read_capped(path: &Path, size_bytes: u64, limit_bytes: u64) -> Result<Vec<u8>, FileError> {
    if size_bytes > limit_bytes {
        return Err(FileError::TooLarge {
            size_bytes,
            limit_bytes,
        });
    }
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    let mut bytes = Vec::new();
    file.take(limit_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > limit_bytes {
        return Err(FileError::TooLarge {
            size_bytes: bytes.len() as u64,
            limit_bytes,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WalkLimits = WalkLimits {
        max_depth: 3,
        max_files: 100,
        max_file_bytes: 1024,
    };

    fn names(results: &[FileResult], root: &Path) -> Vec<String> {
        results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(p, _)| p.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn folders_yield_certificate_extensions_only_and_configured_files_always() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.crt"), b"x").unwrap();
        std::fs::write(dir.path().join("b.PEM"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/c.der"), b"x").unwrap();
        let odd = dir.path().join("cert.bundle");
        std::fs::write(&odd, b"x").unwrap();
        let results =
            read_certificate_files(&[dir.path().join("sub"), dir.path().into(), odd], LIMITS);
        assert_eq!(
            names(&results, dir.path()),
            ["sub/c.der", "a.crt", "b.PEM", "cert.bundle"]
        );
    }

    #[test]
    fn symlink_loop_is_reported_once_and_files_are_read_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/x.pem"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("a/back")).unwrap();
        let results = read_certificate_files(&[dir.path().into()], LIMITS);
        assert_eq!(names(&results, dir.path()), ["a/x.pem"]);
        let loops: Vec<_> = results
            .iter()
            .filter(|(_, r)| matches!(r, Err(FileError::Loop(_))))
            .collect();
        assert_eq!(loops.len(), 1, "{results:?}");
        assert_eq!(loops[0].0, dir.path().join("a/back"));
    }

    #[test]
    fn depth_and_count_caps_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("1/2/3/4");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("deep.pem"), b"x").unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}.pem")), b"x").unwrap();
        }
        let limits = WalkLimits {
            max_files: 3,
            ..LIMITS
        };
        let results = read_certificate_files(&[dir.path().into()], limits);
        assert_eq!(names(&results, dir.path()), ["0.pem", "1.pem", "2.pem"]);
        assert!(
            results
                .iter()
                .any(|(p, r)| *p == deep && matches!(r, Err(FileError::TooDeep(3))))
        );
        let capped = results
            .iter()
            .filter(|(_, r)| matches!(r, Err(FileError::TooManyFiles(3))))
            .count();
        assert_eq!(capped, 1);
    }

    #[test]
    fn large_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'A'; 2048]).unwrap();
        let missing = dir.path().join("missing.pem");
        let results = read_certificate_files(&[big, missing], LIMITS);
        assert!(matches!(
            results[0].1,
            Err(FileError::TooLarge {
                size_bytes: 2048,
                limit_bytes: 1024
            })
        ));
        assert!(results[1].1.as_ref().is_err_and(FileError::is_missing));
        assert_eq!(
            results[1].1.as_ref().unwrap_err().to_string(),
            "does not exist"
        );
    }

    #[test]
    fn missing_folder_on_the_way_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/tls/site.pem");
        let results = read_certificate_files(std::slice::from_ref(&path), LIMITS);
        assert_eq!(
            results[0].1.as_ref().unwrap_err().to_string(),
            format!(
                "does not exist (the folder {} is missing)",
                dir.path().join("etc").display()
            )
        );
    }
}
