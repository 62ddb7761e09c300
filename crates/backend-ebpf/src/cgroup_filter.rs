//! [`CgroupFilter`]: the set of cgroups whose processes are traced, changed
//! while the source runs (pods come and go; see `k8s-meta`'s
//! `Attributor::watch_pod_cgroups`).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libbpf_rs::{MapCore, MapFlags, MapHandle};

use crate::Error;

/// The kernel's set of traced cgroups (by cgroup v2 id, the inode of the
/// directory): a process is traced when its cgroup or one above it is in
/// the set. Decided in the kernel, before any byte is copied. Shared with
/// the [`EbpfSource`](crate::EbpfSource) that made it; changing it takes
/// effect on the next system call of each process.
#[derive(Debug)]
pub struct CgroupFilter {
    map: MapHandle,
    current: Mutex<HashSet<u64>>,
}

/// A cgroup v2 id: the inode number of its directory.
pub(crate) fn cgroup_id(dir: &Path) -> Result<u64, Error> {
    std::fs::metadata(dir)
        .map(|m| m.ino())
        .map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })
}

impl CgroupFilter {
    pub(crate) fn new(map: MapHandle, initial: HashSet<u64>) -> Self {
        Self {
            map,
            current: Mutex::new(initial),
        }
    }

    /// Makes `dirs` the traced cgroups (cgroup v2 directories, such as a
    /// pod's `/sys/fs/cgroup/kubepods.slice/…/kubepods-besteffort-pod<uid>.slice`).
    /// A directory that is gone is left out; the others are set, and the
    /// first error is returned.
    pub fn set(&self, dirs: &[PathBuf]) -> Result<(), Error> {
        let mut first_error = None;
        let mut wanted = HashSet::new();
        for dir in dirs {
            match cgroup_id(dir) {
                Ok(id) => {
                    wanted.insert(id);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let write_error =
            |e: libbpf_rs::Error| Error::Load(format!("updating the cgroup filter: {e}"));
        for id in wanted.difference(&current) {
            if let Err(e) = self.map.update(&id.to_le_bytes(), &[1], MapFlags::ANY) {
                first_error.get_or_insert(write_error(e));
            }
        }
        for id in current.difference(&wanted) {
            // Already gone is fine.
            let _ = self.map.delete(&id.to_le_bytes());
        }
        *current = wanted;
        first_error.map_or(Ok(()), Err)
    }

    /// The cgroup ids traced now.
    pub fn ids(&self) -> Vec<u64> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ids: Vec<u64> = current.iter().copied().collect();
        ids.sort_unstable();
        ids
    }
}
