//! `/proc/PID/cgroup` → container id: the layouts kubelet and the
//! container runtimes make, as pure functions over text.
//!
//! | driver | runtime | a container's cgroup (last components) |
//! |---|---|---|
//! | systemd | containerd | `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope` |
//! | systemd | CRI-O | `…/kubepods-besteffort-pod<uid_>.slice/crio-<id>.scope` (its monitor: `crio-conmon-<id>.scope`) |
//! | systemd | Docker (cri-dockerd) | `…/kubepods-pod<uid_>.slice/docker-<id>.scope` |
//! | cgroupfs | containerd, Docker | `kubepods/besteffort/pod<uid>/<id>` |
//! | cgroupfs | CRI-O | `kubepods/burstable/pod<uid>/crio-<id>` |
//! | systemd, not yet converted | any | `…/kubepods-besteffort-pod<uid_>.slice:cri-containerd:<id>` |
//! | Docker alone | Docker | `docker/<id>` or `system.slice/docker-<id>.scope` |
//!
//! `<uid_>` is the pod uid with `_` for `-` (systemd unit names); Guaranteed
//! pods sit directly under `kubepods` (`kubepods-pod<uid_>.slice`, `kubepods/pod<uid>`).
//! The file has one line per hierarchy: `0::PATH` for cgroup v2, `N:controllers:PATH`
//! for each v1 hierarchy; a hybrid host has both, and they agree.

/// Which runtime made a container, as its cgroup name tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuntimeKind {
    /// containerd's CRI plugin (`cri-containerd-<id>`).
    Containerd,
    /// CRI-O (`crio-<id>`).
    CriO,
    /// Docker (`docker-<id>`, `docker/<id>`).
    Docker,
    /// A bare id under a pod's cgroup (cgroupfs driver: containerd or Docker).
    Unknown,
}

/// Kubernetes' quality-of-service class, the middle level of the pod cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QosClass {
    /// `kubepods/pod<uid>` or `kubepods-pod<uid_>.slice`.
    Guaranteed,
    /// `kubepods/burstable`.
    Burstable,
    /// `kubepods/besteffort`.
    BestEffort,
}

/// What a cgroup path says about the container a process runs in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerRef {
    /// The container's id (64 hex digits for containerd, CRI-O and Docker).
    pub id: String,
    /// The runtime the name points to.
    pub runtime: RuntimeKind,
    /// The pod's uid, when the container sits in a Kubernetes pod cgroup.
    pub pod_uid: Option<String>,
    /// The pod's QoS class, when in a pod cgroup.
    pub qos: Option<QosClass>,
}

/// The container of a process, from the whole text of `/proc/PID/cgroup`:
/// the cgroup v2 line first, then the v1 lines in order.
pub fn container_of(proc_cgroup: &str) -> Option<ContainerRef> {
    let paths = || proc_cgroup.lines().filter_map(line_path);
    paths()
        .filter(|(v2, _)| *v2)
        .chain(paths().filter(|(v2, _)| !*v2))
        .find_map(|(_, path)| container_in_path(path))
}

/// The cgroup v2 path of a process (`0::PATH`), from `/proc/PID/cgroup`.
pub fn v2_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .filter_map(line_path)
        .find_map(|(v2, p)| v2.then_some(p))
}

/// `(is v2, path)` of one line `ID:CONTROLLERS:PATH`.
fn line_path(line: &str) -> Option<(bool, &str)> {
    let mut parts = line.splitn(3, ':');
    let id = parts.next()?;
    let controllers = parts.next()?;
    let path = parts.next()?.trim_end();
    Some((id == "0" && controllers.is_empty(), path))
}

/// The container named by one cgroup path.
pub fn container_in_path(path: &str) -> Option<ContainerRef> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let (last, parents) = comps.split_last()?;
    let (id, runtime) = if let Some((id, runtime)) = scoped_id(last) {
        (id, runtime)
    } else if let Some((id, runtime)) = colon_id(last) {
        (id, runtime)
    } else if is_container_id(last) {
        // A bare id names a container under a pod cgroup (cgroupfs driver)
        // or under `docker/`.
        let parent = parents.last().copied().unwrap_or_default();
        if parent == "docker" {
            (*last, RuntimeKind::Docker)
        } else if pod_uid(parent).is_some() {
            (*last, RuntimeKind::Unknown)
        } else {
            return None;
        }
    } else {
        return None;
    };
    // The pod is the nearest pod component above (or, in the colon form,
    // the slice before the first colon).
    let colon_slice = last.split(':').next().filter(|_| last.contains(':'));
    let pod_comp = colon_slice
        .into_iter()
        .chain(parents.iter().rev().copied())
        .find(|c| pod_uid(c).is_some());
    let pod_uid = pod_comp.and_then(pod_uid);
    let qos = pod_comp.and_then(|pod| qos_of(pod, parents));
    Some(ContainerRef {
        id: id.to_owned(),
        runtime,
        pod_uid,
        qos,
    })
}

/// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, and
/// CRI-O's cgroupfs `crio-<id>`; not CRI-O's monitor `crio-conmon-<id>`.
fn scoped_id(comp: &str) -> Option<(&str, RuntimeKind)> {
    let base = comp.strip_suffix(".scope").unwrap_or(comp);
    let (id, runtime) = if let Some(id) = base.strip_prefix("cri-containerd-") {
        (id, RuntimeKind::Containerd)
    } else if let Some(id) = base.strip_prefix("crio-") {
        (id, RuntimeKind::CriO)
    } else if let Some(id) = base.strip_prefix("docker-") {
        (id, RuntimeKind::Docker)
    } else {
        return None;
    };
    is_container_id(id).then_some((id, runtime))
}

/// `<slice>:<prefix>:<id>`: a systemd cgroup path as the runtime passes it
/// to runc, seen where systemd did not convert it into a scope.
fn colon_id(comp: &str) -> Option<(&str, RuntimeKind)> {
    let mut parts = comp.split(':');
    let _slice = parts.next()?;
    let prefix = parts.next()?;
    let id = parts.next()?;
    if parts.next().is_some() || !is_container_id(id) {
        return None;
    }
    let runtime = match prefix {
        "cri-containerd" => RuntimeKind::Containerd,
        "crio" => RuntimeKind::CriO,
        "docker" => RuntimeKind::Docker,
        _ => RuntimeKind::Unknown,
    };
    Some((id, runtime))
}

/// 64 lowercase hex digits: the ids containerd's CRI plugin, CRI-O and
/// Docker give containers.
pub fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The pod uid of a pod cgroup component: `pod<uid>` (cgroupfs) or
/// `kubepods[-<qos>]-pod<uid_>.slice` (systemd), with dashes restored.
pub fn pod_uid(comp: &str) -> Option<String> {
    let raw = if let Some(slice) = comp.strip_suffix(".slice") {
        // `kubepods-besteffort-pod<uid_>`, also below a kubelet cgroup
        // root (`kubelet-kubepods-…`).
        if !slice.contains("kubepods") {
            return None;
        }
        slice.rsplit_once("-pod")?.1
    } else {
        comp.strip_prefix("pod")?
    };
    let uid = raw.replace('_', "-");
    is_uid(&uid).then_some(uid)
}

/// A Kubernetes uid: 36 characters, hex digits and four dashes.
fn is_uid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

fn qos_of(pod_comp: &str, parents: &[&str]) -> Option<QosClass> {
    if pod_comp.ends_with(".slice") {
        return Some(if pod_comp.contains("kubepods-besteffort-") {
            QosClass::BestEffort
        } else if pod_comp.contains("kubepods-burstable-") {
            QosClass::Burstable
        } else {
            QosClass::Guaranteed
        });
    }
    // cgroupfs: the component above `pod<uid>`.
    let idx = parents.iter().position(|c| *c == pod_comp)?;
    match idx.checked_sub(1).and_then(|i| parents.get(i)).copied() {
        Some("besteffort") => Some(QosClass::BestEffort),
        Some("burstable") => Some(QosClass::Burstable),
        Some(c) if c == "kubepods" || c.ends_with("kubepods") => Some(QosClass::Guaranteed),
        _ => None,
    }
}

