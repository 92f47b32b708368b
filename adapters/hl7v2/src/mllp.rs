//! MLLP framing: `<VT>` message `<FS><CR>` on a byte stream.
//!
//! [`Decoder`] takes bytes as they arrive and yields whole frames. It never
//! holds more than [`crate::MAX_MESSAGE_BYTES`] of a frame (plus the one
//! byte of a possibly split end block): a longer frame is read to its end
//! without keeping it and reported as [`Frame::Oversized`] (answered AR
//! 100), and only when no end block arrives within
//! [`MAX_FRAME_SCAN_BYTES`] of the start does the decoder give up
//! ([`MllpError::NoFrameEnd`]; the connection is then closed). Bytes outside
//! a frame are discarded. A start block inside a frame starts a new frame:
//! the unfinished one was never sent whole, so nothing is owed for it.

use crate::MAX_MESSAGE_BYTES;

/// Start block.
pub const VT: u8 = 0x0B;
/// First byte of the end block.
pub const FS: u8 = 0x1C;
/// Second byte of the end block.
pub const CR: u8 = 0x0D;

/// How far past a frame's start the decoder reads looking for its end
/// before it decides the peer is not speaking MLLP (the contract's 2 MiB:
/// twice the message limit, so an oversized message can still be answered).
pub const MAX_FRAME_SCAN_BYTES: usize = 2 * 1024 * 1024;

/// One complete frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The message bytes between the start and end blocks.
    Message(Vec<u8>),
    /// A frame longer than the message limit, read to its end and dropped;
    /// `len` is its length.
    Oversized { len: usize },
}

/// Why a stream can no longer be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MllpError {
    #[error("no MLLP end block within {limit} bytes of the start block")]
    NoFrameEnd { limit: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside a frame: bytes are discarded until a start block.
    Outside,
    /// Inside a frame, keeping its bytes.
    Keeping,
    /// Inside a frame already over the limit: counting, not keeping.
    Dropping,
    /// Gave up; nothing more is read.
    Failed,
}

/// A bounded, incremental MLLP decoder.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    buf: Vec<u8>,
    /// Bytes of the current frame seen so far (kept or not).
    len: usize,
    /// The previous byte of the frame was FS (the end block may be split
    /// across reads).
    after_fs: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            state: State::Outside,
            buf: Vec::new(),
            len: 0,
            after_fs: false,
        }
    }

    /// Whether a frame has started and not yet ended (for a peer that
    /// closes mid-frame).
    pub fn in_frame(&self) -> bool {
        matches!(self.state, State::Keeping | State::Dropping)
    }

    /// Bytes held for the current frame (never over the message limit + 1).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn start_frame(&mut self) {
        self.state = State::Keeping;
        self.buf.clear();
        self.len = 0;
        self.after_fs = false;
    }

    /// Consumes bytes from `input` up to and including the end of the next
    /// complete frame and returns it; `Ok(None)` when `input` is used up
    /// without completing one. Call again with the rest of `input` until it
    /// is empty.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Frame>, MllpError> {
        if self.state == State::Failed {
            *input = &[];
            return Err(MllpError::NoFrameEnd {
                limit: MAX_FRAME_SCAN_BYTES,
            });
        }
        while let Some((&b, rest)) = input.split_first() {
            *input = rest;
            match self.state {
                State::Outside => {
                    if b == VT {
                        self.start_frame();
                    }
                }
                State::Keeping | State::Dropping => {
                    if b == VT {
                        self.start_frame();
                        continue;
                    }
                    if self.after_fs && b == CR {
                        // The FS before this CR belongs to the end block.
                        let len = self.len - 1;
                        let frame = if self.state == State::Keeping {
                            self.buf.truncate(len);
                            Frame::Message(std::mem::take(&mut self.buf))
                        } else {
                            Frame::Oversized { len }
                        };
                        self.state = State::Outside;
                        self.buf = Vec::new();
                        self.len = 0;
                        self.after_fs = false;
                        return Ok(Some(frame));
                    }
                    self.after_fs = b == FS;
                    self.len += 1;
                    if self.len > MAX_FRAME_SCAN_BYTES {
                        self.state = State::Failed;
                        self.buf = Vec::new();
                        *input = &[];
                        return Err(MllpError::NoFrameEnd {
                            limit: MAX_FRAME_SCAN_BYTES,
                        });
                    }
                    if self.state == State::Keeping {
                        // One byte of slack: a trailing FS may be the end
                        // block's first byte.
                        if self.len > MAX_MESSAGE_BYTES + 1 {
                            self.state = State::Dropping;
                            self.buf = Vec::new();
                        } else {
                            self.buf.push(b);
                        }
                    }
                }
                State::Failed => {
                    *input = &[];
                    return Err(MllpError::NoFrameEnd {
                        limit: MAX_FRAME_SCAN_BYTES,
                    });
                }
            }
        }
        Ok(None)
    }
}

