//! The container runtime's view: every container's id and labels, where
//! kubelet leaves a pod's namespace, name and uid and the container's name.
//!
//! containerd is asked through its gRPC API on its socket with the
//! `containerd-client` crate (tonic over a Unix socket), in every
//! containerd namespace unless told which: Kubernetes' CRI plugin keeps its
//! containers in `k8s.io`, Docker (which runs its containers through
//! containerd) in `moby`. Each call runs on a small single-threaded tokio
//! runtime owned by the client and is bounded by a timeout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::namespaces_client::NamespacesClient;
use containerd_client::services::v1::{ListContainersRequest, ListNamespacesRequest};
use containerd_client::tonic::Request;
use containerd_client::tonic::transport::Channel;

use crate::Error;

/// Label: the pod's Kubernetes namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Label: the pod's name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// Label: the pod's uid.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// Label: the container's name in the pod spec.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Label of containerd's CRI plugin: `sandbox` for a pod's sandbox
/// (its labels are the pod's), `container` for the others.
pub const CRI_KIND: &str = "io.cri-containerd.kind";

/// A container as the runtime lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeContainer {
    /// Its id (the name its cgroup carries).
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The runtime's namespace it was found in (containerd's `k8s.io`, `moby`).
    pub runtime_namespace: String,
}

impl RuntimeContainer {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// True for a pod's sandbox (the pause container holding the pod's namespaces).
    pub fn is_sandbox(&self) -> bool {
        self.label(CRI_KIND) == Some("sandbox")
    }
}

/// Something that lists a node's containers.
pub trait ContainerRuntime: Send {
    /// Every container with its labels.
    fn containers(&mut self) -> Result<Vec<RuntimeContainer>, Error>;

    /// What to call it in messages (`containerd at /run/containerd/containerd.sock`).
    fn describe(&self) -> String;
}

/// containerd's API on its Unix socket.
pub struct Containerd {
    socket: PathBuf,
    namespaces: Vec<String>,
    timeout: Duration,
    rt: tokio::runtime::Runtime,
    channel: Option<Channel>,
}

impl std::fmt::Debug for Containerd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Containerd")
            .field("socket", &self.socket)
            .field("namespaces", &self.namespaces)
            .finish()
    }
}

impl Containerd {
    /// A client of the containerd at `socket`, asking `namespaces` (all
    /// when empty). Nothing is connected before the first call.
    pub fn new(socket: &Path, namespaces: Vec<String>, timeout: Duration) -> Result<Self, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::RuntimeThread { source })?;
        Ok(Self {
            socket: socket.to_owned(),
            namespaces,
            timeout,
            rt,
            channel: None,
        })
    }

    fn call_error(&self, what: &str, reason: impl std::fmt::Display) -> Error {
        Error::Runtime {
            runtime: self.describe(),
            what: what.to_owned(),
            reason: reason.to_string(),
        }
    }

    async fn list(
        channel: Channel,
        fixed: &[String],
    ) -> Result<Vec<RuntimeContainer>, (&'static str, String)> {
        let namespaces = if fixed.is_empty() {
            NamespacesClient::new(channel.clone())
                .list(ListNamespacesRequest::default())
                .await
                .map_err(|e| ("listing namespaces", e.message().to_owned()))?
                .into_inner()
                .namespaces
                .into_iter()
                .map(|n| n.name)
                .collect()
        } else {
            fixed.to_vec()
        };
        let mut out = Vec::new();
        for ns in namespaces {
            let mut req = Request::new(ListContainersRequest::default());
            let value = ns.parse().map_err(|_| {
                (
                    "naming a namespace",
                    format!("{ns:?} is not a valid header value"),
                )
            })?;
            req.metadata_mut().insert("containerd-namespace", value);
            let list = ContainersClient::new(channel.clone())
                .list(req)
                .await
                .map_err(|e| ("listing containers", e.message().to_owned()))?
                .into_inner();
            out.extend(list.containers.into_iter().map(|c| RuntimeContainer {
                id: c.id,
                labels: c.labels.into_iter().collect(),
                runtime_namespace: ns.clone(),
            }));
        }
        Ok(out)
    }
}

impl ContainerRuntime for Containerd {
    fn containers(&mut self) -> Result<Vec<RuntimeContainer>, Error> {
        if !self.socket.exists() {
            self.channel = None;
            return Err(self.call_error("connecting", "the socket does not exist"));
        }
        let channel = match &self.channel {
            Some(c) => c.clone(),
            None => {
                let socket = self.socket.clone();
                let connected = self.rt.block_on(async {
                    tokio::time::timeout(self.timeout, containerd_client::connect(socket)).await
                });
                match connected {
                    Ok(Ok(c)) => {
                        self.channel = Some(c.clone());
                        c
                    }
                    Ok(Err(e)) => return Err(self.call_error("connecting", e)),
                    Err(_) => return Err(self.call_error("connecting", "timed out")),
                }
            }
        };
        let namespaces = self.namespaces.clone();
        let listed = self.rt.block_on(async {
            tokio::time::timeout(self.timeout, Self::list(channel, &namespaces)).await
        });
        match listed {
            Ok(Ok(list)) => Ok(list),
            Ok(Err((what, reason))) => {
                // A restarted containerd needs a new connection.
                self.channel = None;
                Err(self.call_error(what, reason))
            }
            Err(_) => {
                self.channel = None;
                Err(self.call_error("listing containers", "timed out"))
            }
        }
    }

    fn describe(&self) -> String {
        format!("containerd at {}", self.socket.display())
    }
}
