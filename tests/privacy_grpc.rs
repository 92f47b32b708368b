//! The case rules that keep patients safe, through the real gRPC listener
//! (issue 21, findings 1, 4, 5 and 6): a later SubmitEvent does not lift
//! protection, a reused message id is FAILED_PRECONDITION and carries no
//! case, a stranger cannot withdraw consent, and a plan naming thousands of
//! units is refused. (Authentication over mutual TLS is tests/grpc_auth.rs;
//! these run on the embedded default, plaintext on loopback.)

mod common;

use common::*;
use samgate_proto::v1::case_service_client::CaseServiceClient;
use samgate_proto::v1::*;
use samgate_proto::{CaseEvent, Payload};
use tonic::Code;
use tonic::transport::Channel;

const STRANGER: &str = "SE9999999999-STRANGER2";

struct Server {
    client: CaseServiceClient<Channel>,
    served: common::grpc::Served,
}

async fn start() -> Server {
    let served = common::grpc::serve_fresh().await;
    Server {
        client: CaseServiceClient::new(served.channel.clone()),
        served,
    }
}

impl Server {
    async fn submit(&self, event: CaseEvent) -> Result<SubmitEventResponse, tonic::Status> {
        self.client
            .clone()
            .submit_event(SubmitEventRequest { event: Some(event) })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn stop(self) {
        self.served.stop().await;
    }
}

fn protected(mut event: CaseEvent, on: bool) -> CaseEvent {
    event.patient.as_mut().unwrap().protected_identity = on;
    event
}

fn outpatient(ty: &str, message_id: &str) -> CaseEvent {
    let mut e = canonical_example(ty);
    e.process = CareProcess::Outpatient as i32;
    e.case_ref = "OV-2025-0042".into();
    e.source_message_id = message_id.into();
    e
}

#[tokio::test]
async fn over_grpc_protection_stays_and_a_reused_id_reveals_nothing() {
    let server = start().await;
    let admitted = server
        .submit(protected(canonical_example("admissionNotice"), true))
        .await
        .unwrap();
    // A later message says the person is not protected.
    let later = server
        .submit(protected(canonical_example("threadMessage"), false))
        .await
        .unwrap();
    assert_eq!(later.case_id, admitted.case_id);
    assert!(
        later
            .case
            .as_ref()
            .unwrap()
            .patient
            .as_ref()
            .unwrap()
            .protected_identity
    );
    let case = server
        .client
        .clone()
        .get_case(GetCaseRequest {
            case_id: admitted.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(case.patient.unwrap().protected_identity);

    // The admission's message id again, for another person: refused, and
    // the answer carries no case and names nobody.
    let mut reused = canonical_example("admissionNotice");
    let patient = reused.patient.as_mut().unwrap();
    patient.id = "189001019802".into();
    patient.given_name = "Tolvan".into();
    patient.family_name = "Tolvansson".into();
    let refused = server.submit(reused).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("message id reused"),
        "{}",
        refused.message()
    );
    assert!(!refused.message().contains("194102069046"));
    assert!(!refused.message().contains("Åström"));
    server.stop().await;
}

#[tokio::test]
async fn over_grpc_a_stranger_cannot_withdraw_and_a_flood_of_units_is_refused() {
    let server = start().await;
    let opened = server
        .submit(outpatient("caseOpened", "O-1"))
        .await
        .unwrap();
    server.submit(outpatient("consent", "O-2")).await.unwrap();
    let mut withdraw = outpatient("consent", "O-3");
    withdraw.author.as_mut().unwrap().hsa_id = STRANGER.into();
    if let Some(Payload::Consent(c)) = withdraw.payload.as_mut() {
        c.decision = ConsentDecision::Withdrawn as i32;
    }
    let refused = server.submit(withdraw).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().starts_with("unknown-author"),
        "{}",
        refused.message()
    );

    // A plan naming 10,000 invented units.
    let mut plan = outpatient("sipPlan", "O-4");
    name_invented_units(&mut plan, 10_000);
    let refused = server.submit(plan).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().starts_with("too-many-participants"),
        "{}",
        refused.message()
    );
    let case = server
        .client
        .clone()
        .get_case(GetCaseRequest {
            case_id: opened.case_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, CaseStatus::Open as i32);
    assert!(case.participants.len() < 10);
    server.stop().await;
}