/// Wraps a message in a frame.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(VT);
    out.extend_from_slice(message);
    out.extend_from_slice(&[FS, CR]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(dec: &mut Decoder, mut input: &[u8]) -> Result<Vec<Frame>, MllpError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            if let Some(f) = dec.decode(&mut input)? {
                out.push(f);
            }
        }
        Ok(out)
    }

    #[test]
    fn frames_split_anywhere_and_noise_between() {
        let mut stream = b"noise".to_vec();
        stream.extend(encode(b"MSH|one"));
        stream.extend(b"\r\n");
        stream.extend(encode(b"MSH|two\x1cx"));
        for chunk in 1..stream.len() {
            let mut dec = Decoder::new();
            let mut frames = Vec::new();
            for piece in stream.chunks(chunk) {
                frames.extend(all(&mut dec, piece).unwrap());
            }
            assert_eq!(
                frames,
                vec![
                    Frame::Message(b"MSH|one".to_vec()),
                    Frame::Message(b"MSH|two\x1cx".to_vec())
                ],
                "chunk size {chunk}"
            );
            assert!(!dec.in_frame());
        }
    }

    #[test]
    fn a_start_block_inside_a_frame_restarts_it() {
        let mut dec = Decoder::new();
        let frames = all(&mut dec, b"\x0bMSH|lost\x0bMSH|kept\x1c\r").unwrap();
        assert_eq!(frames, vec![Frame::Message(b"MSH|kept".to_vec())]);
    }

    #[test]
    fn an_oversized_frame_is_read_to_its_end_without_keeping_it() {
        let mut dec = Decoder::new();
        let big = vec![b'x'; MAX_MESSAGE_BYTES + 10];
        let mut stream = encode(&big);
        stream.extend(encode(b"MSH|next"));
        let mut frames = Vec::new();
        for piece in stream.chunks(64 * 1024) {
            frames.extend(all(&mut dec, piece).unwrap());
            assert!(dec.buffered() <= MAX_MESSAGE_BYTES + 1);
        }
        assert_eq!(
            frames,
            vec![
                Frame::Oversized {
                    len: MAX_MESSAGE_BYTES + 10
                },
                Frame::Message(b"MSH|next".to_vec())
            ]
        );
    }

    #[test]
    fn exactly_the_limit_is_a_message() {
        let mut dec = Decoder::new();
        let body = vec![b'x'; MAX_MESSAGE_BYTES];
        let frames = all(&mut dec, &encode(&body)).unwrap();
        assert_eq!(frames, vec![Frame::Message(body)]);
    }

    #[test]
    fn no_end_within_the_scan_limit_fails_for_good() {
        let mut dec = Decoder::new();
        let mut stream = vec![VT];
        stream.extend(vec![b'x'; MAX_FRAME_SCAN_BYTES + 1]);
        let err = all(&mut dec, &stream).unwrap_err();
        assert_eq!(
            err,
            MllpError::NoFrameEnd {
                limit: MAX_FRAME_SCAN_BYTES
            }
        );
        assert_eq!(dec.buffered(), 0);
        assert!(all(&mut dec, &encode(b"MSH|x")).is_err());
    }
}
