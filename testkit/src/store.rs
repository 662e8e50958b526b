//! Collector stores for tests, opened the way the collector opens them, and read
//! through the `Store` trait: a test that reads tables by SQL breaks when the
//! schema or the backend changes, one that reads through the trait does not.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use forewarn_collector::store::Store;
use forewarn_collector::store::sqlite::SqliteStore;

/// A fresh, empty store in its own temporary directory (kept as long as the value).
#[derive(Debug)]
pub struct TempStore {
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let store = open(dir.path())?;
        Ok(Self { store, dir })
    }
}

/// The store of a collector whose `data_dir` is `data_dir`; the collector may be
/// running (the CLI opens it the same way).
pub fn open(data_dir: &Path) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqliteStore::open(
        &data_dir.join("forewarn.sqlite3"),
    )?))
}
