//! placeholder
pub struct CosmicLink;
impl samgate_adapter_core::Dialect for CosmicLink { fn name(&self) -> &'static str { "cosmic-link" } fn source_system(&self) -> samgate_proto::v1::SourceSystem { samgate_proto::v1::SourceSystem::Native }
fn decode(&self, _: &[u8]) -> Result<samgate_adapter_core::Decoded, samgate_adapter_core::DecodeError> { todo!() }
fn encode(&self, _: &samgate_proto::CaseEvent, _: Option<&samgate_adapter_core::Extension>) -> Result<samgate_adapter_core::Encoded, samgate_adapter_core::EncodeError> { todo!() } }
