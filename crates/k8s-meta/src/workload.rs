//! The workload that owns a pod, told from the pod's name and labels alone
//! (no API server): the labels each controller puts on its pods and the
//! names it gives them.
//!
//! | controller | label on its pods | pod name |
//! |---|---|---|
//! | Deployment (via a ReplicaSet) | `pod-template-hash=<h>` | `<deployment>-<h>-<5 chars>` |
//! | StatefulSet | `controller-revision-hash`, `statefulset.kubernetes.io/pod-name` | `<statefulset>-<ordinal>` |
//! | DaemonSet | `controller-revision-hash`, `pod-template-generation` | `<daemonset>-<5 chars>` |
//! | Job | `job-name=<job>` (`batch.kubernetes.io/job-name`) | `<job>-<5 chars>` |
//! | CronJob (via a Job) | `job-name=<cronjob>-<minutes since 1970>` | `<job>-<5 chars>` |
//!
//! Anything else is its own workload: the pod's name.

use capture_core::model::WorkloadKind;

/// The workload's kind and name for a pod.
pub fn workload_of(pod_name: &str, labels: &[(String, String)]) -> (WorkloadKind, String) {
    let label = |name: &str| {
        labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(job) = label("batch.kubernetes.io/job-name").or_else(|| label("job-name"))
        && !job.is_empty()
    {
        return match cronjob_of(job) {
            Some(cron) => (WorkloadKind::CronJob, cron.to_owned()),
            None => (WorkloadKind::Job, job.to_owned()),
        };
    }
    if let Some(hash) = label("pod-template-hash").filter(|h| !h.is_empty()) {
        let marker = format!("-{hash}");
        if let Some(at) = pod_name.rfind(&marker).filter(|&at| at > 0)
            && let Some(deployment) = pod_name.get(..at)
        {
            return (WorkloadKind::Deployment, deployment.to_owned());
        }
    }
    if label("controller-revision-hash").is_some()
        && let Some((prefix, suffix)) = pod_name.rsplit_once('-')
        && !prefix.is_empty()
    {
        let ordinal = !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit());
        if label("statefulset.kubernetes.io/pod-name").is_some() || ordinal {
            return (WorkloadKind::StatefulSet, prefix.to_owned());
        }
        return (WorkloadKind::DaemonSet, prefix.to_owned());
    }
    (WorkloadKind::Pod, pod_name.to_owned())
}

/// The CronJob behind a Job name: `<cronjob>-<scheduled minute>`, the
/// minute being 8 or more digits since the epoch.
fn cronjob_of(job: &str) -> Option<&str> {
    let (prefix, stamp) = job.rsplit_once('-')?;
    (!prefix.is_empty() && stamp.len() >= 8 && stamp.bytes().all(|b| b.is_ascii_digit()))
        .then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn deployment_from_the_template_hash() {
        let l = labels(&[("app", "web"), ("pod-template-hash", "7d9f8c6b5")]);
        assert_eq!(
            workload_of("web-frontend-7d9f8c6b5-x2k4p", &l),
            (WorkloadKind::Deployment, "web-frontend".into())
        );
        // A name that does not follow the pattern is its own workload.
        assert_eq!(
            workload_of("renamed", &l),
            (WorkloadKind::Pod, "renamed".into())
        );
        let empty = labels(&[("pod-template-hash", "")]);
        assert_eq!(workload_of("a-b-c", &empty).0, WorkloadKind::Pod);
    }

    #[test]
    fn statefulset_and_daemonset_from_the_revision_hash() {
        let sts = labels(&[
            ("controller-revision-hash", "ledger-6c9f"),
            ("statefulset.kubernetes.io/pod-name", "ledger-12"),
        ]);
        assert_eq!(
            workload_of("ledger-12", &sts),
            (WorkloadKind::StatefulSet, "ledger".into())
        );
        let ordinal_only = labels(&[("controller-revision-hash", "x")]);
        assert_eq!(
            workload_of("db-0", &ordinal_only),
            (WorkloadKind::StatefulSet, "db".into())
        );
        let ds = labels(&[
            ("controller-revision-hash", "5b8f"),
            ("pod-template-generation", "3"),
        ]);
        assert_eq!(
            workload_of("node-agent-q7zxv", &ds),
            (WorkloadKind::DaemonSet, "node-agent".into())
        );
        assert_eq!(workload_of("-x", &ds).0, WorkloadKind::Pod);
    }

    #[test]
    fn job_and_cronjob_from_the_job_name() {
        let job = labels(&[("job-name", "migrate-db"), ("controller-uid", "u")]);
        assert_eq!(
            workload_of("migrate-db-8x2kq", &job),
            (WorkloadKind::Job, "migrate-db".into())
        );
        let cron = labels(&[("batch.kubernetes.io/job-name", "nightly-report-29012345")]);
        assert_eq!(
            workload_of("nightly-report-29012345-abcde", &cron),
            (WorkloadKind::CronJob, "nightly-report".into())
        );
        // Seven digits are a version, not a schedule.
        let short = labels(&[("job-name", "load-1234567")]);
        assert_eq!(workload_of("p", &short).0, WorkloadKind::Job);
    }

    #[test]
    fn a_bare_pod_is_its_own_workload() {
        assert_eq!(
            workload_of("debug-shell", &[]),
            (WorkloadKind::Pod, "debug-shell".into())
        );
        assert_eq!(workload_of("", &[]), (WorkloadKind::Pod, String::new()));
    }
}
