//! GetCarePlans v2 (RIVTA, RIVTABP21): the SOAP response 1177 Journal and
//! NPÖ fetch care plans with, one `carePlan` per SIP version, its content
//! the printable page as `text/html`.

use std::fmt::Write as _;

use samgate_proto::time::{stockholm, to_utc};

use super::{SipDocument, html};
use crate::portal::html::escape;

pub const RESPONDER_NS: &str =
    "urn:riv:clinicalprocess:logistics:logistics:GetCarePlansResponder:2";
pub const CORE_NS: &str = "urn:riv:clinicalprocess:logistics:logistics:3";
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The OID of personnummer (and of samordningsnummer, below) in `patientId/type`.
pub const PERSONNUMMER_OID: &str = "1.2.752.129.2.1.3.1";
pub const SAMORDNINGSNUMMER_OID: &str = "1.2.752.129.2.1.3.3";
/// The OID of HSA-ids in `participatingCareUnitHSAId/root`.
pub const HSA_OID: &str = "1.2.752.129.2.1.4.1";
/// The largest content the contract allows in one carePlan.
pub const MAX_CONTENT_BYTES: usize = 100 * 1024;

/// Standard base64 (RFC 4648) for the content's `value`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RIVTA's `YYYYMMDDhhmmss`, Swedish local time.
fn timestamp(doc: &SipDocument) -> Option<String> {
    let t = to_utc(doc.written_at.as_ref()?)?;
    Some(stockholm::to_local(t).format("%Y%m%d%H%M%S").to_string())
}

fn care_plan(out: &mut String, doc: &SipDocument, source_system_hsa_id: &str) {
    let id_type = if doc.patient.id_kind == samgate_proto::v1::IdKind::Samordningsnummer as i32 {
        SAMORDNINGSNUMMER_OID
    } else {
        PERSONNUMMER_OID
    };
    let time = timestamp(doc).unwrap_or_default();
    let _ = write!(out, "<carePlan><core:carePlanHeader>");
    let _ = write!(
        out,
        "<core:documentId>{}</core:documentId>",
        escape(&doc.document_id)
    );
    let _ = write!(
        out,
        "<core:sourceSystemHSAId>{}</core:sourceSystemHSAId>",
        escape(source_system_hsa_id)
    );
    let _ = write!(
        out,
        "<core:documentTitle>Samordnad individuell plan, version {}</core:documentTitle>",
        doc.version
    );
    if !time.is_empty() {
        let _ = write!(out, "<core:documentTime>{time}</core:documentTime>");
    }
    let _ = write!(
        out,
        "<core:patientId><core:id>{}</core:id><core:type>{id_type}</core:type></core:patientId>",
        escape(&doc.patient.id)
    );
    let _ = write!(
        out,
        "<core:accountableHealthcareProfessional><core:authorTime>{time}</core:authorTime>"
    );
    let _ = write!(
        out,
        "<core:healthcareProfessionalOrgUnit><core:orgUnitHSAId>{}</core:orgUnitHSAId><core:orgUnitName>{}</core:orgUnitName></core:healthcareProfessionalOrgUnit>",
        escape(&doc.author.hsa_id),
        escape(&doc.unit_name(&doc.author.hsa_id))
    );
    let _ = write!(
        out,
        "<core:healthcareProfessionalCareUnitHSAId>{}</core:healthcareProfessionalCareUnitHSAId></core:accountableHealthcareProfessional>",
        escape(&doc.author.hsa_id)
    );
    let _ = write!(
        out,
        "<core:approvedForPatient>{}</core:approvedForPatient>",
        doc.approved_for_patient
    );
    let _ = write!(out, "</core:carePlanHeader><core:carePlanBody>");
    let page = html::page(doc);
    if page.len() <= MAX_CONTENT_BYTES {
        let _ = write!(
            out,
            "<core:content><core:mediaType>text/html</core:mediaType><core:value>{}</core:value></core:content>",
            base64(page.as_bytes())
        );
    }
    // The same units as the FHIR CarePlan's contributors.
    for hsa in &doc.participating_units {
        let _ = write!(
            out,
            "<core:participatingCareUnitHSAId><core:root>{HSA_OID}</core:root><core:extension>{}</core:extension></core:participatingCareUnitHSAId>",
            escape(hsa)
        );
    }
    let _ = write!(
        out,
        "<core:typeOfCarePlanEnum>SIP</core:typeOfCarePlanEnum></core:carePlanBody></carePlan>"
    );
}

/// The full SOAP response with the given plans and `result`.
pub fn response(docs: &[SipDocument], source_system_hsa_id: &str, log_id: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\"><soapenv:Header/><soapenv:Body><GetCarePlansResponse xmlns=\"{RESPONDER_NS}\" xmlns:core=\"{CORE_NS}\">"
    );
    for doc in docs {
        care_plan(&mut out, doc, source_system_hsa_id);
    }
    let _ = writeln!(
        out,
        "<result><core:resultCode>OK</core:resultCode><core:logId>{}</core:logId></result></GetCarePlansResponse></soapenv:Body></soapenv:Envelope>",
        escape(log_id)
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
            ("Åström", "w4VzdHLDtm0="),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), encoded);
        }
    }
}
