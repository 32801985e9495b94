//! The Kafka adapter of the event bus (`rdkafka`, librdkafka built from source).
//!
//! Publishing: an idempotent producer with `acks=all`, keyed by room, so a room's events keep
//! their order in one partition and a retried produce is not written twice. `publish` queues
//! the event in the producer (in call order) and returns once the broker has it, or with
//! `unavailable` after `DELIVERY_TIMEOUT`. A send never waits for it: the message and its
//! owed event are already durable in the store (the outbox, `chat::outbox`), which publishes
//! again whatever the broker did not confirm. A producer that hits a fatal error (its broker
//! lost its idempotence state, say) is replaced by a new one on the next publish.
//! Consuming: one consumer group per kind of work; an event's offset is stored only when the
//! consumer asks for the next one, i.e. after it handled this one, and committed in the
//! background: delivery is at least once, so consumers are idempotent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;

use crate::ports::{BusEvent, EventBus, HealthCheck, PortError, PortResult, Subscription};

/// Enough partitions for a handful of consumers per group to share the rooms.
const PARTITIONS: i32 = 6;
/// How long librdkafka keeps trying to deliver a queued event before giving up on it (the
/// outbox then publishes it again, so giving up loses nothing).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct KafkaBus {
    brokers: String,
    /// The prefix of the topic and of every consumer group, so that deployments (or test
    /// clusters) sharing a broker never read each other's events.
    namespace: String,
    /// `{namespace}.events`: the stored-message events.
    topic: String,
    producer: RwLock<FutureProducer>,
    /// Set by a delivery that failed fatally: the next publish builds a new producer.
    replace_producer: Arc<AtomicBool>,
}

fn new_producer(brokers: &str) -> anyhow::Result<FutureProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        )
        .create()
        .context("cannot create the Kafka producer")
}

impl KafkaBus {
    /// Connects the producer and makes sure the topic exists.
    pub async fn connect(brokers: &str, namespace: &str) -> anyhow::Result<Self> {
        let bus = Self::new(brokers, namespace)?;
        bus.ensure_topic().await?;
        Ok(bus)
    }

