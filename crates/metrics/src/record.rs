//! Per-worker aggregation: each pipeline worker records into a shard of
//! its own (one uncontended lock per batch); scrapes and maps merge the
//! shards when they are read.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use capture_core::model::Exchange;
use capture_core::pipeline::{ExchangeObserver, ExchangeRecorder};

use crate::MetricsConfig;
use crate::labels::{
    self, Admission, METHOD_OTHER, METHODS, PROTOCOLS, STATUS_CLASSES, method_index, path_template,
    protocol_index, status_class,
};
use crate::view::{ExchangeView, Peer};

/// Upper bounds of the request-duration histogram, in seconds (Hubble's
/// and most HTTP dashboards' choice).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Series that folded traffic can land in: every method, status class and
/// protocol with `other` peers. Reserved under the series cap.
pub const FOLD_SERIES: usize = (METHODS.len() + 2) * STATUS_CLASSES.len() * PROTOCOLS.len();

/// One label set of the HTTP metrics.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    pub(crate) source: Peer,
    pub(crate) destination: Peer,
    pub(crate) method: u8,
    pub(crate) status_class: u8,
    pub(crate) protocol: u8,
    pub(crate) path: Option<Box<str>>,
}

/// Requests and their durations for one label set.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Series {
    pub(crate) requests: u64,
    /// Per-bucket (not cumulative) counts; the last is +Inf.
    pub(crate) buckets: [u64; DURATION_BUCKETS.len() + 1],
    pub(crate) duration_sum: f64,
    pub(crate) durations: u64,
}

impl Series {
    fn add(&mut self, other: &Series) {
        self.requests += other.requests;
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.duration_sum += other.duration_sum;
        self.durations += other.durations;
    }
}

/// One edge of the service map.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct EdgeKey {
    pub(crate) source: Peer,
    pub(crate) destination: Peer,
    pub(crate) protocol: u8,
}

/// Latency buckets of map edges: upper bounds 50 µs × √2ⁱ, up to ~14 min.
pub(crate) const LATENCY_BUCKETS: usize = 50;

pub(crate) fn latency_bound_secs(i: usize) -> f64 {
    50e-6 * 2f64.powf(i as f64 / 2.0)
}

/// The latency bucket of `d` seconds: the first whose bound is at least `d`.
fn latency_bucket(d: f64) -> usize {
    // One logarithm instead of a walk over the bounds; the bound check
    // corrects the rounding at a bucket's edge.
    let guess = ((d / 50e-6).log2() * 2.0).ceil();
    let mut i = if guess.is_nan() || guess < 0.0 {
        0
    } else {
        (guess as usize).min(LATENCY_BUCKETS)
    };
    if i > 0 && d <= latency_bound_secs(i - 1) {
        i -= 1;
    }
    i
}

/// Calls on one edge.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Edge {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) latency: [u64; LATENCY_BUCKETS + 1],
    pub(crate) first_ns: u64,
    pub(crate) last_ns: u64,
}

impl Default for Edge {
    fn default() -> Self {
        Self {
            calls: 0,
            errors: 0,
            latency: [0; LATENCY_BUCKETS + 1],
            first_ns: u64::MAX,
            last_ns: 0,
        }
    }
}

impl Edge {
    fn add(&mut self, o: &Edge) {
        self.calls += o.calls;
        self.errors += o.errors;
        for (a, b) in self.latency.iter_mut().zip(o.latency) {
            *a += b;
        }
        self.first_ns = self.first_ns.min(o.first_ns);
        self.last_ns = self.last_ns.max(o.last_ns);
    }

    /// The `q` quantile of the latency in seconds (the upper bound of its
    /// bucket: within a factor √2), or `None` without measured calls.
    pub(crate) fn quantile_secs(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(latency_bound_secs(i));
            }
        }
        Some(latency_bound_secs(LATENCY_BUCKETS))
    }
}

/// What was folded into `other` to keep label values bounded, by label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fold {
    /// A method outside the known list.
    Method,
    /// A path template beyond the template cap.
    Path,
    /// A label set beyond the series cap: its peers became `other`.
    Series,
    /// A map edge beyond the edge cap.
    Edge,
}

impl Fold {
    pub(crate) const ALL: [Fold; 4] = [Fold::Method, Fold::Path, Fold::Series, Fold::Edge];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Fold::Method => "method",
            Fold::Path => "path",
            Fold::Series => "series",
            Fold::Edge => "edge",
        }
    }
}

