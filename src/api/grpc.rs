//! The tonic services: `CaseService` and `TranslationService` (and
//! `DeliveryService`, in `delivery`), and [`serve`], which puts them all
//! behind the caller checks of `access` on the connections of `connection`
//! (mutual TLS, or plaintext on loopback).
//! Every read of a case is written to the gRPC access log (`read_log`).
//!
//! Beside them: health checking, with a status for every served service
//! (all NOT_SERVING once the server drains), and reflection as both
//! `grpc.reflection.v1` and `grpc.reflection.v1alpha` (grpcurl 1.8,
//! grpcio-reflection and older Postman speak only the latter). Every
//! service is [`Guarded`]: streams end when the server stops, and requests
//! over [`MAX_REQUEST_BYTES`] are RESOURCE_EXHAUSTED.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use samgate_proto::v1::case_service_server::{CaseService, CaseServiceServer};
use samgate_proto::v1::delivery_service_server::DeliveryServiceServer;
use samgate_proto::v1::indicator_service_server::IndicatorServiceServer;
use samgate_proto::v1::translation_service_server::{TranslationService, TranslationServiceServer};
use samgate_proto::v1::*;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;

use super::access::{AccessTable, Caller};
use super::connection::{GrpcTransport, incoming};
use super::guard::{Guarded, drain};
use super::read_log::{ReadLog, ReadRecord};
use super::status::echo;
use crate::dialects::DialectName;
use crate::gateway::{Gateway, SubmitError};
use crate::journal::{Hl7Config, Journal};
use crate::metrics::{self, Way};
use crate::store::{CaseFilter, Submitted};

/// Events a watcher may have queued before the stream applies back-pressure.
const WATCH_QUEUE: usize = 64;

/// The dialect label of a canonical `CaseEvent` in the metrics.
const CANONICAL: &str = "canonical";
/// The refusal reason of a caller who may not submit for the author.
const NOT_PERMITTED: &str = "not-permitted";

/// How often a `WatchCase` stream reads the store for events of its case
/// when nothing wakes it. This process's own events wake it at once; those
/// stored by another gateway on the same store (PostgreSQL, or one SQLite
/// file) come with this delay at most, at the cost of one indexed read per
/// open watch per interval.
const WATCH_POLL: Duration = Duration::from_secs(1);

/// The largest request a service decodes, in bytes: the largest event or
/// dialect message (`samgate_proto::validate::MAX_EVENT_BYTES`, 1 MiB) and
/// room for the request around it. Anything larger could never be
/// accepted, so it is refused (RESOURCE_EXHAUSTED) before it is read
/// whole.
pub const MAX_REQUEST_BYTES: usize = samgate_proto::validate::MAX_EVENT_BYTES + 64 * 1024;

/// A case id from a request: present, and a case id (a UUID) at all.
fn case_id(value: &str) -> Result<(), Status> {
    if value.trim().is_empty() {
        return Err(Status::invalid_argument("case_id: is required"));
    }
    if uuid::Uuid::try_parse(value).is_err() {
        return Err(Status::invalid_argument(format!(
            "case_id: {} is not a case id (a UUID, as SubmitEvent answers)",
            echo(value)
        )));
    }
    Ok(())
}

fn dialect(value: i32) -> Result<DialectName, Status> {
    Dialect::try_from(value)
        .ok()
        .and_then(DialectName::from_proto)
        .ok_or_else(|| {
            Status::invalid_argument(
                "dialect: must be LIFECARE, COSMIC_LINK or SAMSA (HL7V2 only with SubmitRaw)",
            )
        })
}

fn response(s: Submitted, warnings: Vec<String>) -> SubmitEventResponse {
    SubmitEventResponse {
        case_id: s.case_id,
        sequence: s.sequence,
        duplicate: s.duplicate,
        case: Some(s.case),
        warnings,
        hl7_ack: Vec::new(),
    }
}

fn patient_id(case: &Case) -> &str {
    case.patient.as_ref().map_or("", |p| p.id.as_str())
}

/// `CaseService`: submit, read, list and watch cases.
pub struct CaseApi {
    gateway: Arc<Gateway>,
    /// The journal feed, for SubmitRaw with HL7 v2.
    journal: Arc<Journal>,
    reads: ReadLog,
}

impl CaseApi {
    pub fn new(gateway: Arc<Gateway>, journal: Arc<Journal>, reads: ReadLog) -> Self {
        CaseApi {
            gateway,
            journal,
            reads,
        }
    }

