//! Protected identity through the real RabbitMQ (SAMGATE_TEST_AMQP_URL):
//! a person admitted as protected, then a message in another dialect that
//! says otherwise. Nothing reaches a Cosmic Link queue, and what reaches
//! the ward says the person is protected (issue 21, finding 1).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use samgate::dialects::DialectName;
use samgate::routing::Directory;
use samgate::store::{DeliveryKind, DeliveryStatus};
use samgate::transport::AmqpConfig;
use samgate::transport::topology::Names;
use samgate_proto::CaseEvent;
use tokio_stream::StreamExt;

const WARD: &str = "SE2321000164-7381";
const EKHOLMEN: &str = "SE2321000040-V2K1";
const COSMIC_LINK_UNITS: [&str; 3] = [EKHOLMEN, "SE2120000449-KHSL", "SE2120000449-BIST"];

async fn publish(channel: &Channel, queue: &str, body: &[u8]) {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

fn encoded(dialect: DialectName, event: &CaseEvent) -> Vec<u8> {
    dialect
        .adapter()
        .encode(&checked(event), None)
        .unwrap()
        .bytes
}

/// Polls the store until the case of `case_ref` has `events` events.
async fn case_with_events(store: &Arc<dyn samgate::store::Store>, events: i64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (cases, _) = store
            .list_cases(&Default::default(), 0, None)
            .await
            .unwrap();
        if let Some(case) = cases.iter().find(|c| c.event_count >= events) {
            return case.id.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway did not store {events} events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_later_message_over_amqp_does_not_lift_protection() {
    let connection = samgate::transport::connect(&amqp_url())
        .await
        .unwrap_or_else(|e| {
            panic!("RabbitMQ is needed by this test: {e} (scripts/test starts it)")
        });
    let channel = connection.create_channel().await.unwrap();
    let directory = Directory::builtin();
    let config = AmqpConfig {
        url: amqp_url(),
        prefix: format!("samgate-test-{}", uuid::Uuid::new_v4().simple()),
    };
    let names = Names::new(&config.prefix);
    let _cleanup = common::amqp::DeleteOnPanic::new(&names, &directory);
    samgate::transport::topology::declare(&channel, &names, &directory)
        .await
        .unwrap();
    let running = common::amqp::Running::start(&directory, &config).await;
    let store = running.store.clone();

    // The ward admits a protected person, in Lifecare.
    let mut admission = canonical_example("admissionNotice");
    admission.patient.as_mut().unwrap().protected_identity = true;
    publish(
        &channel,
        &names.inbound(DialectName::Lifecare),
        &encoded(DialectName::Lifecare, &admission),
    )
    .await;
    case_with_events(&store, 1).await;
    // Primary care answers in Cosmic Link, saying the person is not.
    let mut reply = canonical_example("threadMessage");
    reply.source_message_id = "REPLY-1".into();
    reply.author = canonical_example("caseOpened").author;
    assert_eq!(reply.author.as_ref().unwrap().hsa_id, EKHOLMEN);
    reply.patient.as_mut().unwrap().protected_identity = false;
    publish(
        &channel,
        &names.inbound(DialectName::CosmicLink),
        &encoded(DialectName::CosmicLink, &reply),
    )
    .await;
    let case_id = case_with_events(&store, 2).await;

    // The ward receives the reply, in Lifecare, saying the person is
    // protected.
    let mut consumer = channel
        .basic_consume(
            names.outbound(WARD).as_str().into(),
            "privacy-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    // (First the notice that the admission was not sent to Cosmic Link.)
    let delivery = loop {
        let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("the ward's delivery did not arrive")
            .unwrap()
            .unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        let xml = delivery
            .properties
            .content_type()
            .as_ref()
            .is_some_and(|t| t.as_str().contains("xml"));
        if xml {
            break delivery;
        }
        let notice = String::from_utf8_lossy(&delivery.data).into_owned();
        assert!(notice.contains("protected-identity-policy"), "{notice}");
    };
    let received = DialectName::Lifecare
        .adapter()
        .decode(&delivery.data)
        .unwrap()
        .event;
    assert_eq!(received.source_message_id, "REPLY-1");
    assert!(received.patient().protected_identity);

    // Every event delivery to a Cosmic Link unit is quarantined. The reply's
    // author (a Cosmic Link unit itself) is told, in a notice naming no
    // person, that the others were not sent it; nothing else is on a
    // Cosmic Link queue.
    let deliveries = store.case_deliveries(&case_id).await.unwrap();
    for unit in COSMIC_LINK_UNITS {
        for d in deliveries.iter().filter(|d| d.recipient == unit) {
            match d.kind {
                DeliveryKind::Event => assert_eq!(d.status, DeliveryStatus::Quarantined, "{d:?}"),
                _ => assert_eq!(d.kind, DeliveryKind::Notice, "{d:?}"),
            }
        }
        let queue = channel
            .queue_declare(
                names.outbound(unit).as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let notices = deliveries
            .iter()
            .filter(|d| d.recipient == unit && d.kind == DeliveryKind::Notice)
            .count();
        assert!(queue.message_count() as usize <= notices, "{unit}");
        while let Some(message) = channel
            .basic_get(
                names.outbound(unit).as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            let body = String::from_utf8_lossy(&message.delivery.data).into_owned();
            assert!(
                body.starts_with("protected-identity-policy"),
                "{unit}: {body}"
            );
            assert!(!body.contains("194102069046") && !body.contains("Åström"));
        }
    }

    running.stop().await;
    clean_amqp(&channel, &names, &directory).await;
}