/// Whether a cgroup path lies in Kubernetes' pod hierarchy (`kubepods`,
/// `kubepods.slice`, also below a kubelet cgroup root).
pub fn is_kubepods(path: &str) -> bool {
    path.split('/')
        .any(|c| c == "kubepods" || c == "kubepods.slice" || c.ends_with("-kubepods.slice"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "2d8f3b9c5e7a4f1d0b6c8e2a9f7d5c3b1e0a8f6d4c2b0a9e7f5d3c1b0a8e6f4d";
    const UID: &str = "5f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
    const UID_: &str = "5f1c2d3e_4a5b_4c6d_8e7f_9a0b1c2d3e4f";

    fn one(path: &str) -> ContainerRef {
        container_in_path(path).unwrap_or_else(|| panic!("no container in {path}"))
    }

    #[test]
    fn systemd_driver_containerd_every_qos() {
        let r = one(&format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/cri-containerd-{ID}.scope"
        ));
        assert_eq!(r.id, ID);
        assert_eq!(r.runtime, RuntimeKind::Containerd);
        assert_eq!(r.pod_uid.as_deref(), Some(UID));
        assert_eq!(r.qos, Some(QosClass::Burstable));
        let r = one(&format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
        ));
        assert_eq!(r.qos, Some(QosClass::BestEffort));
        let r = one(&format!(
            "/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope"
        ));
        assert_eq!(r.qos, Some(QosClass::Guaranteed));
        assert_eq!(r.pod_uid.as_deref(), Some(UID));
    }

    #[test]
    fn systemd_driver_crio_and_docker_and_conmon() {
        let r = one(&format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/crio-{ID}.scope"
        ));
        assert_eq!(
            (r.runtime, r.pod_uid.as_deref()),
            (RuntimeKind::CriO, Some(UID))
        );
        let r = one(&format!(
            "/kubepods.slice/kubepods-pod{UID_}.slice/docker-{ID}.scope"
        ));
        assert_eq!(r.runtime, RuntimeKind::Docker);
        // CRI-O's monitor process is not the container.
        assert_eq!(
            container_in_path(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/crio-conmon-{ID}.scope"
            )),
            None
        );
    }

    #[test]
    fn cgroupfs_driver_every_runtime_and_qos() {
        let r = one(&format!("/kubepods/besteffort/pod{UID}/{ID}"));
        assert_eq!(r.id, ID);
        assert_eq!(r.runtime, RuntimeKind::Unknown);
        assert_eq!(r.pod_uid.as_deref(), Some(UID));
        assert_eq!(r.qos, Some(QosClass::BestEffort));
        let r = one(&format!("/kubepods/burstable/pod{UID}/crio-{ID}"));
        assert_eq!(
            (r.runtime, r.qos),
            (RuntimeKind::CriO, Some(QosClass::Burstable))
        );
        let r = one(&format!("/kubepods/pod{UID}/{ID}"));
        assert_eq!(r.qos, Some(QosClass::Guaranteed));
        // Under a kubelet cgroup root (kind, nested nodes).
        let r = one(&format!(
            "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
        ));
        assert_eq!(r.pod_uid.as_deref(), Some(UID));
        assert_eq!(r.qos, Some(QosClass::BestEffort));
    }

    #[test]
    fn the_unconverted_colon_form_and_docker_alone() {
        let r = one(&format!(
            "/system.slice/containerd.service/kubepods-burstable-pod{UID_}.slice:cri-containerd:{ID}"
        ));
        assert_eq!(r.runtime, RuntimeKind::Containerd);
        assert_eq!(r.pod_uid.as_deref(), Some(UID));
        assert_eq!(r.qos, Some(QosClass::Burstable));
        let r = one(&format!("/docker/{ID}"));
        assert_eq!((r.runtime, r.pod_uid), (RuntimeKind::Docker, None));
        let r = one(&format!("/system.slice/docker-{ID}.scope"));
        assert_eq!((r.runtime, r.pod_uid), (RuntimeKind::Docker, None));
    }

    #[test]
    fn host_processes_and_garbage_name_no_container() {
        for path in [
            "/",
            "/init.scope",
            "/system.slice/containerd.service",
            "/user.slice/user-0.slice/session-1.scope",
            &format!("/kubepods/besteffort/pod{UID}"),
            "/kubepods/besteffort/podnot-a-uid/abc",
            &format!("/somewhere/{ID}"),
            &format!("/kubepods/pod{UID}/{}", &ID[..63]),
            &format!("/kubepods/pod{UID}/{}", ID.to_uppercase()),
            "cri-containerd-.scope",
            "::::",
            "",
        ] {
            assert_eq!(container_in_path(path), None, "{path}");
        }
        assert_eq!(container_of(""), None);
        assert_eq!(container_of("garbage\n\u{0}\n1:2"), None);
    }

    #[test]
    fn v1_v2_and_hybrid_files() {
        let v2 = format!(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope\n"
        );
        assert_eq!(container_of(&v2).unwrap().id, ID);
        let v1 = format!(
            "12:pids:/kubepods/besteffort/pod{UID}/{ID}\n11:memory:/kubepods/besteffort/pod{UID}/{ID}\n1:name=systemd:/kubepods/besteffort/pod{UID}/{ID}\n"
        );
        assert_eq!(container_of(&v1).unwrap().pod_uid.as_deref(), Some(UID));
        assert_eq!(v2_path(&v1), None);
        // Hybrid: v1 controllers, name=systemd, and the unified hierarchy.
        let hybrid = format!(
            "9:name=systemd:/kubepods/besteffort/pod{UID}/{ID}\n4:memory:/kubepods/besteffort/pod{UID}/{ID}\n0::/kubepods/besteffort/pod{UID}/{ID}\n"
        );
        let r = container_of(&hybrid).unwrap();
        assert_eq!((r.id.as_str(), r.qos), (ID, Some(QosClass::BestEffort)));
        assert_eq!(
            v2_path(&hybrid),
            Some(format!("/kubepods/besteffort/pod{UID}/{ID}").as_str())
        );
        // A host process on a hybrid host: the v1 lines name nothing either.
        assert_eq!(
            container_of("9:name=systemd:/init.scope\n0::/init.scope\n"),
            None
        );
    }

    #[test]
    fn kubepods_paths_are_recognised() {
        assert!(is_kubepods("/kubepods/besteffort"));
        assert!(is_kubepods("/kubepods.slice/kubepods-burstable.slice"));
        assert!(is_kubepods("/kubelet.slice/kubelet-kubepods.slice"));
        assert!(!is_kubepods("/system.slice/kubelet.service"));
    }
}
