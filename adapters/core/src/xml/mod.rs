//! XML for the dialects: a guarded reader that builds a small tree, a walker
//! that enforces the dialects' strictness rules, and a writer.

pub mod read;
pub mod walk;
pub mod write;

/// The XML Schema instance namespace; its attributes (`xsi:schemaLocation`)
/// are ignored wherever they appear.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
