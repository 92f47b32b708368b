//! The stay rules of hl7v2.md, trigger by trigger.

use super::*;
