//! `DeliveryService`: units read their deliveries in order and acknowledge
//! them. Used by units on samgate's native interface, and by everyone when
//! no broker is configured. A caller reads and acknowledges only the
//! deliveries of units it acts for (`access`), and each delivery read is
//! written to the gRPC access log.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use samgate_proto::v1::delivery_service_server::DeliveryService;
use samgate_proto::v1::*;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::access::Caller;
use super::read_log::{ReadLog, ReadRecord};
use super::status::echo;
use crate::delivery::Rendered;
use crate::gateway::Gateway;
use crate::routing::System;

/// How often a subscription looks for deliveries when nothing wakes it.
const SUBSCRIBE_POLL: Duration = Duration::from_secs(1);

pub fn to_proto(r: Rendered) -> Delivery {
    let native = r.delivery.system == Some(System::Native);
    let system = r.delivery.system_name().to_owned();
    let notice = r.message_type == "notice";
    Delivery {
        message_id: r.delivery.message_id,
        case_id: r.delivery.case_id,
        sequence: r.delivery.sequence,
        recipient_hsa_id: r.delivery.recipient,
        system,
        message_type: r.message_type.to_owned(),
        content_type: r.content_type.to_owned(),
        body: if notice { Vec::new() } else { r.body },
        event: (native && !notice).then_some(r.delivery.event),
        notice: if notice {
            r.delivery.reason
        } else {
            String::new()
        },
    }
}

fn recipient_is_valid(hsa_id: &str) -> Result<(), Status> {
    samgate_proto::ids::HsaId::check(hsa_id).map_err(|e| {
        Status::invalid_argument(format!(
            "recipient_hsa_id: {} {}: {}",
            e.kind,
            echo(hsa_id),
            e.reason
        ))
    })
}

/// The most deliveries to read: `max`, where 0 is the gateway's default.
fn max_deliveries(max: i32) -> Result<usize, Status> {
    usize::try_from(max).map_err(|_| {
        Status::invalid_argument(format!("max: {max} is negative (0 for the default)"))
    })
}

/// The access-log record of one delivery read.
fn delivery_read(caller: &Caller, what: &'static str, r: &Rendered) -> ReadRecord {
    let patient = r
        .delivery
        .event
        .patient
        .as_ref()
        .map_or("", |p| p.id.as_str());
    ReadRecord::new(caller, what)
        .for_unit(&r.delivery.recipient)
        .of(&r.delivery.case_id, patient)
}

pub struct DeliveryApi {
    gateway: Arc<Gateway>,
    reads: ReadLog,
}

impl DeliveryApi {
    pub fn new(gateway: Arc<Gateway>, reads: ReadLog) -> Self {
        DeliveryApi { gateway, reads }
    }

    /// The caller of a request for `recipient`'s deliveries, when it may
    /// receive them; a refused read is recorded.
    fn receiver<T>(
        &self,
        request: &Request<T>,
        what: &'static str,
        recipient: &str,
    ) -> Result<Caller, Status> {
        let caller = Caller::of(request)?;
        recipient_is_valid(recipient)?;
        caller.may_receive(recipient).map_err(|denied| {
            self.reads
                .refused(ReadRecord::new(&caller, what).for_unit(recipient), denied)
        })?;
        Ok(caller)
    }
}

#[tonic::async_trait]
impl DeliveryService for DeliveryApi {
    async fn pull(&self, request: Request<PullRequest>) -> Result<Response<PullResponse>, Status> {
        let caller = self.receiver(&request, "Pull", &request.get_ref().recipient_hsa_id)?;
        let r = request.into_inner();
        let max = max_deliveries(r.max)?;
        let rendered = self.gateway.pull(&r.recipient_hsa_id, max).await?;
        for d in &rendered {
            self.reads.record(&delivery_read(&caller, "Pull", d))?;
        }
        Ok(Response::new(PullResponse {
            deliveries: rendered.into_iter().map(to_proto).collect(),
        }))
    }

    async fn ack(&self, request: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        // Not a read: refused, but not recorded.
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        recipient_is_valid(&r.recipient_hsa_id)?;
        caller.may_receive(&r.recipient_hsa_id)?;
        let acknowledged = self
            .gateway
            .ack(&r.recipient_hsa_id, &r.message_ids)
            .await?;
        Ok(Response::new(AckResponse {
            acknowledged: acknowledged as i64,
        }))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<Delivery, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<PullRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = self.receiver(&request, "Subscribe", &request.get_ref().recipient_hsa_id)?;
        let r = request.into_inner();
        let max = max_deliveries(r.max)?;
        let gateway = self.gateway.clone();
        let reads = self.reads.clone();
        let mut wake = gateway.stored_changes();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            // Each pending delivery once per stream; unacknowledged ones
            // come again on the next stream.
            let mut sent: HashSet<String> = HashSet::new();
            loop {
                // What is stored after this is a change to wake on.
                wake.borrow_and_update();
                match gateway.pull(&r.recipient_hsa_id, max).await {
                    Ok(batch) => {
                        for d in batch {
                            if !sent.insert(d.delivery.message_id.clone()) {
                                continue;
                            }
                            if let Err(e) = reads.record(&delivery_read(&caller, "Subscribe", &d)) {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                            if tx.send(Ok(to_proto(d))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
                tokio::select! {
                    Ok(()) = wake.changed() => {}
                    () = tokio::time::sleep(SUBSCRIBE_POLL) => {}
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
