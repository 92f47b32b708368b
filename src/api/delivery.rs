//! `DeliveryService`: units read their deliveries in order and acknowledge
//! them. Used by units on samgate's native interface, and by everyone when
//! no broker is configured.

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

use crate::gateway::{Gateway, Rendered};
use crate::routing::System;

/// How often a subscription looks for deliveries when nothing wakes it.
const SUBSCRIBE_POLL: Duration = Duration::from_secs(1);

pub fn to_proto(r: Rendered) -> Delivery {
    let native = r.delivery.system == System::Native.as_str();
    let notice = r.message_type == "notice";
    Delivery {
        message_id: r.delivery.message_id,
        case_id: r.delivery.case_id,
        sequence: r.delivery.sequence,
        recipient_hsa_id: r.delivery.recipient,
        system: r.delivery.system,
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

fn recipient(hsa_id: &str) -> Result<(), Status> {
    samgate_proto::ids::HsaId::check(hsa_id)
        .map_err(|e| Status::invalid_argument(format!("recipient_hsa_id: {e}")))
}

pub struct DeliveryApi {
    gateway: Arc<Gateway>,
}

impl DeliveryApi {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        DeliveryApi { gateway }
    }
}

#[tonic::async_trait]
impl DeliveryService for DeliveryApi {
    async fn pull(&self, request: Request<PullRequest>) -> Result<Response<PullResponse>, Status> {
        let r = request.into_inner();
        recipient(&r.recipient_hsa_id)?;
        let rendered = self
            .gateway
            .pull(&r.recipient_hsa_id, r.max.max(0) as usize)
            .await?;
        Ok(Response::new(PullResponse {
            deliveries: rendered.into_iter().map(to_proto).collect(),
        }))
    }

    async fn ack(&self, request: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        let r = request.into_inner();
        recipient(&r.recipient_hsa_id)?;
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
        let r = request.into_inner();
        recipient(&r.recipient_hsa_id)?;
        let gateway = self.gateway.clone();
        let mut wake = gateway.stored_changes();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            // Each pending delivery once per stream; unacknowledged ones
            // come again on the next stream.
            let mut sent: HashSet<String> = HashSet::new();
            loop {
                // What is stored after this is a change to wake on.
                wake.borrow_and_update();
                match gateway
                    .pull(&r.recipient_hsa_id, r.max.max(0) as usize)
                    .await
                {
                    Ok(batch) => {
                        for d in batch {
                            if sent.insert(d.delivery.message_id.clone())
                                && tx.send(Ok(to_proto(d))).await.is_err()
                            {
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
