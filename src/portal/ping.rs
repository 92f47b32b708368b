//! PingForConfiguration (urn:riv:itintegration:monitoring:PingForConfigurationResponder:1,
//! RIVTABP21): the call the national platform makes to every producer to
//! check that it is up. samgate answers with its version, the time, and
//! what it serves: the contract asked about and the logical address.

use std::fmt::Write as _;

use samgate_adapter_core::xml::read::Element;

use super::html::escape;
use super::request::{REGISTRY_NS, child, envelope};
use super::rivta::{RESPONDER_NS as GET_CARE_PLANS_NS, SOAP_NS};

pub const RESPONDER_NS: &str = "urn:riv:itintegration:monitoring:PingForConfigurationResponder:1";

/// What the platform asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub logical_address: String,
    /// The contract whose producer is pinged (samgate serves one).
    pub service_contract_namespace: String,
}

/// Reads a PingForConfiguration request; the error is the fault text.
pub fn parse_ping(bytes: &[u8]) -> Result<Ping, String> {
    let envelope = envelope(bytes)?;
    let text = |el: Option<&Element>| el.map(|e| e.text.trim().to_owned()).unwrap_or_default();
    let header_address = text(
        child(&envelope, SOAP_NS, "Header").and_then(|h| child(h, REGISTRY_NS, "LogicalAddress")),
    );
    let ping = child(&envelope, SOAP_NS, "Body")
        .and_then(|b| child(b, RESPONDER_NS, "PingForConfiguration"))
        .ok_or("Body/PingForConfiguration (PingForConfigurationResponder:1) is required")?;
    let logical_address = match text(child(ping, RESPONDER_NS, "logicalAddress")) {
        a if a.is_empty() => header_address,
        a => a,
    };
    Ok(Ping {
        logical_address,
        service_contract_namespace: text(child(ping, RESPONDER_NS, "serviceContractNamespace")),
    })
}

/// The answer: samgate's version, the time (`YYYYMMDDhhmmss`, Swedish
/// local time) and its configuration as name/value pairs.
pub fn response(
    ping: &Ping,
    source_system_hsa_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let time = samgate_proto::time::stockholm::to_local(now).format("%Y%m%d%H%M%S");
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\"><soapenv:Header/><soapenv:Body><PingForConfigurationResponse xmlns=\"{RESPONDER_NS}\"><version>{}</version><pingDateTime>{time}</pingDateTime>",
        env!("CARGO_PKG_VERSION")
    );
    let serves = if ping.service_contract_namespace.is_empty()
        || ping.service_contract_namespace == GET_CARE_PLANS_NS
    {
        "yes"
    } else {
        "no"
    };
    for (name, value) in [
        ("application", "samgate"),
        ("sourceSystemHSAId", source_system_hsa_id),
        ("serviceContracts", GET_CARE_PLANS_NS),
        (
            "serviceContractNamespace",
            ping.service_contract_namespace.as_str(),
        ),
        ("servesServiceContract", serves),
        ("logicalAddress", ping.logical_address.as_str()),
    ] {
        if !value.is_empty() {
            let _ = write!(
                out,
                "<configuration><name>{}</name><value>{}</value></configuration>",
                escape(name),
                escape(value)
            );
        }
    }
    out.push_str("</PingForConfigurationResponse></soapenv:Body></soapenv:Envelope>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_platforms_ping_and_answers_it() {
        let request = format!(
            "<s:Envelope xmlns:s=\"{SOAP_NS}\" xmlns:r=\"{REGISTRY_NS}\" xmlns:p=\"{RESPONDER_NS}\"><s:Header><r:LogicalAddress>5565594230</r:LogicalAddress></s:Header>\
             <s:Body><p:PingForConfiguration><p:serviceContractNamespace>{GET_CARE_PLANS_NS}</p:serviceContractNamespace><p:logicalAddress>5565594230</p:logicalAddress><!-- any --></p:PingForConfiguration></s:Body></s:Envelope>"
        );
        let ping = parse_ping(request.as_bytes()).unwrap();
        assert_eq!(ping.logical_address, "5565594230");
        let answer = response(&ping, "SE0000000000-SAMGATE", chrono::Utc::now());
        assert!(answer.contains("<name>servesServiceContract</name><value>yes</value>"));
        assert!(parse_ping(b"<a/>").unwrap_err().contains("SOAP"));
    }
}
