//! Files from other public projects, read where they lie.
//!
//! The repository keeps only captures recorded here by its own scripts
//! (`testdata/`). Captures and corpora written by other projects lie in a
//! directory beside the workspace, `../shared/` (`pcaps/` and `corpora/`,
//! each with its sources and licences); CI clones the repository with it
//! there. A test that needs one asks [`SharedFiles::or_skip`], which prints
//! why the test is skipped when the directory is absent, so a plain clone
//! still runs the rest of the suite.
//!
//! Two environment variables change this:
//! - [`SHARED_DIR_VAR`] names the directory when it lies elsewhere;
//! - [`REQUIRE_SHARED_VAR`] set to `1` turns a skip into a failure, so CI
//!   cannot pass by skipping (`.ci/run` sets it).

use std::path::{Path, PathBuf};

/// Environment variable naming the shared directory (default: `../shared`
/// beside the workspace root).
pub const SHARED_DIR_VAR: &str = "CLEARTAP_SHARED_DIR";

/// Environment variable that, set to `1`, makes a missing shared file a
/// test failure instead of a skip.
pub const REQUIRE_SHARED_VAR: &str = "CLEARTAP_REQUIRE_SHARED";

/// The workspace root: this crate lives in `crates/capture-core`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file the repository bundles in `testdata/` (recorded here by a script
/// in `scripts/`), by name.
pub fn bundled(name: &str) -> PathBuf {
    workspace_root().join("testdata").join(name)
}

/// The directory of files from other projects, found.
#[derive(Clone, Debug)]
pub struct SharedFiles {
    root: PathBuf,
}

impl SharedFiles {
    /// Finds the shared directory: [`SHARED_DIR_VAR`] if set, else
    /// `../shared` beside the workspace. The error says where it looked
    /// and how to point elsewhere.
    pub fn locate() -> Result<Self, String> {
        let (root, how) = match std::env::var_os(SHARED_DIR_VAR) {
            Some(dir) => (PathBuf::from(dir), format!("from {SHARED_DIR_VAR}")),
            None => (
                workspace_root().join("../shared"),
                format!("beside the workspace; set {SHARED_DIR_VAR} to point elsewhere"),
            ),
        };
        if root.join("pcaps").is_dir() || root.join("corpora").is_dir() {
            Ok(Self { root })
        } else {
            Err(format!(
                "no shared captures/corpora at {} ({how})",
                root.display()
            ))
        }
    }

    /// The shared directory, or `None` after printing why `test` is
    /// skipped. Panics with the same reason when [`REQUIRE_SHARED_VAR`] is
    /// `1`.
    pub fn or_skip(test: &str) -> Option<Self> {
        match Self::locate() {
            Ok(found) => Some(found),
            Err(why) => {
                skip(test, &why);
                None
            }
        }
    }

    /// A capture in `pcaps/`, or `None` after printing why `test` is
    /// skipped (see [`SharedFiles::or_skip`]).
    pub fn pcap_or_skip(test: &str, name: &str) -> Option<PathBuf> {
        Self::or_skip(test)?.existing(test, &Path::new("pcaps").join(name))
    }

    /// A file or folder under `corpora/`, or `None` after printing why
    /// `test` is skipped (see [`SharedFiles::or_skip`]).
    pub fn corpus_or_skip(test: &str, path: &str) -> Option<PathBuf> {
        Self::or_skip(test)?.existing(test, &Path::new("corpora").join(path))
    }

    /// The shared directory's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a capture in `pcaps/` (whether or not it exists).
    pub fn pcap(&self, name: &str) -> PathBuf {
        self.root.join("pcaps").join(name)
    }

    /// The path of a file or folder under `corpora/` (whether or not it exists).
    pub fn corpus(&self, path: &str) -> PathBuf {
        self.root.join("corpora").join(path)
    }

    fn existing(&self, test: &str, relative: &Path) -> Option<PathBuf> {
        let path = self.root.join(relative);
        if path.exists() {
            Some(path)
        } else {
            skip(test, &format!("{} is missing", path.display()));
            None
        }
    }
}

fn skip(test: &str, why: &str) {
    let required = std::env::var(REQUIRE_SHARED_VAR).is_ok_and(|v| v == "1");
    assert!(!required, "{test}: {why} ({REQUIRE_SHARED_VAR}=1)");
    eprintln!("{test}: skipped: {why}");
}
