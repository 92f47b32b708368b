//! One wrapper around every gRPC service samgate serves ([`Guarded`]),
//! for what no single handler can do:
//!
//! - **Draining.** When `serve` is told to stop, every open response stream
//!   (`WatchCase`, `Subscribe`, a health `Watch`, a reflection session) is
//!   ended with UNAVAILABLE "server shutting down" at its next message
//!   boundary, so shutdown never waits on a client to hang up; an answer
//!   already complete is still sent whole.
//! - **Message size.** tonic refuses a request over the decoding limit with
//!   OUT_OF_RANGE; gRPC says RESOURCE_EXHAUSTED, which is what clients and
//!   proxies expect, so that one status is rewritten.
//! - **Status size.** A status message travels as the `grpc-message`
//!   header, and clients refuse metadata past a few KiB: a message whose
//!   header would pass [`MAX_STATUS_MESSAGE`] is cut to fit. Handlers quote request
//!   values through [`super::status::echo`] already; this is the net
//!   under any other path (a decoder's reason, a database's error).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Frame, SizeHint};
use tokio::sync::watch;
use tonic::body::Body;
use tonic::codegen::{Bytes, Service, http};
use tonic::server::NamedService;
use tonic::{Code, Status};

/// The longest status message sent, in bytes: a full sentence and a quoted
/// value, far below the 8 KiB of metadata that gRPC clients accept by
/// default (the message is percent-encoded into a header, up to 3 bytes a
/// byte).
pub const MAX_STATUS_MESSAGE: usize = 1024;

/// How tonic's decoder begins its message for a request over the limit.
const TONIC_TOO_LARGE: &[u8] = b"Error,%20decoded%20message%20length%20too%20large";

/// The message an open stream ends with when the server stops.
pub const SHUTTING_DOWN: &str = "server shutting down";

/// Tells every [`Guarded`] service that the server is draining.
pub struct DrainSignal(watch::Sender<bool>);

/// Whether the server is draining, as every [`Guarded`] service sees it.
#[derive(Clone)]
pub struct Drain(watch::Receiver<bool>);

/// A new drain, not started.
pub fn drain() -> (DrainSignal, Drain) {
    let (tx, rx) = watch::channel(false);
    (DrainSignal(tx), Drain(rx))
}

impl DrainSignal {
    /// Ends every open stream.
    pub fn start(&self) {
        self.0.send_replace(true);
    }
}

impl Drain {
    /// Completes when draining starts (or its signal is gone).
    fn started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|draining| *draining).await;
        }
    }
}

/// A gRPC service whose responses are guarded as the module says.
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    drain: Drain,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, drain: &Drain) -> Self {
        Guarded {
            inner,
            drain: drain.clone(),
        }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let answer = self.inner.call(request);
        let drain = self.drain.started();
        Box::pin(async move {
            let (mut parts, body) = answer.await?.into_parts();
            fit_status(&mut parts.headers);
            let body = DrainingBody {
                inner: body,
                drain: Box::pin(drain),
                ended: false,
            };
            Ok(http::Response::from_parts(parts, Body::new(body)))
        })
    }
}

/// A response body that ends with UNAVAILABLE when draining starts while
/// it waits for its next message.
struct DrainingBody {
    inner: Body,
    drain: Pin<Box<dyn Future<Output = ()> + Send>>,
    ended: bool,
}

impl http_body::Body for DrainingBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        // What is ready goes first: a complete answer is never cut.
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(mut frame))) => {
                if let Some(trailers) = frame.trailers_mut() {
                    fit_status(trailers);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                if this.drain.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.ended = true;
                let mut trailers = http::HeaderMap::new();
                if Status::unavailable(SHUTTING_DOWN)
                    .add_header(&mut trailers)
                    .is_err()
                {
                    trailers.insert(
                        "grpc-status",
                        http::HeaderValue::from(Code::Unavailable as i32),
                    );
                }
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Rewrites a status in `headers` (a trailers-only answer, or a stream's
/// trailers) as the module says; any other headers are left alone.
fn fit_status(headers: &mut http::HeaderMap) {
    let Some(message) = headers.get(Status::GRPC_MESSAGE) else {
        return;
    };
    let too_large = message.as_bytes().starts_with(TONIC_TOO_LARGE);
    let long = message.len() > MAX_STATUS_MESSAGE;
    // Details are left as they are (tonic writes them without padding
    // and reads them with).
    if !(too_large || long) || headers.contains_key(Status::GRPC_STATUS_DETAILS) {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let fitted = if too_large && status.code() == Code::OutOfRange {
        // tonic's reason: "found N bytes, the limit is: L bytes".
        let reason = status
            .message()
            .split_once(": ")
            .map_or("", |(_, reason)| reason);
        Status::resource_exhausted(cut(&format!("request message too large: {reason}")))
    } else if long {
        Status::new(status.code(), cut(status.message()))
    } else {
        return;
    };
    let _ = fitted.add_header(headers);
}

/// `message` cut, on a character boundary, to a third of
/// [`MAX_STATUS_MESSAGE`]: percent-encoding makes at most three bytes of
/// one, so the header fits whatever the message holds.
fn cut(message: &str) -> String {
    let limit = MAX_STATUS_MESSAGE / 3 - 3;
    if message.len() <= limit {
        return message.to_owned();
    }
    let mut end = limit;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_status_message_is_cut_to_fit_a_header() {
        let mut headers = http::HeaderMap::new();
        Status::not_found(format!("case {}: no such case", "x".repeat(1 << 20)))
            .add_header(&mut headers)
            .unwrap();
        fit_status(&mut headers);
        let status = Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), Code::NotFound);
        assert!(headers[Status::GRPC_MESSAGE].len() <= MAX_STATUS_MESSAGE);
        assert!(status.message().starts_with("case xxx"));
        // Multi-byte characters are cut whole.
        assert!(cut(&"ö".repeat(1000)).ends_with("ö…"));
    }

    #[test]
    fn tonics_too_large_is_resource_exhausted() {
        let mut headers = http::HeaderMap::new();
        Status::out_of_range(
            "Error, decoded message length too large: found 10485765 bytes, the limit is: 1114112 bytes",
        )
        .add_header(&mut headers)
        .unwrap();
        fit_status(&mut headers);
        let status = Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "request message too large: found 10485765 bytes, the limit is: 1114112 bytes"
        );
        // Another OUT_OF_RANGE, short: left as it is.
        let mut headers = http::HeaderMap::new();
        Status::out_of_range("page 9")
            .add_header(&mut headers)
            .unwrap();
        fit_status(&mut headers);
        assert_eq!(
            Status::from_header_map(&headers).unwrap().code(),
            Code::OutOfRange
        );
    }
}