/// Rows by key, remembering the row used last: the exchanges of a
/// connection come together and share their labels, so most lookups
/// compare one key and hash none.
#[derive(Debug)]
struct Table<K, V> {
    rows: Vec<(K, V)>,
    index: HashMap<K, usize, foldhash::fast::RandomState>,
    last: usize,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            index: HashMap::default(),
            last: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Default> Table<K, V> {
    /// The row of `key`; a new key goes through `admit`, which returns the
    /// key to use (itself, or what it folds into).
    fn row(&mut self, key: K, admit: impl FnOnce(K) -> K) -> Option<&mut V> {
        let last_matches = self.rows.get(self.last).is_some_and(|(k, _)| *k == key);
        if !last_matches {
            self.last = match self.index.get(&key) {
                Some(&i) => i,
                None => {
                    let key = admit(key);
                    match self.index.get(&key) {
                        Some(&i) => i,
                        None => {
                            let i = self.rows.len();
                            self.index.insert(key.clone(), i);
                            self.rows.push((key, V::default()));
                            i
                        }
                    }
                }
            };
        }
        self.rows.get_mut(self.last).map(|(_, v)| v)
    }

    fn iter(&self) -> impl Iterator<Item = &(K, V)> {
        self.rows.iter()
    }
}

/// One worker's aggregates.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    series: Table<SeriesKey, Series>,
    edges: Table<EdgeKey, Edge>,
    folded: [u64; Fold::ALL.len()],
}

/// What every recorder shares: the caps, and the shards to merge.
#[derive(Debug)]
pub(crate) struct Shared {
    config: MetricsConfig,
    series: Admission<SeriesKey>,
    paths: Admission<Box<str>>,
    edges: Admission<EdgeKey>,
    shards: Mutex<Vec<Arc<Mutex<Shard>>>>,
}

/// The merged view of every shard at one moment.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub(crate) series: BTreeMap<SeriesKey, Series>,
    pub(crate) edges: BTreeMap<EdgeKey, Edge>,
    pub(crate) folded: [u64; Fold::ALL.len()],
}

impl Shared {
    pub(crate) fn new(config: MetricsConfig) -> Self {
        let series_cap = config.max_series.saturating_sub(FOLD_SERIES);
        Self {
            series: Admission::new(series_cap),
            paths: Admission::new(config.max_path_templates),
            edges: Admission::new(config.max_map_edges),
            shards: Mutex::default(),
            config,
        }
    }

    pub(crate) fn recorder(self: &Arc<Self>) -> Recorder {
        let shard = Arc::new(Mutex::new(Shard::default()));
        if let Ok(mut shards) = self.shards.lock() {
            shards.push(shard.clone());
        }
        Recorder {
            shared: self.clone(),
            shard,
        }
    }

    pub(crate) fn merged(&self) -> Merged {
        let mut m = Merged::default();
        let shards = self.shards.lock().map(|s| s.clone()).unwrap_or_default();
        for shard in shards {
            let Ok(s) = shard.lock() else { continue };
            for (k, v) in s.series.iter() {
                m.series.entry(k.clone()).or_default().add(v);
            }
            for (k, v) in s.edges.iter() {
                m.edges.entry(k.clone()).or_default().add(v);
            }
            for (a, b) in m.folded.iter_mut().zip(s.folded) {
                *a += b;
            }
        }
        m
    }
}

/// Records exchanges into one shard. A pipeline gets one per worker from
/// [`Metrics::observer`](crate::Metrics::observer); a program reading
/// records from files gets one from [`Metrics::recorder`](crate::Metrics::recorder).
#[derive(Debug)]
pub struct Recorder {
    shared: Arc<Shared>,
    shard: Arc<Mutex<Shard>>,
}

impl Recorder {
    /// Records the exchanges seen through `views`, taking the shard's lock once.
    pub fn record_views<'v>(&mut self, views: impl IntoIterator<Item = ExchangeView<'v>>) {
        let shared = &*self.shared;
        let Ok(mut shard) = self.shard.lock() else {
            return;
        };
        for v in views {
            shard.record(shared, &v);
        }
    }
}

impl ExchangeRecorder for Recorder {
    fn record(&mut self, batch: &[Exchange]) {
        self.record_views(batch.iter().map(ExchangeView::of));
    }
}

