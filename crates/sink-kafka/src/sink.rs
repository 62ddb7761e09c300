//! The Kafka sink: encodes exchanges and hands them to librdkafka without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use capture_core::model::Exchange;
use capture_core::stage::{Sink, SinkError};
use capture_core::stats::{Counters, DropReason};
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::format::{Message, MessageFormat};
use crate::{Error, KafkaConfig};

/// Delivery outcomes, shared between the sink and librdkafka's callbacks.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Messages the broker acknowledged.
    pub acked: AtomicU64,
    /// Messages that failed after being queued (timeout, broker error).
    pub failed: AtomicU64,
    /// Messages dropped because the producer queue was full.
    pub queue_full: AtomicU64,
    /// Exchanges the format declined (counted under the format's reason).
    pub declined: AtomicU64,
}

impl Deliveries {
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A snapshot of a sink's delivery outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Messages the broker acknowledged.
    pub acked: u64,
    /// Messages that failed after being queued (counted `sink_delivery_failed`).
    pub failed: u64,
    /// Messages dropped on a full queue (counted `sink_queue_full`).
    pub queue_full: u64,
    /// Exchanges the format declined (counted `filtered` or `output_limit`).
    pub declined: u64,
    /// Messages queued or in flight right now.
    pub in_flight: u64,
}

struct DeliveryContext {
    counters: Arc<Counters>,
    deliveries: Arc<Deliveries>,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => log::error!("librdkafka {fac}: {message}"),
            RDKafkaLogLevel::Warning => log::warn!("librdkafka {fac}: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                log::info!("librdkafka {fac}: {message}");
            }
            RDKafkaLogLevel::Debug => log::debug!("librdkafka {fac}: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Broker-down and similar transient conditions: librdkafka reconnects by itself.
        log::warn!("Kafka client: {error}: {reason}");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.deliveries.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                let n = self.deliveries.failed.fetch_add(1, Ordering::Relaxed);
                self.counters.dropped(DropReason::SinkDeliveryFailed, 1);
                if n.is_power_of_two() || n == 0 {
                    log::warn!("Kafka delivery failed ({} so far): {e}", n + 1);
                }
            }
        }
    }
}

