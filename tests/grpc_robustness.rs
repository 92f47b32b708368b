//! The gRPC API against what a hostile probe and a second gateway did to
//! it (issue 22, items 2 and 7), all through the real listener: absurd
//! instants and ids, negative sizes, bad page tokens and oversized
//! requests are refused with the right code and a status that fits in a
//! header while the connection lives on; store errors say whether to
//! retry; `WatchCase` sees events another gateway stored on the same
//! store; and stopping the server ends open streams with UNAVAILABLE
//! instead of waiting for their clients.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use samgate::store::Store;
use samgate_proto::Payload;
use samgate_proto::v1::case_service_client::CaseServiceClient;
use samgate_proto::v1::delivery_service_client::DeliveryServiceClient;
use samgate_proto::v1::*;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// How long a test waits for what should come at once, or within a poll
/// interval.
const WAIT: Duration = Duration::from_secs(10);

/// A case id no case has.
const UNKNOWN_CASE: &str = "0190f5c2-0000-7000-8000-000000000000";

/// The gateway served over a store on a free loopback port.
type Gate = common::grpc::Served;

async fn serve(store: Arc<dyn Store>) -> Gate {
    common::grpc::serve(store).await
}

/// The two clients the tests call; the case client has no size limit of
/// its own, so the server's are what is tested.
trait Clients {
    fn cases(&self) -> CaseServiceClient<Channel>;
    fn deliveries(&self) -> DeliveryServiceClient<Channel>;
}

impl Clients for Gate {
    fn cases(&self) -> CaseServiceClient<Channel> {
        CaseServiceClient::new(self.channel.clone())
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    fn deliveries(&self) -> DeliveryServiceClient<Channel> {
        DeliveryServiceClient::new(self.channel.clone())
    }
}

async fn start() -> (Gate, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = samgate::store::open("", dir.path()).await.unwrap();
    (serve(store).await, dir)
}

fn submit(event: samgate_proto::CaseEvent) -> SubmitEventRequest {
    SubmitEventRequest { event: Some(event) }
}

/// Asserts `status` has `code` and a message starting with `field`.
fn assert_refused(status: &Status, code: Code, field: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().starts_with(field),
        "{field}: {}",
        status.message()
    );
}

fn admission_at(seconds: i64, nanos: i32) -> samgate_proto::CaseEvent {
    let mut e = canonical_example("admissionNotice");
    let Some(Payload::AdmissionNotice(a)) = e.payload.as_mut() else {
        unreachable!()
    };
    let at = a.admitted_at.as_mut().unwrap();
    at.seconds = seconds;
    at.nanos = nanos;
    e
}

#[tokio::test]
async fn absurd_instants_are_invalid_and_the_stream_lives_on() {
    let (gate, _dir) = start().await;
    let mut client = gate.cases();
    let first = client
        .submit_event(submit(canonical_example("admissionNotice")))
        .await
        .unwrap()
        .into_inner();
    let mut watch = client
        .watch_case(WatchCaseRequest {
            case_id: first.case_id.clone(),
            from_sequence: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.next().await.unwrap().unwrap().sequence, 1);
    // The probe's instant overflowed the deadline arithmetic and killed
    // the stream (CANCELLED); nanos of -1 was accepted.
    for (seconds, nanos) in [(8_210_266_876_799, 0), (1_700_000_000, -1)] {
        let mut event = admission_at(seconds, nanos);
        event.source_message_id = format!("probe-{seconds}-{nanos}");
        let status = client.submit_event(submit(event)).await.unwrap_err();
        assert_refused(&status, Code::InvalidArgument, "admissionNotice.admittedAt");
    }
    // The same connection and the open watch go on.
    client
        .submit_event(submit(canonical_example("inNotice")))
        .await
        .unwrap();
    let next = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.sequence, 2);
    drop(watch);
    gate.stop().await;
}

