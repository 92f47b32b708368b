//! Reading a GetCarePlans v2 request, answering a malformed one with a SOAP
//! fault, and choosing the plans the request asks for.
//!
//! The request is read with the adapters' guarded XML reader (no DOCTYPE,
//! depth and size limits), matching on namespace URI and local name.
//! Elements of other namespaces inside `GetCarePlans` are allowed (the
//! contract's `xs:any ##other`) and ignored.

use samgate_adapter_core::xml::read::{Element, parse};
use samgate_proto::ids::{Personnummer, Samordningsnummer};

use super::SipDocument;
use super::html::escape;
use super::rivta::{CORE_NS, PERSONNUMMER_OID, RESPONDER_NS, SAMORDNINGSNUMMER_OID, SOAP_NS};

/// The RIVTA header namespace of `LogicalAddress`.
pub const REGISTRY_NS: &str = "urn:riv:itintegration:registry:1";
/// The largest request read (a request is a few hundred bytes).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// What a consumer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetCarePlansRequest {
    pub logical_address: String,
    /// 12 digits.
    pub patient_id: String,
    /// Only plans in which one of these units takes part (empty: all):
    /// any unit of [`SipDocument::participating_units`].
    pub care_unit_hsa_ids: Vec<String>,
    /// Only plans written in this period, `YYYYMMDD` inclusive.
    pub date_period: Option<(String, String)>,
    /// Only plans from this source system (samgate's own HSA-id).
    pub source_system_hsa_id: Option<String>,
}

/// The first `ns:local` child of `el`.
pub fn child<'d, 'a>(el: &'d Element<'a>, ns: &str, local: &str) -> Option<&'d Element<'a>> {
    el.children
        .iter()
        .find(|c| &*c.ns == ns && c.local == local)
}

/// The one `ns:local` child of `el`, if any; a second one is an error: an
/// element the contract allows once names one thing, and two of them
/// (two patients, two periods) leave it open which is meant.
fn only_child<'d, 'a>(
    el: &'d Element<'a>,
    ns: &str,
    local: &str,
    path: &str,
) -> Result<Option<&'d Element<'a>>, String> {
    let mut found = el
        .children
        .iter()
        .filter(|c| &*c.ns == ns && c.local == local);
    let first = found.next();
    if found.next().is_some() {
        return Err(format!("{path}: given more than once, which is ambiguous"));
    }
    Ok(first)
}

fn text(el: &Element) -> Option<String> {
    let t = el.text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `YYYYMMDD` from a RIVTA date or timestamp (8 or 14 digits).
fn day(value: &str, what: &str) -> Result<String, String> {
    let ok = (value.len() == 8 || value.len() == 14) && value.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(format!("{what}: '{value}' is not a date YYYYMMDD"));
    }
    Ok(value[..8].to_owned())
}

/// Reads the SOAP 1.1 Envelope of a request (at most
/// [`MAX_REQUEST_BYTES`], UTF-8, through the guarded reader); the error is
/// the text of the fault to answer with.
pub fn envelope(bytes: &[u8]) -> Result<Element<'_>, String> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(format!(
            "the request is larger than {MAX_REQUEST_BYTES} bytes"
        ));
    }
    let source = std::str::from_utf8(bytes).map_err(|_| "the request is not UTF-8".to_owned())?;
    let envelope =
        parse(source).map_err(|e| format!("malformed request at {}: {}", e.path, e.reason))?;
    if &*envelope.ns != SOAP_NS || envelope.local != "Envelope" {
        return Err("the request is not a SOAP 1.1 Envelope".into());
    }
    Ok(envelope)
}

/// Reads a SOAP 1.1 GetCarePlans v2 request; the error is the text of the
/// fault to answer with.
pub fn parse_request(bytes: &[u8]) -> Result<GetCarePlansRequest, String> {
    let envelope = envelope(bytes)?;
    let logical_address = child(&envelope, SOAP_NS, "Header")
        .and_then(|h| child(h, REGISTRY_NS, "LogicalAddress"))
        .and_then(text)
        .ok_or("Header/LogicalAddress is required")?;
    let request = child(&envelope, SOAP_NS, "Body")
        .and_then(|b| child(b, RESPONDER_NS, "GetCarePlans"))
        .ok_or("Body/GetCarePlans (GetCarePlansResponder:2) is required")?;
    for c in &request.children {
        let known = [
            "careUnitHSAId",
            "patientId",
            "datePeriod",
            "sourceSystemHSAId",
            "careContactId",
        ];
        if &*c.ns == RESPONDER_NS && !known.contains(&&*c.local) {
            return Err(format!("GetCarePlans/{}: unknown element", c.local));
        }
    }
    let patient = only_child(request, RESPONDER_NS, "patientId", "patientId")?
        .ok_or("patientId is required")?;
    let id = only_child(patient, CORE_NS, "id", "patientId/id")?
        .and_then(text)
        .ok_or("patientId/id is required")?;
    let kind = only_child(patient, CORE_NS, "type", "patientId/type")?
        .and_then(text)
        .ok_or("patientId/type is required")?;
    let patient_id = match kind.as_str() {
        PERSONNUMMER_OID if id.len() == 12 => {
            Personnummer::parse(&id).map(|p| p.as_str().to_owned())
        }
        SAMORDNINGSNUMMER_OID if id.len() == 12 => {
            Samordningsnummer::parse(&id).map(|s| s.as_str().to_owned())
        }
        PERSONNUMMER_OID | SAMORDNINGSNUMMER_OID => {
            return Err("patientId/id: must be 12 digits".into());
        }
        other => {
            return Err(format!(
                "patientId/type: {other} is not the OID of a personnummer or samordningsnummer"
            ));
        }
    }
    .map_err(|e| format!("patientId/id: {}", e.reason))?;
    let care_unit_hsa_ids = request
        .children
        .iter()
        .filter(|c| &*c.ns == RESPONDER_NS && c.local == "careUnitHSAId")
        .filter_map(text)
        .collect();
    let date_period = match only_child(request, RESPONDER_NS, "datePeriod", "datePeriod")? {
        None => None,
        Some(p) => {
            let start = child(p, CORE_NS, "start")
                .and_then(text)
                .ok_or("datePeriod/start is required")?;
            let end = child(p, CORE_NS, "end")
                .and_then(text)
                .ok_or("datePeriod/end is required")?;
            Some((
                day(&start, "datePeriod/start")?,
                day(&end, "datePeriod/end")?,
            ))
        }
    };
    Ok(GetCarePlansRequest {
        logical_address,
        patient_id,
        care_unit_hsa_ids,
        date_period,
        source_system_hsa_id: only_child(
            request,
            RESPONDER_NS,
            "sourceSystemHSAId",
            "sourceSystemHSAId",
        )?
        .and_then(text),
    })
}