    /// SubmitRaw with HL7 v2: the message goes to the journal feed, and the
    /// answer carries its ACK. AR 207 (nothing stored) is UNAVAILABLE, the
    /// status a client retries on, with the ACK's text in its message.
    async fn submit_journal(
        &self,
        caller: &Caller,
        payload: &[u8],
    ) -> Result<Response<SubmitEventResponse>, Status> {
        caller
            .may_send_journal()
            .inspect_err(|_| metrics::refused(Way::Grpc, crate::journal::DIALECT, NOT_PERMITTED))?;
        let receipt = self.journal.receive(Way::Grpc, payload).await;
        let ack = receipt.ack.unwrap_or_default();
        if receipt.verdict == crate::journal::Verdict::NotCommitted {
            return Err(Status::unavailable(format!(
                "AR 207: samgate cannot store the message now; resend it unchanged ({})",
                String::from_utf8_lossy(&ack).replace('\r', " / ")
            )));
        }
        Ok(Response::new(SubmitEventResponse {
            hl7_ack: ack,
            ..Default::default()
        }))
    }

    /// A case the caller may read, its read recorded.
    async fn readable_case(
        &self,
        caller: &Caller,
        what: &'static str,
        id: &str,
    ) -> Result<Case, Status> {
        case_id(id)?;
        let Some(case) = self.gateway.store().get_case(id).await? else {
            return Err(Status::not_found(format!(
                "case {}: no such case",
                echo(id)
            )));
        };
        let record = ReadRecord::new(caller, what).of(&case.id, patient_id(&case));
        if let Err(denied) = caller.may_read_case(&case) {
            return Err(self.reads.refused(record, denied));
        }
        self.reads.record(&record)?;
        Ok(case)
    }
}

#[tonic::async_trait]
impl CaseService for CaseApi {
    async fn submit_event(
        &self,
        request: Request<SubmitEventRequest>,
    ) -> Result<Response<SubmitEventResponse>, Status> {
        let caller = Caller::of(&request)?;
        let event = request
            .into_inner()
            .event
            .ok_or_else(|| Status::invalid_argument("event: is required"))?;
        metrics::received(Way::Grpc, CANONICAL);
        caller
            .may_submit(event.author.as_ref().map_or("", |a| a.hsa_id.as_str()))
            .inspect_err(|_| metrics::refused(Way::Grpc, CANONICAL, NOT_PERMITTED))?;
        let submitted = self
            .gateway
            .submit_event(event)
            .await
            .inspect_err(|e| metrics::refused(Way::Grpc, CANONICAL, e.reason()))?;
        Ok(Response::new(response(submitted, Vec::new())))
    }

