//! Who is talking, in Kubernetes terms: the pod and container on each end
//! of a connection, as a node knows them (see the `k8s-meta` crate, which
//! fills them in).
//!
//! Each end is shared (`Arc`): attributing an exchange clones two pointers,
//! never a string. Unknown stays absent, never guessed.

use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// The kind of controller that owns a pod, as far as the pod's name and
/// labels tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkloadKind {
    /// A Deployment (its ReplicaSet's pods carry `pod-template-hash`).
    Deployment,
    /// A StatefulSet (`controller-revision-hash`, name ending in an ordinal).
    StatefulSet,
    /// A DaemonSet (`controller-revision-hash` and `pod-template-generation`).
    DaemonSet,
    /// A Job (`job-name`).
    Job,
    /// A CronJob (`job-name` ending in the schedule's minute stamp).
    CronJob,
    /// No controller could be told: the workload is the pod itself.
    Pod,
}

impl WorkloadKind {
    /// The name used in JSON records (Kubernetes' kind name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
            Self::Pod => "Pod",
        }
    }
}

/// A pod: where it lives, what it is called, what owns it and its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// Its Kubernetes namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// The workload's name (the pod's name when no controller is told).
    pub workload: String,
    /// The workload's kind.
    pub workload_kind: WorkloadKind,
    /// The pod's labels, sorted by name (kubelet's `io.kubernetes.*`
    /// bookkeeping labels left out).
    pub labels: Vec<(String, String)>,
}

impl Pod {
    /// The value of label `name`, if set.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The labels as one JSON object in a string, e.g. `{"app":"shop"}`:
    /// the form Akto's `tag` field takes.
    pub fn labels_json(&self) -> String {
        let mut out = Vec::with_capacity(16 + self.labels.len() * 24);
        out.push(b'{');
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            super::json::string(&mut out, k);
            out.push(b':');
            super::json::string(&mut out, v);
        }
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }
}

/// One end of a connection: a pod and, where the node can tell which, the
/// container whose process owns the socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K8sEnd {
    /// The pod.
    pub pod: Arc<Pod>,
    /// The container's name, when the socket's owner is known.
    pub container: Option<Arc<str>>,
}

impl K8sEnd {
    /// An end known as `pod` and, optionally, one of its containers.
    pub fn new(pod: Arc<Pod>, container: Option<Arc<str>>) -> Self {
        Self { pod, container }
    }
}

impl fmt::Display for K8sEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pod.namespace, self.pod.name)?;
        if let Some(c) = &self.container {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

impl Serialize for K8sEnd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("namespace", &self.pod.namespace)?;
        m.serialize_entry("pod", &self.pod.name)?;
        if let Some(c) = &self.container {
            m.serialize_entry("container", &**c)?;
        }
        m.serialize_entry("workload", &self.pod.workload)?;
        m.serialize_entry("workload_kind", self.pod.workload_kind.as_str())?;
        m.end()
    }
}

/// The JSON form of an end, for reading records back.
#[derive(Deserialize)]
struct K8sEndRecord {
    namespace: String,
    pod: String,
    container: Option<String>,
    workload: String,
    workload_kind: WorkloadKind,
}

impl<'de> Deserialize<'de> for K8sEnd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = K8sEndRecord::deserialize(d)?;
        Ok(Self {
            pod: Arc::new(Pod {
                namespace: r.namespace,
                name: r.pod,
                uid: String::new(),
                workload: r.workload,
                workload_kind: r.workload_kind,
                labels: Vec::new(),
            }),
            container: r.container.map(Arc::from),
        })
    }
}

/// The pods on both ends of a connection, each absent when unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sConn {
    /// The client's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<K8sEnd>,
    /// The server's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<K8sEnd>,
}

impl K8sConn {
    /// True when neither end is known (the record then has no `k8s` object).
    pub fn is_empty(&self) -> bool {
        self.client.is_none() && self.server.is_none()
    }

    /// The ends that are known.
    pub fn ends(&self) -> impl Iterator<Item = &K8sEnd> {
        self.client.iter().chain(self.server.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_json_is_an_object_of_strings() {
        let pod = Pod {
            namespace: "shop".into(),
            name: "web-7d9f-x2k4p".into(),
            uid: "u".into(),
            workload: "web".into(),
            workload_kind: WorkloadKind::Deployment,
            labels: vec![("app".into(), "w\"eb".into()), ("tier".into(), "1".into())],
        };
        let v: serde_json::Value = serde_json::from_str(&pod.labels_json()).unwrap();
        assert_eq!(v["app"], "w\"eb");
        assert_eq!(v["tier"], "1");
        assert_eq!(pod.label("tier"), Some("1"));
        assert_eq!(pod.label("x"), None);
        let empty = Pod {
            labels: Vec::new(),
            ..pod
        };
        assert_eq!(empty.labels_json(), "{}");
    }
}