impl Shard {
    fn record(&mut self, shared: &Shared, v: &ExchangeView<'_>) {
        let method = method_index(v.method);
        if method == METHOD_OTHER {
            self.fold(Fold::Method);
        }
        let protocol = protocol_index(v.protocol);
        let path = if shared.config.path_templates {
            v.path.map(|p| {
                let t: Box<str> = path_template(p).into();
                if shared.paths.admit(&t) {
                    t
                } else {
                    self.fold(Fold::Path);
                    "other".into()
                }
            })
        } else {
            None
        };
        let key = SeriesKey {
            source: v.source.clone(),
            destination: v.destination.clone(),
            method,
            status_class: status_class(v.status),
            protocol,
            path,
        };
        let duration = v.duration_secs();
        let folded = &mut self.folded;
        let admit = |mut key: SeriesKey| {
            if !shared.series.admit(&key) {
                if let Some(n) = folded.get_mut(Fold::Series as usize) {
                    *n += 1;
                }
                key.source = Peer::Other;
                key.destination = Peer::Other;
                key.path = key.path.map(|_| "other".into());
            }
            key
        };
        if let Some(s) = self.series.row(key, admit) {
            s.requests += 1;
            if let Some(d) = duration {
                let i = DURATION_BUCKETS.partition_point(|b| *b < d);
                if let Some(b) = s.buckets.get_mut(i) {
                    *b += 1;
                }
                s.duration_sum += d;
                s.durations += 1;
            }
        }

        let edge = EdgeKey {
            source: v.source.clone(),
            destination: v.destination.clone(),
            protocol,
        };
        let folded = &mut self.folded;
        let admit = |mut edge: EdgeKey| {
            if !shared.edges.admit(&edge) {
                if let Some(n) = folded.get_mut(Fold::Edge as usize) {
                    *n += 1;
                }
                edge.source = Peer::Other;
                edge.destination = Peer::Other;
            }
            edge
        };
        if let Some(e) = self.edges.row(edge, admit) {
            e.calls += 1;
            e.errors += u64::from(v.is_error());
            e.first_ns = e.first_ns.min(v.start_ns);
            e.last_ns = e.last_ns.max(v.end_ns.unwrap_or(v.start_ns));
            if let Some(d) = duration
                && let Some(b) = e.latency.get_mut(latency_bucket(d))
            {
                *b += 1;
            }
        }
    }

    fn fold(&mut self, f: Fold) {
        if let Some(n) = self.folded.get_mut(f as usize) {
            *n += 1;
        }
    }
}

/// Hands out a [`Recorder`] per pipeline worker.
#[derive(Debug)]
pub(crate) struct Observer(pub(crate) Arc<Shared>);

impl ExchangeObserver for Observer {
    fn recorder(&self) -> Box<dyn ExchangeRecorder> {
        Box::new(self.0.recorder())
    }
}

/// Label values of a series key, in the order of [`SERIES_LABELS`].
pub(crate) fn series_labels(k: &SeriesKey) -> Vec<(&'static str, String)> {
    let (source, source_ns) = k.source.labels();
    let (destination, destination_ns) = k.destination.labels();
    let mut l = vec![
        ("source", source),
        ("source_namespace", source_ns.to_owned()),
        ("destination", destination),
        ("destination_namespace", destination_ns.to_owned()),
        ("method", labels::method_label(k.method).to_owned()),
        (
            "status_class",
            STATUS_CLASSES
                .get(usize::from(k.status_class))
                .copied()
                .unwrap_or("other")
                .to_owned(),
        ),
        ("protocol", protocol_label(k.protocol).to_owned()),
    ];
    if let Some(p) = &k.path {
        l.push(("path", p.to_string()));
    }
    l
}

pub(crate) fn protocol_label(i: u8) -> &'static str {
    PROTOCOLS.get(usize::from(i)).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_the_first_bound_at_least_the_value() {
        for d in [
            0.0,
            1e-9,
            50e-6,
            50.1e-6,
            70.7e-6,
            1e-3,
            0.5,
            1.0,
            3.0,
            1e6,
            f64::NAN,
        ] {
            let i = latency_bucket(d);
            let walk = (0..LATENCY_BUCKETS)
                .find(|&i| d <= latency_bound_secs(i))
                .unwrap_or(LATENCY_BUCKETS);
            assert_eq!(i, if d.is_nan() { 0 } else { walk }, "{d}");
        }
    }
}