    async fn submit_raw(
        &self,
        request: Request<SubmitRawRequest>,
    ) -> Result<Response<SubmitEventResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        if request.dialect == Dialect::Hl7v2 as i32 {
            return self.submit_journal(&caller, &request.payload).await;
        }
        let dialect = dialect(request.dialect)?;
        metrics::received(Way::Grpc, dialect.as_str());
        // Decoded here, not by the gateway, so the author is checked
        // before anything is stored.
        let decoded = crate::gateway::decode(dialect, &request.payload).map_err(|e| {
            // The reason may quote the refused value (an identity number):
            // the log gets the dialect and the element path only.
            tracing::warn!(dialect = e.dialect, path = %e.path, "message refused by the decoder");
            metrics::refused(Way::Grpc, dialect.as_str(), "decode");
            Status::from(SubmitError::from(e))
        })?;
        let author = decoded
            .event
            .author
            .as_ref()
            .map_or("", |a| a.hsa_id.as_str());
        caller
            .may_submit(author)
            .inspect_err(|_| metrics::refused(Way::Grpc, dialect.as_str(), NOT_PERMITTED))?;
        let submitted = self
            .gateway
            .submit_checked(decoded.event)
            .await
            .inspect_err(|e| metrics::refused(Way::Grpc, dialect.as_str(), e.reason()))?;
        Ok(Response::new(response(
            submitted,
            decoded.warnings.iter().map(ToString::to_string).collect(),
        )))
    }

    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let caller = Caller::of(&request)?;
        let id = request.into_inner().case_id;
        let case = self.readable_case(&caller, "GetCase", &id).await?;
        Ok(Response::new(case))
    }

    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        let status = match CaseStatus::try_from(r.status) {
            Ok(CaseStatus::Unspecified) => None,
            Ok(s) => Some(s),
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "status: {} is not a CaseStatus",
                    r.status
                )));
            }
        };
        if r.page_size < 0 {
            return Err(Status::invalid_argument(format!(
                "page_size: {} is negative (0 for the default page)",
                r.page_size
            )));
        }
        // A token is the last case id of the page before.
        if !r.page_token.is_empty() && uuid::Uuid::try_parse(&r.page_token).is_err() {
            return Err(Status::invalid_argument(format!(
                "page_token: {} is not a token this server gave (pass next_page_token as it came, or nothing for the first page)",
                echo(&r.page_token)
            )));
        }
        // Checked before a refusal could write it to the access log.
        if !r.participant_hsa_id.is_empty() {
            samgate_proto::ids::HsaId::check(&r.participant_hsa_id).map_err(|e| {
                Status::invalid_argument(format!(
                    "participant_hsa_id: {} {}: {}",
                    e.kind,
                    echo(&r.participant_hsa_id),
                    e.reason
                ))
            })?;
        }
        let participant = caller
            .participant_filter(&r.participant_hsa_id)
            .map_err(|denied| {
                let record = ReadRecord::new(&caller, "ListCases").for_unit(&r.participant_hsa_id);
                self.reads.refused(record, denied)
            })?;
        let filter = CaseFilter {
            participant_hsa_id: participant,
            status,
        };
        let token = Some(r.page_token.as_str()).filter(|t| !t.is_empty());
        let (cases, next) = self
            .gateway
            .store()
            .list_cases(&filter, r.page_size as usize, token)
            .await?;
        for case in &cases {
            self.reads
                .record(&ReadRecord::new(&caller, "ListCases").of(&case.id, patient_id(case)))?;
        }
        Ok(Response::new(ListCasesResponse {
            cases,
            next_page_token: next.unwrap_or_default(),
        }))
    }

    type WatchCaseStream = Pin<Box<dyn Stream<Item = Result<StoredEvent, Status>> + Send>>;

    async fn watch_case(
        &self,
        request: Request<WatchCaseRequest>,
    ) -> Result<Response<Self::WatchCaseStream>, Status> {
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        if r.from_sequence < 0 {
            return Err(Status::invalid_argument(format!(
                "from_sequence: {} is negative (0 or 1 for the first event)",
                r.from_sequence
            )));
        }
        self.readable_case(&caller, "WatchCase", &r.case_id).await?;
        let store = self.gateway.store().clone();
        // Subscribe before replaying, so nothing stored in between is lost;
        // the sequence number drops what the replay already sent.
        let live = self.gateway.subscribe();
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        tokio::spawn(follow_case(
            store,
            live,
            tx,
            r.case_id,
            r.from_sequence.max(1),
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Sends the events of `case_id` from sequence `next` on, as the store
/// holds them, until the client goes. Events this process stores arrive
/// on `live` and are sent at once; the store is read again after a gap,
/// when `live` lags, and every [`WATCH_POLL`], so events stored by another
/// gateway on the same store arrive too.
async fn follow_case(
    store: Arc<dyn crate::store::Store>,
    mut live: broadcast::Receiver<StoredEvent>,
    tx: mpsc::Sender<Result<StoredEvent, Status>>,
    case_id: String,
    mut next: i64,
) {
    loop {
        // Catch up from the store.
        match store.events(&case_id, next).await {
            Ok(events) => {
                for e in events {
                    next = e.sequence + 1;
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        }
        // Then follow live events until a gap, a lag, or the interval.
        let poll = tokio::time::sleep(WATCH_POLL);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(e) if e.case_id == case_id && e.sequence >= next => {
                        if e.sequence > next {
                            break; // a gap: catch up from the store
                        }
                        next = e.sequence + 1;
                        if tx.send(Ok(e)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = &mut poll => break,
                () = tx.closed() => return,
            }
        }
    }
}

/// `TranslationService`: the adapters over gRPC.
pub struct TranslationApi;

#[tonic::async_trait]
impl TranslationService for TranslationApi {
    async fn decode(
        &self,
        request: Request<DecodeRequest>,
    ) -> Result<Response<DecodeResponse>, Status> {
        // No case is touched: any authenticated caller may translate.
        Caller::of(&request)?;
        let r = request.into_inner();
        let decoded = dialect(r.dialect)?
            .adapter()
            .decode(&r.payload)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(DecodeResponse {
            event: Some(decoded.event.into_inner()),
            warnings: decoded.warnings.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn encode(
        &self,
        request: Request<EncodeRequest>,
    ) -> Result<Response<EncodeResponse>, Status> {
        Caller::of(&request)?;
        let r = request.into_inner();
        let event = r
            .event
            .ok_or_else(|| Status::invalid_argument("event: is required"))?;
        let adapter = dialect(r.dialect)?.adapter();
        let encoded = samgate_adapter_core::document::check_for_encoding(adapter.name(), event)
            .and_then(|event| adapter.encode(&event, None))
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(EncodeResponse {
            payload: encoded.bytes,
            warnings: encoded.warnings.iter().map(ToString::to_string).collect(),
        }))
    }
}

/// How the gRPC API authenticates its callers and records their reads.
#[derive(Clone)]
pub struct GrpcSecurity {
    pub transport: GrpcTransport,
    pub access: Arc<AccessTable>,
    pub reads: ReadLog,
}

/// Serves the gRPC API in plaintext on `listener`, which must be a
/// loopback address, until `shutdown` completes; every caller may do
/// everything and no read is recorded. For a gateway embedded in tests;
/// `samgate serve` uses [`serve_secured`].
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let security = GrpcSecurity {
        transport: GrpcTransport::Plaintext { insecure: false },
        access: Arc::new(AccessTable::default()),
        reads: ReadLog::off(),
    };
    let journal = Arc::new(Journal::new(gateway.clone(), &Hl7Config::default())?);
    serve_secured(gateway, journal, listener, security, shutdown).await
}

/// The name a service is served and health-checked under.
fn name_of<S: NamedService>(_: &S) -> &'static str {
    S::NAME
}

/// Reflection over every service served; built once as `v1` and once as
/// `v1alpha`, and each lists both.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(samgate_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
}

/// Serves the gRPC API on `listener` until `shutdown` completes. Then
/// every service's health turns NOT_SERVING, open streams end with
/// UNAVAILABLE (a `WatchCase` or `Subscribe` would otherwise hold the
/// shutdown for as long as its client keeps it), unary requests in flight
/// finish, and this returns. Health checking and reflection are open to
/// every connection; the samgate services check the caller.
pub async fn serve_secured(
    gateway: Arc<Gateway>,
    journal: Arc<Journal>,
    listener: TcpListener,
    security: GrpcSecurity,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let connections = incoming(listener, &security.transport, security.access)?;
    let (signal, drain) = drain();
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection_v1 = reflection_builder().build_v1()?;
    let reflection_v1alpha = reflection_builder().build_v1alpha()?;
    let cases = CaseServiceServer::new(CaseApi::new(
        gateway.clone(),
        journal,
        security.reads.clone(),
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    let translation =
        TranslationServiceServer::new(TranslationApi).max_decoding_message_size(MAX_REQUEST_BYTES);
    let indicators = IndicatorServiceServer::new(super::indicators::IndicatorApi::new(
        gateway.store().clone(),
        gateway.router().engine().liability.clone(),
    ));
    let deliveries = DeliveryServiceServer::new(super::DeliveryApi::new(gateway, security.reads))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let served = [
        name_of(&cases),
        name_of(&translation),
        name_of(&deliveries),
        name_of(&indicators),
        name_of(&health_service),
        name_of(&reflection_v1),
        name_of(&reflection_v1alpha),
    ];
    for name in served {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let draining = async move {
        shutdown.await;
        tracing::info!("gRPC draining: health NOT_SERVING, open streams ended");
        // "" is the server as a whole.
        for name in served.into_iter().chain([""]) {
            health
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        signal.start();
    };
    tonic::transport::Server::builder()
        .add_service(Guarded::new(health_service, &drain))
        .add_service(Guarded::new(reflection_v1, &drain))
        .add_service(Guarded::new(reflection_v1alpha, &drain))
        .add_service(Guarded::new(cases, &drain))
        .add_service(Guarded::new(translation, &drain))
        .add_service(Guarded::new(deliveries, &drain))
        .add_service(Guarded::new(indicators, &drain))
        .serve_with_incoming_shutdown(connections, draining)
        .await?;
    Ok(())
}
