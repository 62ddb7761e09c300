//! Kafka TLS and SASL as Akto's collector configures them, and a startup
//! check that turns a wrong password or CA into a clear error.
//!
//! Akto's collector (`kafka.go`) dials with TLS when `USE_TLS=true`,
//! trusting the CA in `TLS_CA_CERT_PATH` — and by default not verifying
//! the broker at all (`INSECURE_SKIP_VERIFY` defaults to true) — and
//! authenticates with SASL/PLAIN when `IS_AUTH_IMPLEMENTED=true` and both
//! `KAFKA_USERNAME` and `KAFKA_PASSWORD` are set. The same variables map
//! here onto librdkafka's `security.protocol`, `ssl.*` and `sasl.*`
//! properties; `KAFKA_SASL_MECHANISM` (cleartap's own) also offers
//! SCRAM-SHA-256 and SCRAM-SHA-512.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use sink_kafka::KafkaConfig;

use crate::Error;
use crate::env::{Env, invalid};

/// The SASL mechanism the agent authenticates with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN, the one Akto's collector uses.
    Plain,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// librdkafka's name of the mechanism.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// TLS to the broker (`USE_TLS=true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// The CA bundle that signs the broker's certificate (`TLS_CA_CERT_PATH`).
    /// `None`: the system's trust store (only when verification is off and
    /// the default path does not exist).
    pub ca: Option<PathBuf>,
    /// Whether the broker's certificate and name are checked
    /// (`INSECURE_SKIP_VERIFY=false`; Akto's default is not to check).
    pub verify: bool,
}

/// SASL authentication (`IS_AUTH_IMPLEMENTED=true`).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// The mechanism (`KAFKA_SASL_MECHANISM`, default PLAIN).
    pub mechanism: SaslMechanism,
    /// `KAFKA_USERNAME`.
    pub username: String,
    /// `KAFKA_PASSWORD`.
    pub password: String,
}

impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSettings")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// How the agent secures its Kafka connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// TLS, when `USE_TLS=true`.
    pub tls: Option<TlsSettings>,
    /// SASL, when `IS_AUTH_IMPLEMENTED=true`.
    pub sasl: Option<SaslSettings>,
}

/// Akto's default CA path, relative to the working directory.
const DEFAULT_CA: &str = "./ca.crt";

impl KafkaSecurity {
    /// Reads `USE_TLS`, `TLS_CA_CERT_PATH`, `INSECURE_SKIP_VERIFY`,
    /// `IS_AUTH_IMPLEMENTED`, `KAFKA_USERNAME`, `KAFKA_PASSWORD` and
    /// `KAFKA_SASL_MECHANISM`.
    ///
    /// Where Akto's collector quietly goes without (TLS when the CA file
    /// cannot be read, SASL when a credential is empty), this is an error.
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        let tls = if env.flag("USE_TLS", false)? {
            let verify = !env.flag("INSECURE_SKIP_VERIFY", true)?;
            let explicit = env.get("TLS_CA_CERT_PATH");
            let path = PathBuf::from(explicit.unwrap_or(DEFAULT_CA));
            let readable = std::fs::File::open(&path).is_ok();
            let ca = match (readable, explicit.is_some() || verify) {
                (true, _) => Some(path),
                (false, false) => None,
                (false, true) => {
                    return Err(invalid(
                        "TLS_CA_CERT_PATH",
                        &path.display().to_string(),
                        "cannot read the CA certificate: give the PEM file that signs the \
                         broker's certificate, or set INSECURE_SKIP_VERIFY=true",
                    ));
                }
            };
            Some(TlsSettings { ca, verify })
        } else {
            None
        };
        let sasl = if env.flag("IS_AUTH_IMPLEMENTED", false)? {
            let mechanism = match env.get("KAFKA_SASL_MECHANISM") {
                None => SaslMechanism::Plain,
                Some(m) if m.eq_ignore_ascii_case("PLAIN") => SaslMechanism::Plain,
                Some(m) if m.eq_ignore_ascii_case("SCRAM-SHA-256") => SaslMechanism::ScramSha256,
                Some(m) if m.eq_ignore_ascii_case("SCRAM-SHA-512") => SaslMechanism::ScramSha512,
                Some(m) => {
                    return Err(invalid(
                        "KAFKA_SASL_MECHANISM",
                        m,
                        "expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    ));
                }
            };
            let username = env.get("KAFKA_USERNAME").ok_or(Error::MissingEnv {
                var: "KAFKA_USERNAME",
                hint: "IS_AUTH_IMPLEMENTED=true needs the Kafka user name",
            })?;
            let password = env.get("KAFKA_PASSWORD").ok_or(Error::MissingEnv {
                var: "KAFKA_PASSWORD",
                hint: "IS_AUTH_IMPLEMENTED=true needs the Kafka password",
            })?;
            Some(SaslSettings {
                mechanism,
                username: username.to_owned(),
                password: password.to_owned(),
            })
        } else {
            None
        };
        Ok(Self { tls, sasl })
    }

    /// librdkafka's `security.protocol` for these settings.
    pub const fn protocol(&self) -> &'static str {
        match (&self.tls, &self.sasl) {
            (None, None) => "PLAINTEXT",
            (Some(_), None) => "SSL",
            (None, Some(_)) => "SASL_PLAINTEXT",
            (Some(_), Some(_)) => "SASL_SSL",
        }
    }