/// The plans of `docs` that `request` asks for.
pub fn select<'d>(
    docs: &'d [SipDocument],
    request: &GetCarePlansRequest,
    own_hsa_id: &str,
) -> Vec<&'d SipDocument> {
    if request
        .source_system_hsa_id
        .as_deref()
        .is_some_and(|s| s != own_hsa_id)
    {
        return Vec::new();
    }
    docs.iter()
        .filter(|d| {
            request.care_unit_hsa_ids.is_empty()
                || request
                    .care_unit_hsa_ids
                    .iter()
                    .any(|u| d.participating_units.contains(u))
        })
        .filter(|d| {
            match (
                &request.date_period,
                d.written_at.as_ref().and_then(samgate_proto::time::to_utc),
            ) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some((start, end)), Some(t)) => {
                    let day = samgate_proto::time::stockholm::local_date(t)
                        .format("%Y%m%d")
                        .to_string();
                    *start <= day && day <= *end
                }
            }
        })
        .collect()
}

/// The fault text for a consumer that may not call: like the national
/// platform's, it names the calling system when its certificate names one.
pub fn unauthorised_text(consumer: Option<&str>) -> String {
    match consumer {
        Some(hsa_id) => format!("Obehörigt anrop för system {hsa_id}"),
        None => "Obehörigt anrop: klientcertifikatet anger inte ett HSA-id".to_owned(),
    }
}

/// A SOAP 1.1 fault for a request that cannot be answered.
pub fn fault(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>{}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>\n",
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> String {
        format!(
            "<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\" xmlns:r=\"{REGISTRY_NS}\" xmlns:g=\"{RESPONDER_NS}\" xmlns:c=\"{CORE_NS}\">\
             <soapenv:Header><r:LogicalAddress>5565594230</r:LogicalAddress></soapenv:Header>\
             <soapenv:Body><g:GetCarePlans>{body}</g:GetCarePlans></soapenv:Body></soapenv:Envelope>"
        )
    }

    #[test]
    fn reads_a_request_with_every_part() {
        let r = parse_request(
            request(
                "<g:careUnitHSAId>SE2321000040-V2K1</g:careUnitHSAId>\
                 <g:patientId><c:id>194102069046</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId>\
                 <g:datePeriod><c:start>20241101</c:start><c:end>20241130235959</c:end></g:datePeriod>\
                 <g:sourceSystemHSAId></g:sourceSystemHSAId><g:careContactId>x</g:careContactId><o:any xmlns:o=\"urn:other\"/>",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.logical_address, "5565594230");
        assert_eq!(r.patient_id, "194102069046");
        assert_eq!(r.care_unit_hsa_ids, ["SE2321000040-V2K1"]);
        assert_eq!(r.date_period, Some(("20241101".into(), "20241130".into())));
        assert_eq!(r.source_system_hsa_id, None);
    }

    #[test]
    fn malformed_requests_get_a_reason() {
        let cases = [
            (
                request(
                    "<g:patientId><c:id>194102069047</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId>",
                ),
                "check digit",
            ),
            (
                request(
                    "<g:patientId><c:id>194102069046</c:id><c:type>1.2.3</c:type></g:patientId>",
                ),
                "OID",
            ),
            (request(""), "patientId is required"),
            (
                request(
                    "<g:patientId><c:id>194102069046</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId><g:bogus/>",
                ),
                "unknown element",
            ),
            (
                request(
                    "<g:patientId><c:id>194102069046</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId>\
                     <g:patientId><c:id>195009072553</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId>",
                ),
                "patientId: given more than once",
            ),
            (
                request(
                    "<g:patientId><c:id>194102069046</c:id><c:id>195009072553</c:id><c:type>1.2.752.129.2.1.3.1</c:type></g:patientId>",
                ),
                "patientId/id: given more than once",
            ),
            ("<a/>".to_owned(), "SOAP"),
            ("<!DOCTYPE x><a/>".to_owned(), "DOCTYPE"),
        ];
        for (text, reason) in cases {
            let e = parse_request(text.as_bytes()).unwrap_err();
            assert!(e.contains(reason), "{e}");
        }
        let f = fault("patientId/id: <bad>");
        assert!(f.contains("<faultcode>soapenv:Client</faultcode>") && f.contains("&lt;bad&gt;"));
    }
}