    /// The producer alone, without asking the broker anything: events published before the
    /// broker answers wait in the producer's queue (see `DELIVERY_TIMEOUT`).
    pub fn new(brokers: &str, namespace: &str) -> anyhow::Result<Self> {
        Ok(Self {
            brokers: brokers.to_owned(),
            namespace: namespace.to_owned(),
            topic: format!("{namespace}.events"),
            producer: RwLock::new(new_producer(brokers)?),
            replace_producer: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Creates the topic unless it exists.
    pub async fn ensure_topic(&self) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .context("cannot create the Kafka admin client")?;
        let topic = NewTopic::new(&self.topic, PARTITIONS, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = admin
            .create_topics(&[topic], &options)
            .await
            .context("cannot reach Kafka")?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
            }
        }
        Ok(())
    }

    /// The producer, replaced first if the last one failed fatally.
    fn producer(&self) -> PortResult<FutureProducer> {
        if self.replace_producer.swap(false, Ordering::SeqCst) {
            tracing::warn!("replacing the Kafka producer after a fatal error");
            let fresh = new_producer(&self.brokers).map_err(PortError::Other)?;
            *self.producer.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
        Ok(self
            .producer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn publish(&self, event: &BusEvent) -> PortResult<()> {
        let payload = serde_json::to_vec(event).map_err(|e| PortError::Other(e.into()))?;
        let record = FutureRecord::to(&self.topic)
            .key(event.key())
            .payload(&payload);
        let producer = self.producer()?;
        let delivery = producer.send_result(record).map_err(|(err, _)| {
            tracing::warn!(error = %err, "kafka publish refused");
            crate::metrics::METRICS.kafka_publish_errors.inc();
            PortError::Unavailable("kafka")
        })?;
        match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((err, _))) => {
                crate::metrics::METRICS.kafka_publish_errors.inc();
                tracing::warn!(error = %err, "kafka delivery failed; the outbox keeps the event");
                if producer.client().fatal_error().is_some() {
                    self.replace_producer.store(true, Ordering::SeqCst);
                }
                Err(PortError::Unavailable("kafka"))
            }
            Err(_) => {
                crate::metrics::METRICS.kafka_publish_errors.inc();
                Err(PortError::Unavailable("kafka"))
            }
        }
    }

    async fn subscribe(&self, group: &str) -> PortResult<Box<dyn Subscription>> {
        self.consumer(
            &format!("{}.{group}", self.namespace),
            group,
            "earliest",
            true,
        )
    }

    /// A consumer group of its own (a fresh name per call), reading from the topic's end and
    /// committing nothing: the group is forgotten once it stops.
    async fn watch(&self) -> PortResult<Box<dyn Subscription>> {
        let group = format!("{}.watch.{}", self.namespace, uuid::Uuid::new_v4().simple());
        self.consumer(&group, "watch", "latest", false)
    }
}

impl KafkaBus {
    /// A consumer in `group`, its lag reported under `label` (a name without the namespace
    /// or a watcher's unique part, so the metric keeps a handful of series).
    fn consumer(
        &self,
        group: &str,
        label: &str,
        start: &str,
        commit: bool,
    ) -> PortResult<Box<dyn Subscription>> {
        let lag = LagContext {
            lag: crate::metrics::METRICS
                .consumer_lag
                .with_label_values(&[label]),
        };
        let consumer: StreamConsumer<LagContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("auto.offset.reset", start)
            .set("enable.auto.commit", commit.to_string())
            .set("enable.auto.offset.store", "false")
            // Short sessions: a dead consumer's partitions move on quickly.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .set("statistics.interval.ms", "5000")
            .create_with_context(lag)
            .map_err(|e| PortError::Other(anyhow::anyhow!("kafka consumer: {e}")))?;
        consumer
            .subscribe(&[self.topic.as_str()])
            .map_err(|e| PortError::Other(anyhow::anyhow!("kafka subscribe: {e}")))?;
        Ok(Box::new(KafkaSubscription {
            consumer: Some(consumer),
            topic: self.topic.clone(),
            handled: None,
        }))
    }
}

struct KafkaSubscription {
    consumer: Option<StreamConsumer<LagContext>>,
    topic: String,
    /// The last event handed out: (partition, offset), stored once the next is asked for.
    handled: Option<(i32, i64)>,
}

/// Reports its group's consumer lag, as librdkafka works it out (the partitions' high
/// watermarks less the offsets taken) in the statistics it hands over every few seconds.
struct LagContext {
    lag: prometheus::IntGauge,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        let behind = statistics
            .topics
            .values()
            .flat_map(|topic| topic.partitions.values())
            // -1 is librdkafka's internal partition, and a lag of -1 is not known yet.
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| p.consumer_lag)
            .sum();
        self.lag.set(behind);
    }
}

impl ConsumerContext for LagContext {}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Option<BusEvent> {
        let consumer = self.consumer.as_ref()?;
        if let Some((partition, offset)) = self.handled.take()
            && let Err(err) = consumer.store_offset(&self.topic, partition, offset)
        {
            tracing::warn!(error = %err, "kafka offset not stored; the event may come again");
        }
        loop {
            match consumer.recv().await {
                Ok(message) => {
                    self.handled = Some((message.partition(), message.offset()));
                    match message.payload().map(serde_json::from_slice::<BusEvent>) {
                        Some(Ok(event)) => return Some(event),
                        // Unreadable records are skipped (and their offset stored), not retried forever.
                        _ => tracing::warn!(
                            offset = message.offset(),
                            "unreadable bus record skipped"
                        ),
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "kafka consume failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

impl Drop for KafkaSubscription {
    /// librdkafka's destroy can block (or, under load, hang): never on the async runtime.
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            std::thread::spawn(move || drop(consumer));
        }
    }
}

#[async_trait]
impl HealthCheck for KafkaBus {
    async fn check(&self) -> PortResult<()> {
        let (producer, topic) = (self.producer()?, self.topic.clone());
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))
                .map(drop)
        })
        .await
        .map_err(|e| PortError::Other(anyhow::anyhow!("health task: {e}")))?
        .map_err(|err| {
            tracing::warn!(error = %err, "kafka metadata fetch failed");
            PortError::Unavailable("kafka")
        })
    }
}