/// A [`Sink`] that produces one Kafka message per exchange.
///
/// `write` never waits for the broker: messages go to librdkafka's bounded
/// queue, which batches, compresses and sends them from its own threads. A
/// full queue drops the message (counted as
/// [`DropReason::SinkQueueFull`]); a message the broker does not
/// acknowledge within [`KafkaConfig::message_timeout`] is counted as
/// [`DropReason::SinkDeliveryFailed`]. When the broker goes away,
/// librdkafka reconnects by itself and delivery resumes.
pub struct KafkaSink {
    producer: Arc<BaseProducer<DeliveryContext>>,
    topic: String,
    format: Box<dyn MessageFormat>,
    counters: Arc<Counters>,
    deliveries: Arc<Deliveries>,
    message: Message,
    flush_timeout: Duration,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl KafkaSink {
    /// Connects (lazily: the broker need not be up yet) and starts the
    /// thread that collects delivery reports. Drops are counted in
    /// `counters`: take them from the pipeline's registry
    /// (`PipelineBuilder::stats_registry().counters()`) to see them in its stats.
    pub fn new(
        config: &KafkaConfig,
        format: impl MessageFormat + 'static,
        counters: Arc<Counters>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let deliveries = Arc::new(Deliveries::default());
        let context = DeliveryContext {
            counters: counters.clone(),
            deliveries: deliveries.clone(),
        };
        let producer: BaseProducer<DeliveryContext> = config
            .client_config()
            .create_with_context(context)
            .map_err(|source| Error::Producer {
                brokers: config.brokers.clone(),
                source,
            })?;
        let producer = Arc::new(producer);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let producer = producer.clone();
            let stop = stop.clone();
            let interval = config.poll_interval;
            std::thread::Builder::new()
                .name("kafka-deliveries".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        producer.poll(interval);
                    }
                })
                .map_err(|e| Error::Config(format!("cannot start the delivery thread: {e}")))?
        };
        Ok(Self {
            producer,
            topic: config.topic.clone(),
            format: Box::new(format),
            counters,
            deliveries,
            message: Message::default(),
            flush_timeout: config.flush_timeout,
            stop,
            poller: Some(poller),
        })
    }

    /// The counters drops are recorded in.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Delivery outcomes so far.
    pub fn delivery_stats(&self) -> DeliveryStats {
        let d = &self.deliveries;
        DeliveryStats {
            acked: Deliveries::get(&d.acked),
            failed: Deliveries::get(&d.failed),
            queue_full: Deliveries::get(&d.queue_full),
            declined: Deliveries::get(&d.declined),
            in_flight: u64::try_from(self.producer.in_flight_count()).unwrap_or(0),
        }
    }

    /// A handle to read delivery outcomes after the sink moved into a pipeline.
    pub fn deliveries(&self) -> Arc<Deliveries> {
        self.deliveries.clone()
    }

    /// Encodes and queues one exchange; never blocks.
    pub fn send(&mut self, exchange: &Exchange) {
        self.message.clear();
        if let Err(reason) = self.format.encode(exchange, &mut self.message) {
            self.deliveries.declined.fetch_add(1, Ordering::Relaxed);
            self.counters.dropped(reason, 1);
            return;
        }
        let m = &self.message;
        let mut record = BaseRecord::to(&self.topic).key(&m.key).payload(&m.payload);
        if !m.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
            for (k, v) in &m.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(v),
                });
            }
            record = record.headers(headers);
        }
        if let Err((e, _)) = self.producer.send(record) {
            if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) {
                self.deliveries.queue_full.fetch_add(1, Ordering::Relaxed);
                self.counters.dropped(DropReason::SinkQueueFull, 1);
            } else {
                let n = self.deliveries.failed.fetch_add(1, Ordering::Relaxed);
                self.counters.dropped(DropReason::SinkDeliveryFailed, 1);
                if n.is_power_of_two() || n == 0 {
                    log::warn!("Kafka refused a message for {}: {e}", self.topic);
                }
            }
        }
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, batch: &mut Vec<Exchange>) -> Result<(), SinkError> {
        for ex in batch.drain(..) {
            self.send(&ex);
        }
        Ok(())
    }

    /// Waits up to [`KafkaConfig::flush_timeout`] for queued messages; those
    /// still undelivered then are counted as failed when the sink is dropped.
    fn flush(&mut self) -> Result<(), SinkError> {
        if let Err(e) = self.producer.flush(self.flush_timeout) {
            log::warn!(
                "Kafka flush: {} message(s) not delivered within {:?}: {e}",
                self.producer.in_flight_count(),
                self.flush_timeout
            );
        }
        Ok(())
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.poller.take() {
            let _ = p.join();
        }
        // Dropping the producer purges what is left; the purge reports arrive
        // through the delivery callback and are counted as failures.
    }
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic)
            .field("format", &self.format.name())
            .field("deliveries", &self.delivery_stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonFormat;

    fn create(cfg: &KafkaConfig) -> Result<KafkaSink, Error> {
        KafkaSink::new(cfg, JsonFormat, Arc::new(Counters::default()))
    }

    #[test]
    fn unknown_librdkafka_property_is_an_error_naming_the_brokers() {
        let cfg = KafkaConfig::new("127.0.0.1:1", "t").property("no.such.property", "1");
        let e = create(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("127.0.0.1:1") && e.contains("no.such.property"),
            "{e}"
        );
    }

    #[test]
    fn invalid_config_is_refused_before_librdkafka() {
        let cfg = KafkaConfig {
            queue_capacity: 0,
            ..KafkaConfig::new("127.0.0.1:1", "t")
        };
        assert!(matches!(create(&cfg), Err(Error::Config(_))));
    }

    #[test]
    fn sasl_plain_properties_are_accepted() {
        let cfg = KafkaConfig::new("127.0.0.1:1", "t")
            .property("security.protocol", "SASL_PLAINTEXT")
            .property("sasl.mechanism", "PLAIN")
            .property("sasl.username", "u")
            .property("sasl.password", "p");
        assert!(create(&cfg).is_ok());
    }

    #[cfg(feature = "ssl")]
    #[test]
    fn tls_and_scram_properties_are_accepted_with_the_ssl_feature() {
        let cfg = KafkaConfig::new("127.0.0.1:1", "t")
            .property("security.protocol", "SASL_SSL")
            .property("sasl.mechanism", "SCRAM-SHA-512")
            .property("sasl.username", "u")
            .property("sasl.password", "p")
            .property("ssl.endpoint.identification.algorithm", "none");
        assert!(create(&cfg).is_ok());
    }

    #[cfg(not(feature = "ssl"))]
    #[test]
    fn tls_without_the_ssl_feature_is_a_clear_error() {
        let cfg = KafkaConfig::new("127.0.0.1:1", "t").property("security.protocol", "SSL");
        let e = create(&cfg).unwrap_err().to_string();
        assert!(e.contains("security.protocol"), "{e}");
    }
}
