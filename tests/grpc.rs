//! End to end over gRPC: a server on a free port with its own data
//! directory; the 13 spec examples submitted and the cases read back;
//! watching, listing, raw dialect submission, translation, health (per
//! service) and reflection (v1 and v1alpha).

mod common;

use common::*;
use samgate_proto::v1::case_service_client::CaseServiceClient;
use samgate_proto::v1::translation_service_client::TranslationServiceClient;
use samgate_proto::v1::*;
use tokio_stream::StreamExt;
use tonic::Code;

/// A server on a free port with its own data directory.
async fn start() -> common::grpc::Served {
    common::grpc::serve_fresh().await
}

fn submit(ty: &str) -> SubmitEventRequest {
    SubmitEventRequest {
        event: Some(canonical_example(ty)),
    }
}

#[tokio::test]
async fn the_thirteen_examples_go_in_and_the_cases_come_back() {
    let server = start().await;
    let mut client = CaseServiceClient::new(server.channel.clone());
    // In message-id order, as the systems sent them.
    let mut by_id: Vec<&str> = TYPES.to_vec();
    by_id.sort_by_key(|ty| canonical_example(ty).source_message_id);
    let mut case_ids = std::collections::BTreeMap::new();
    for ty in &by_id {
        // All 13 are accepted: consent GIVEN brought Esther's home
        // municipality into the outpatient case, so Linköping home health
        // care may reopen it.
        let r = client
            .submit_event(submit(ty))
            .await
            .unwrap_or_else(|s| panic!("{ty}: {s:?}"))
            .into_inner();
        assert!(!r.duplicate);
        case_ids.insert(canonical_example(ty).case_ref, r.case_id);
    }
    assert_eq!(case_ids.len(), 2);

    let inpatient = client
        .get_case(GetCaseRequest {
            case_id: case_ids["SV-2024-0815"].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inpatient.status, CaseStatus::Discharged as i32);
    assert_eq!(inpatient.event_count, 9);
    assert_eq!(
        inpatient.latest_sip.as_ref().unwrap().coordinator_hsa_id,
        "SE2321000040-V2K1"
    );
    assert_eq!(inpatient.deadlines.len(), 3);
    let outpatient = client
        .get_case(GetCaseRequest {
            case_id: case_ids["OV-2025-0042"].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outpatient.status, CaseStatus::Open as i32);
    assert_eq!(outpatient.event_count, 4);
    assert_eq!(outpatient.consent, ConsentState::Given as i32);

    // A duplicate is an idempotent success with the first result.
    let again = client
        .submit_event(submit("admissionNotice"))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(
        (again.case_id.as_str(), again.sequence),
        (case_ids["SV-2024-0815"].as_str(), 1)
    );

    let listed = client
        .list_cases(ListCasesRequest {
            participant_hsa_id: "SE2120000449-KHSL".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Linköping home health care takes part in both of Esther's cases.
    assert_eq!(listed.cases.len(), 2);
    let missing = client
        .get_case(GetCaseRequest {
            case_id: "0190f5c2-0000-7000-8000-000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Not a case id at all: the request is wrong, not the case missing.
    let malformed = client
        .get_case(GetCaseRequest {
            case_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert!(malformed.message().starts_with("case_id:"));
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let server = start().await;
    let mut client = CaseServiceClient::new(server.channel.clone());
    let mut event = canonical_example("admissionNotice");
    event.patient.as_mut().unwrap().id = "194102069047".into();
    let status = client
        .submit_event(SubmitEventRequest { event: Some(event) })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("patient.id:"),
        "{}",
        status.message()
    );
    // A character XML cannot carry could never be delivered: refused.
    let mut event = canonical_example("admissionNotice");
    event.patient.as_mut().unwrap().family_name = "Åst\u{0}röm".into();
    let status = client
        .submit_event(SubmitEventRequest { event: Some(event) })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("patient.familyName:"),
        "{}",
        status.message()
    );
    let status = client
        .submit_event(SubmitEventRequest { event: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::Samsa as i32,
            payload: b"<Notification/>".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("samsa:"),
        "{}",
        status.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn raw_dialect_messages_are_decoded_stored_and_idempotent() {
    let server = start().await;
    let mut client = CaseServiceClient::new(server.channel.clone());
    let raw = |d: Dialect, dir: &str, ty: &str| SubmitRawRequest {
        dialect: d as i32,
        payload: example_bytes(dir, ty),
    };
    let first = client
        .submit_raw(raw(Dialect::Lifecare, "lifecare", "admissionNotice"))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .submit_raw(raw(Dialect::Lifecare, "lifecare", "admissionNotice"))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    // Linköping answers from Cosmic Link about the same case.
    let reply = client
        .submit_raw(raw(Dialect::CosmicLink, "cosmic-link", "inNotice"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.case_id, first.case_id);
    assert_eq!(reply.sequence, 2);
    server.stop().await;
}

#[tokio::test]
async fn watch_case_replays_then_follows() {
    let server = start().await;
    let mut client = CaseServiceClient::new(server.channel.clone());
    let first = client
        .submit_event(submit("admissionNotice"))
        .await
        .unwrap()
        .into_inner();
    client.submit_event(submit("inNotice")).await.unwrap();
    let mut stream = client
        .watch_case(WatchCaseRequest {
            case_id: first.case_id.clone(),
            from_sequence: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(stream.next().await.unwrap().unwrap().sequence);
    }
    client
        .submit_event(submit("careContactAssigned"))
        .await
        .unwrap();
    let live = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    seen.push(live.sequence);
    assert_eq!(seen, [1, 2, 3]);
    assert!(matches!(
        live.event.unwrap().payload,
        Some(samgate_proto::Payload::CareContactAssigned(_))
    ));
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn translation_service_decodes_and_encodes() {
    let server = start().await;
    let mut client = TranslationServiceClient::new(server.channel.clone());
    let decoded = client
        .decode(DecodeRequest {
            dialect: Dialect::Samsa as i32,
            payload: example_bytes("samsa", "sipPlan"),
        })
        .await
        .unwrap()
        .into_inner();
    let encoded = client
        .encode(EncodeRequest {
            dialect: Dialect::CosmicLink as i32,
            event: decoded.event,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        xml_tree(&encoded.payload),
        xml_tree(&example_bytes("cosmic-link", "sipPlan"))
    );
    server.stop().await;
}

/// The services a client should find by reflection and health-check.
const SERVICES: [&str; 6] = [
    "samgate.v1.CaseService",
    "samgate.v1.TranslationService",
    "samgate.v1.DeliveryService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

#[tokio::test]
async fn every_service_has_its_own_health() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

    let server = start().await;
    let mut health = HealthClient::new(server.channel.clone());
    for service in SERVICES.into_iter().chain([""]) {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("{service:?}: {s:?}"))
            .into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "samgate.v1.NoSuchService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    server.stop().await;
}

/// The service names a reflection answer lists.
fn listed<T>(services: Vec<T>, name: impl Fn(T) -> String) -> Vec<String> {
    services.into_iter().map(name).collect()
}

#[tokio::test]
async fn reflection_answers_in_v1_and_in_v1alpha() {
    let server = start().await;

    // v1, as current grpcurl asks.
    {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = ServerReflectionClient::new(server.channel.clone())
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::ListServicesResponse(list)) =
            responses.next().await.unwrap().unwrap().message_response
        else {
            panic!("expected a service list");
        };
        let names = listed(list.service, |s| s.name);
        for want in SERVICES {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
    }

    // v1alpha, all that grpcurl 1.8, grpcio-reflection and older Postman
    // speak: the list, then a service's file, as `grpcurl describe` asks.
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let requests = [
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "samgate.v1.DeliveryService".into(),
        )),
    ];
    let mut responses = ServerReflectionClient::new(server.channel.clone())
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names = listed(list.service, |s| s.name);
    for want in SERVICES {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected the file of DeliveryService");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn delivery_service_pulls_acks_and_streams_in_each_units_dialect() {
    use samgate_proto::v1::delivery_service_client::DeliveryServiceClient;

    let server = start().await;
    let mut cases = CaseServiceClient::new(server.channel.clone());
    let mut deliveries = DeliveryServiceClient::new(server.channel.clone());
    cases
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::Lifecare as i32,
            payload: example_bytes("lifecare", "admissionNotice"),
        })
        .await
        .unwrap();
    let pull = |hsa: &str| PullRequest {
        recipient_hsa_id: hsa.into(),
        max: 0,
    };
    let got = deliveries
        .pull(pull("SE2120000449-KHSL"))
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    assert_eq!(got.len(), 1);
    let d = &got[0];
    assert_eq!(
        (d.system.as_str(), d.message_type.as_str()),
        ("cosmic-link", "admissionNotice")
    );
    assert!(
        samgate::dialects::DialectName::CosmicLink
            .adapter()
            .decode(&d.body)
            .is_ok()
    );
    // Pending until acknowledged.
    assert_eq!(
        deliveries
            .pull(pull("SE2120000449-KHSL"))
            .await
            .unwrap()
            .into_inner()
            .deliveries
            .len(),
        1
    );
    let acked = deliveries
        .ack(AckRequest {
            recipient_hsa_id: "SE2120000449-KHSL".into(),
            message_ids: vec![d.message_id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.acknowledged, 1);
    assert!(
        deliveries
            .pull(pull("SE2120000449-KHSL"))
            .await
            .unwrap()
            .into_inner()
            .deliveries
            .is_empty()
    );
    // A subscription sends what is pending, then what arrives.
    let mut stream = deliveries
        .subscribe(pull("SE2120000449-BIST"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stream.next().await.unwrap().unwrap().message_type,
        "admissionNotice"
    );
    cases
        .submit_raw(SubmitRawRequest {
            dialect: Dialect::CosmicLink as i32,
            payload: example_bytes("cosmic-link", "careContactAssigned"),
        })
        .await
        .unwrap();
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.message_type, "careContactAssigned");
    let bad = deliveries.pull(pull("nobody")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    drop(stream);
    server.stop().await;
}