    /// Adds the librdkafka properties these settings stand for to `config`.
    pub fn apply(&self, config: KafkaConfig) -> KafkaConfig {
        let mut c = config.property("security.protocol", self.protocol());
        if let Some(tls) = &self.tls {
            if let Some(ca) = &tls.ca {
                c = c.property("ssl.ca.location", ca.display().to_string());
            }
            c = c
                .property(
                    "enable.ssl.certificate.verification",
                    if tls.verify { "true" } else { "false" },
                )
                .property(
                    "ssl.endpoint.identification.algorithm",
                    if tls.verify { "https" } else { "none" },
                );
        }
        if let Some(sasl) = &self.sasl {
            c = c
                .property("sasl.mechanism", sasl.mechanism.as_str())
                .property("sasl.username", &sasl.username)
                .property("sasl.password", &sasl.password);
        }
        c
    }
}

/// Records the errors librdkafka reports while the startup check runs.
#[derive(Default)]
struct ErrorLog {
    errors: Arc<Mutex<Vec<String>>>,
}

impl ClientContext for ErrorLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // A close right after setup is logged at debug level when no
        // request was waiting for an answer: keep that one too.
        if matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
                | RDKafkaLogLevel::Warning
        ) || closed_after_setup(message)
        {
            self.push(format!("{fac}: {message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.push(format!("{error}: {reason}"));
    }
}

impl rdkafka::producer::ProducerContext for ErrorLog {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

impl ErrorLog {
    fn push(&self, e: String) {
        if let Ok(mut v) = self.errors.lock()
            && v.len() < 64
        {
            v.push(e);
        }
    }
}

/// What the broker check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerCheck {
    /// The broker answered with its metadata: connection, TLS and SASL work.
    Reachable,
    /// No broker answered within the time allowed. Akto's collector keeps
    /// retrying in this case, and so does the agent (librdkafka reconnects).
    Unreachable(String),
}

/// Connects to the brokers of `config` and asks for metadata, waiting at
/// most `timeout`. A TLS or SASL failure (wrong CA, wrong password, wrong
/// mechanism) is an [`Error::Broker`] saying which setting to check, and so
/// is a broker that keeps closing a connection without SASL at its first
/// request, as a listener that demands SASL does; an unreachable broker is
/// reported as [`BrokerCheck::Unreachable`].
pub fn check_broker(config: &KafkaConfig, timeout: Duration) -> Result<BrokerCheck, Error> {
    let log = ErrorLog::default();
    let errors = log.errors.clone();
    // A TLS client talking to a plaintext listener waits in the handshake
    // until the connection setup times out: let that happen within `timeout`.
    let setup_ms = (timeout.as_millis() * 4 / 5).clamp(1000, 300_000);
    // Broker debug logs carry the closes librdkafka deems idle (see
    // `closed_after_setup`); `ErrorLog` keeps only those of them.
    let producer: BaseProducer<ErrorLog> = config
        .client_config()
        .set("socket.connection.setup.timeout.ms", setup_ms.to_string())
        .set("debug", "broker")
        .set_log_level(RDKafkaLogLevel::Debug)
        .create_with_context(log)
        .map_err(|source| sink_kafka::Error::Producer {
            brokers: config.brokers.clone(),
            source,
        })?;
    // librdkafka hands its errors (TLS handshake, SASL) to the context when
    // the client is polled: poll while asking for metadata.
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer");
    let sasl = config.properties.contains_key("sasl.mechanism");
    let mut closed_since = None;
    loop {
        producer.poll(Duration::from_millis(100));
        let seen = errors.lock().map(|v| v.clone()).unwrap_or_default();
        if let Some(reason) = seen.iter().find(|e| is_security_error(e)).cloned() {
            return Err(Error::Broker {
                brokers: config.brokers.clone(),
                hint: hint(&reason).into(),
                reason,
            });
        }
        // A listener that demands SASL answers ApiVersions, then closes the
        // connection at the next request; librdkafka only says it was
        // closed once set up. Once only, it could be a broker restarting:
        // an error only when metadata still fails a while later (or when
        // the time is up, as librdkafka may report the close late).
        let closed = (!sasl)
            .then(|| seen.iter().find(|e| closed_after_setup(e)))
            .flatten();
        if let Some(since) = closed.map(|_| *closed_since.get_or_insert_with(Instant::now)) {
            let left = deadline.saturating_duration_since(Instant::now());
            if since.elapsed() >= CLOSED_AFTER_SETUP_GRACE || left.is_zero() {
                return Err(Error::Broker {
                    brokers: config.brokers.clone(),
                    reason: closed.cloned().unwrap_or_default(),
                    hint: "the broker closes the connection at the first request after \
                           connecting, as a listener that demands SASL does: set \
                           IS_AUTH_IMPLEMENTED=true with KAFKA_USERNAME and KAFKA_PASSWORD \
                           (and KAFKA_SASL_MECHANISM)"
                        .into(),
                });
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(BrokerCheck::Unreachable(
                seen.first().cloned().unwrap_or(last),
            ));
        }
        match producer
            .client()
            .fetch_metadata(None, left.min(Duration::from_millis(500)))
        {
            Ok(_) => {
                producer.poll(Duration::from_millis(100));
                let seen = errors.lock().map(|v| v.clone()).unwrap_or_default();
                if seen.iter().all(|e| !is_security_error(e)) {
                    return Ok(BrokerCheck::Reachable);
                }
            }
            Err(e) => last = e.to_string(),
        }
    }
}

/// How long a broker may keep closing set-up connections before the check
/// calls it a listener that demands SASL.
const CLOSED_AFTER_SETUP_GRACE: Duration = Duration::from_secs(2);

/// librdkafka's report of a connection the broker closed after the
/// connection was set up (ApiVersions answered): `…: Disconnected:
/// connection closed by peer: receive 0 after POLLIN (after 0ms in state
/// UP)`, or `Send failed: Broken pipe (after 0ms in state UP)` when the
/// close met the next request. A request that timed out is no such close.
fn closed_after_setup(e: &str) -> bool {
    let e = text(e);
    e.contains("ms in state up)") && !e.contains("timed out")
}

fn is_security_error(e: &str) -> bool {
    let e = text(e);
    [
        "sasl",
        "authentication",
        "ssl",
        "certificate",
        "tls",
        "handshake",
    ]
    .iter()
    .any(|w| e.contains(w))
}

/// A librdkafka message in lower case without the security protocol that
/// names each broker (`ssl://host:port/1: …`, `[thrd:sasl_ssl://…]`): a
/// refused connection to a TLS listener is no TLS error, and a certificate
/// refused on a SASL_SSL listener no SASL error.
fn text(e: &str) -> String {
    let mut e = e.to_ascii_lowercase();
    for scheme in ["sasl_plaintext://", "sasl_ssl://", "ssl://", "plaintext://"] {
        e = e.replace(scheme, "");
    }
    e
}

fn hint(reason: &str) -> &'static str {
    let r = text(reason);
    if r.contains("sasl") || r.contains("authentication") {
        "check KAFKA_USERNAME, KAFKA_PASSWORD and KAFKA_SASL_MECHANISM (IS_AUTH_IMPLEMENTED=true)"
    } else {
        "check TLS_CA_CERT_PATH (the CA that signs the broker's certificate), \
         INSECURE_SKIP_VERIFY and whether the broker's listener speaks TLS (USE_TLS)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka names each broker with its security protocol; that name
    /// says nothing about what went wrong.
    #[test]
    fn the_protocol_in_a_broker_name_classifies_nothing() {
        let refused = "FAIL: [thrd:ssl://127.0.0.1:1/bootstrap]: ssl://127.0.0.1:1/bootstrap: \
                       Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)";
        assert!(!is_security_error(refused));
        let cert = "FAIL: [thrd:sasl_ssl://b:9093/bootstrap]: sasl_ssl://b:9093/bootstrap: SSL \
                    handshake failed: certificate verify failed (after 4ms in state SSL_HANDSHAKE)";
        assert!(is_security_error(cert));
        assert!(hint(cert).contains("TLS_CA_CERT_PATH"), "{}", hint(cert));
        let scram = "sasl_ssl://b:9093/bootstrap: SASL authentication error: SASL SCRAM \
                     authentication failed (after 40ms in state AUTH_REQ)";
        assert!(hint(scram).contains("KAFKA_PASSWORD"));
    }

    #[test]
    fn a_close_after_setup_is_told_from_other_failures_in_state_up() {
        for closed in [
            "FAIL: b:9092/bootstrap: Disconnected: connection closed by peer: receive 0 after \
             POLLIN (after 0ms in state UP)",
            "FAIL: [thrd:ssl://b:9093/bootstrap]: ssl://b:9093/bootstrap: Send failed: Broken \
             pipe (after 0ms in state UP)",
        ] {
            assert!(closed_after_setup(closed), "{closed}");
            assert!(!is_security_error(closed), "{closed}");
        }
        for other in [
            "TERM: [thrd:ssl://b:9093/bootstrap]: ssl://b:9093/bootstrap: Received TERMINATE op \
             in state UP: 5 refcnts, 0 toppar(s)",
            "REQTMOUT: b:9092/1: Timed out MetadataRequest in flight (after 60001ms, timeout #0)",
            "FAIL: b:9092/1: 1 request(s) timed out: disconnect (after 61000ms in state UP)",
            "FAIL: b:9092/bootstrap: Disconnected while requesting ApiVersion (after 1ms in \
             state APIVERSION_QUERY)",
        ] {
            assert!(!closed_after_setup(other), "{other}");
        }
    }

    #[test]
    fn nothing_set_is_plaintext() {
        let s = KafkaSecurity::from_env(&Env::default()).unwrap();
        assert_eq!(s, KafkaSecurity::default());
        let c = s.apply(KafkaConfig::new("b:9092", "t"));
        assert_eq!(c.properties["security.protocol"], "PLAINTEXT");
    }

    #[test]
    fn tls_without_verification_needs_no_ca_like_akto_default() {
        let env = Env::from_pairs([("USE_TLS", "true")]);
        let s = KafkaSecurity::from_env(&env).unwrap();
        let tls = s.tls.clone().unwrap();
        assert!(!tls.verify);
        let c = s.apply(KafkaConfig::new("b:9093", "t"));
        assert_eq!(c.properties["security.protocol"], "SSL");
        assert_eq!(c.properties["enable.ssl.certificate.verification"], "false");
    }

    #[test]
    fn verification_needs_a_readable_ca() {
        let env = Env::from_pairs([
            ("USE_TLS", "true"),
            ("INSECURE_SKIP_VERIFY", "false"),
            ("TLS_CA_CERT_PATH", "/nonexistent/ca.pem"),
        ]);
        let e = KafkaSecurity::from_env(&env).unwrap_err().to_string();
        assert!(
            e.contains("TLS_CA_CERT_PATH") && e.contains("cannot read"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let ca_s = ca.display().to_string();
        let env = Env::from_pairs([
            ("USE_TLS", "true"),
            ("INSECURE_SKIP_VERIFY", "false"),
            ("TLS_CA_CERT_PATH", ca_s.as_str()),
        ]);
        let s = KafkaSecurity::from_env(&env).unwrap();
        let c = s.apply(KafkaConfig::new("b:9093", "t"));
        assert_eq!(c.properties["ssl.ca.location"], ca_s);
        assert_eq!(c.properties["enable.ssl.certificate.verification"], "true");
        assert_eq!(
            c.properties["ssl.endpoint.identification.algorithm"],
            "https"
        );
    }

    #[test]
    fn sasl_plain_by_default_scram_on_request_and_credentials_required() {
        let env = Env::from_pairs([
            ("IS_AUTH_IMPLEMENTED", "true"),
            ("KAFKA_USERNAME", "akto"),
            ("KAFKA_PASSWORD", "s3cret"),
        ]);
        let s = KafkaSecurity::from_env(&env).unwrap();
        assert_eq!(s.protocol(), "SASL_PLAINTEXT");
        assert!(!format!("{s:?}").contains("s3cret"));
        let c = s.apply(KafkaConfig::new("b:9092", "t"));
        assert_eq!(c.properties["sasl.mechanism"], "PLAIN");
        assert_eq!(c.properties["sasl.password"], "s3cret");

        let env = Env::from_pairs([
            ("IS_AUTH_IMPLEMENTED", "true"),
            ("USE_TLS", "true"),
            ("KAFKA_SASL_MECHANISM", "scram-sha-512"),
            ("KAFKA_USERNAME", "akto"),
            ("KAFKA_PASSWORD", "p"),
        ]);
        let s = KafkaSecurity::from_env(&env).unwrap();
        assert_eq!(s.protocol(), "SASL_SSL");
        assert_eq!(s.sasl.unwrap().mechanism, SaslMechanism::ScramSha512);

        let env = Env::from_pairs([("IS_AUTH_IMPLEMENTED", "true"), ("KAFKA_USERNAME", "u")]);
        let e = KafkaSecurity::from_env(&env).unwrap_err().to_string();
        assert!(e.contains("KAFKA_PASSWORD is not set"), "{e}");
        let env = Env::from_pairs([
            ("IS_AUTH_IMPLEMENTED", "true"),
            ("KAFKA_SASL_MECHANISM", "GSSAPI"),
        ]);
        let e = KafkaSecurity::from_env(&env).unwrap_err().to_string();
        assert!(e.contains("KAFKA_SASL_MECHANISM"), "{e}");
    }
}