#[tokio::test]
async fn a_case_id_that_is_empty_or_not_one_is_invalid_argument() {
    let (gate, _dir) = start().await;
    let mut client = gate.cases();
    let huge = "x".repeat(1 << 20);
    for id in ["", "   ", "nope", huge.as_str()] {
        let get = client
            .get_case(GetCaseRequest {
                case_id: id.to_owned(),
            })
            .await
            .unwrap_err();
        assert_refused(&get, Code::InvalidArgument, "case_id:");
        // The value is quoted cut short: the status fits in a header.
        assert!(get.message().len() < 200, "{}", get.message().len());
        let watch = client
            .watch_case(WatchCaseRequest {
                case_id: id.to_owned(),
                from_sequence: 0,
            })
            .await
            .unwrap_err();
        assert_refused(&watch, Code::InvalidArgument, "case_id:");
    }
    // A case id that names no case is NOT_FOUND.
    let missing = client
        .get_case(GetCaseRequest {
            case_id: UNKNOWN_CASE.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().contains(UNKNOWN_CASE));
    let status = client
        .watch_case(WatchCaseRequest {
            case_id: UNKNOWN_CASE.into(),
            from_sequence: -1,
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::InvalidArgument, "from_sequence:");
    gate.stop().await;
}

#[tokio::test]
async fn negative_sizes_and_foreign_page_tokens_are_invalid_argument() {
    let (gate, _dir) = start().await;
    let mut cases = gate.cases();
    let status = cases
        .list_cases(ListCasesRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::InvalidArgument, "page_size:");
    for token in ["garbage", "ZZZZ", &"t".repeat(1 << 20)] {
        let status = cases
            .list_cases(ListCasesRequest {
                page_token: token.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_refused(&status, Code::InvalidArgument, "page_token:");
        assert!(status.message().len() < 300, "{}", status.message());
    }
    let status = cases
        .list_cases(ListCasesRequest {
            participant_hsa_id: "P".repeat(1 << 20),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::InvalidArgument, "participant_hsa_id:");
    assert!(status.message().len() < 300, "{}", status.message());
    // A token the server gave is taken: two cases, one per page.
    cases
        .submit_event(submit(canonical_example("admissionNotice")))
        .await
        .unwrap();
    cases
        .submit_event(submit(canonical_example("caseOpened")))
        .await
        .unwrap();
    let page = |token: String| ListCasesRequest {
        page_size: 1,
        page_token: token,
        ..Default::default()
    };
    let first = cases.list_cases(page(String::new())).await.unwrap();
    let first = first.into_inner();
    assert_eq!(first.cases.len(), 1);
    let second = cases
        .list_cases(page(first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.cases.len(), 1);
    assert_ne!(second.cases[0].id, first.cases[0].id);

    let mut deliveries = gate.deliveries();
    let pull = PullRequest {
        recipient_hsa_id: "SE2120000449-KHSL".into(),
        max: -1,
    };
    let status = deliveries.pull(pull.clone()).await.unwrap_err();
    assert_refused(&status, Code::InvalidArgument, "max:");
    let status = deliveries.subscribe(pull).await.unwrap_err();
    assert_refused(&status, Code::InvalidArgument, "max:");
    // A huge recipient is quoted cut short.
    let status = deliveries
        .pull(PullRequest {
            recipient_hsa_id: "S".repeat(1 << 20),
            max: 0,
        })
        .await
        .unwrap_err();
    assert_refused(&status, Code::InvalidArgument, "recipient_hsa_id:");
    assert!(status.message().len() < 300, "{}", status.message());
    gate.stop().await;
}

#[tokio::test]
async fn a_request_over_the_limit_is_resource_exhausted_and_the_connection_lives_on() {
    let (gate, _dir) = start().await;
    let mut client = gate.cases();
    let status = client
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::Lifecare as i32,
            payload: vec![b'x'; 10 << 20],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains(&samgate::api::MAX_REQUEST_BYTES.to_string()),
        "{}",
        status.message()
    );
    // Just under the limit is decoded, and refused by the dialect.
    let status = client
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::Lifecare as i32,
            payload: vec![b'x'; samgate::api::MAX_REQUEST_BYTES - 64],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    client
        .submit_event(submit(canonical_example("admissionNotice")))
        .await
        .unwrap();
    gate.stop().await;
}

#[tokio::test]
async fn store_errors_are_unavailable_only_when_a_retry_may_help() {
    let (gate, dir) = start().await;
    let mut client = gate.cases();
    let get = || GetCaseRequest {
        case_id: UNKNOWN_CASE.into(),
    };
    // A database that cannot answer the query at all (here: its table is
    // gone) will not answer it later either: INTERNAL, not "retry".
    let db = dir.path().join("samgate.db");
    let other = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("ALTER TABLE cases RENAME TO cases_moved")
        .execute(&other)
        .await
        .unwrap();
    let status = client.get_case(get()).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    sqlx::query("ALTER TABLE cases_moved RENAME TO cases")
        .execute(&other)
        .await
        .unwrap();
    other.close().await;
    assert_eq!(
        client.get_case(get()).await.unwrap_err().code(),
        Code::NotFound
    );
    // A closed pool may be open again on a retry (a restart): UNAVAILABLE.
    gate.store.close().await;
    let status = client.get_case(get()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    gate.stop().await;
}

#[tokio::test]
async fn watch_case_sees_what_another_gateway_stored_in_the_same_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    watch_across_gateways("", dir.path()).await;
}

#[tokio::test]
async fn watch_case_sees_what_another_gateway_stored_in_the_same_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    watch_across_gateways(&postgres_schema_url().await, dir.path()).await;
}

/// Two gateways, each with its own handle on the store at `url`: a watch
/// on one sees the events stored through the other.
async fn watch_across_gateways(url: &str, data_dir: &std::path::Path) {
    let here = serve(samgate::store::open(url, data_dir).await.unwrap()).await;
    let there = serve(samgate::store::open(url, data_dir).await.unwrap()).await;
    let first = here
        .cases()
        .submit_event(submit(canonical_example("admissionNotice")))
        .await
        .unwrap()
        .into_inner();
    let mut watch = here
        .cases()
        .watch_case(WatchCaseRequest {
            case_id: first.case_id.clone(),
            from_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.next().await.unwrap().unwrap().sequence, 1);
    // The other gateway stores the next event: this one never hears of
    // it but from the store.
    let second = there
        .cases()
        .submit_event(submit(canonical_example("inNotice")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (second.case_id.as_str(), second.sequence),
        (first.case_id.as_str(), 2)
    );
    let seen = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("the other gateway's event arrives")
        .unwrap()
        .unwrap();
    assert_eq!(seen.sequence, 2);
    // This gateway's own events still come at once, in order.
    here.cases()
        .submit_event(submit(canonical_example("careContactAssigned")))
        .await
        .unwrap();
    let own = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(own.sequence, 3);
    drop(watch);
    here.stop().await;
    there.stop().await;
}

#[tokio::test]
async fn stopping_ends_open_streams_with_unavailable_and_health_turns_not_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

    let (gate, _dir) = start().await;
    let mut client = gate.cases();
    let first = client
        .submit_event(submit(canonical_example("admissionNotice")))
        .await
        .unwrap()
        .into_inner();
    let mut watch = client
        .watch_case(WatchCaseRequest {
            case_id: first.case_id,
            from_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.next().await.unwrap().unwrap().sequence, 1);
    // An idle subscriber: a unit with nothing pending.
    let mut subscription = gate
        .deliveries()
        .subscribe(PullRequest {
            recipient_hsa_id: "SE2321000016-NONE".into(),
            max: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut health = HealthClient::new(gate.channel.clone())
        .watch(HealthCheckRequest {
            service: "samgate.v1.DeliveryService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let status = |r: HealthCheckResponse| ServingStatus::try_from(r.status).unwrap();
    assert_eq!(
        status(health.next().await.unwrap().unwrap()),
        ServingStatus::Serving
    );

    gate.stop().await;

    let ended = |item: Option<Result<_, Status>>| {
        let status = item.expect("an ending status").expect_err("no message");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(status.message(), samgate::api::guard::SHUTTING_DOWN);
    };
    ended(watch.next().await.map(|r| r.map(|_| ())));
    ended(subscription.next().await.map(|r| r.map(|_| ())));
    assert_eq!(
        status(health.next().await.unwrap().unwrap()),
        ServingStatus::NotServing
    );
    ended(health.next().await.map(|r| r.map(|_| ())));
}
