//! The event-bus suite against a Kafka-protocol broker (`KAFKA_BROKERS`).

use server::adapters::kafka::KafkaBus;

use super::{bus, services};

async fn kafka() -> Option<KafkaBus> {
    let brokers = services::url("KAFKA_BROKERS")?;
    Some(
        KafkaBus::connect(&brokers, server::config::DEFAULT_KAFKA_NAMESPACE)
            .await
            .expect("connect to Kafka"),
    )
}

#[tokio::test]
async fn kafka_bus_delivers_every_event_to_every_group() {
    let Some(bus) = kafka().await else { return };
    bus::delivers_every_event_to_every_group(&bus).await;
}

#[tokio::test]
async fn kafka_bus_shares_a_groups_events_between_its_subscribers() {
    let Some(bus) = kafka().await else { return };
    bus::shares_a_groups_events_between_its_subscribers(&bus).await;
}

#[tokio::test]
async fn kafka_bus_keeps_each_rooms_order() {
    let Some(bus) = kafka().await else { return };
    bus::keeps_each_rooms_order(&bus).await;
}

#[tokio::test]
async fn kafka_bus_keeps_events_for_a_group_while_it_has_no_subscriber() {
    let Some(bus) = kafka().await else { return };
    bus::keeps_events_for_a_group_while_it_has_no_subscriber(&bus).await;
}

#[tokio::test]
async fn kafka_bus_hands_on_events_a_dropped_subscriber_never_took() {
    let Some(bus) = kafka().await else { return };
    bus::hands_on_events_a_dropped_subscriber_never_took(&bus).await;
}

#[tokio::test]
async fn kafka_bus_watchers_each_receive_what_is_published_while_they_watch() {
    let Some(bus) = kafka().await else { return };
    bus::watchers_each_receive_what_is_published_while_they_watch(&bus).await;
}
