//! Every class of refusal, in every dialect: the error names the dialect,
//! the element path and the reason, and nothing panics.

mod common;

use common::*;
use samgate::dialects::DialectName;

/// Decodes `ty` of `dialect` after replacing `from` with `to` (on bytes:
/// the patterns are ASCII) and expects a refusal at `path` whose reason
/// contains `reason`.
fn refused(dialect: &str, ty: &str, from: &str, to: &str, path: &str, reason: &str) {
    let original = example_bytes(dialect, ty);
    let text = String::from_utf8_lossy(&original);
    assert!(
        text.contains(from),
        "{dialect}/{ty}: pattern {from:?} not in the example"
    );
    let bytes = replace(&original, from.as_bytes(), to.as_bytes());
    let adapter = DialectName::parse(dialect).unwrap().adapter();
    let err = adapter
        .decode(&bytes)
        .expect_err(&format!("{dialect}/{ty}: {from} -> {to} should be refused"));
    assert_eq!(err.dialect, dialect);
    assert_eq!(err.path, path, "{dialect}/{ty}: {from} -> {to}: {err}");
    assert!(
        err.reason.contains(reason),
        "{dialect}/{ty}: {from} -> {to}: {err}"
    );
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .unwrap();
    [&haystack[..at], to, &haystack[at + from.len()..]].concat()
}

#[test]
fn lifecare_refusals() {
    let d = "lifecare";
    let a = "admissionNotice";
    refused(
        d,
        a,
        "</Meddelande>",
        "</Meddelandex>",
        "/Meddelande",
        "malformed XML",
    );
    refused(
        d,
        a,
        "<Meddelande ",
        "<!DOCTYPE x><Meddelande ",
        "/",
        "DOCTYPE",
    );
    refused(
        d,
        a,
        "typ=\"Inskrivningsmeddelande\"",
        "typ=\"Inlaggning\"",
        "/Meddelande/@typ",
        "not a Lifecare message type",
    );
    refused(
        d,
        a,
        "typ=\"Inskrivningsmeddelande\"",
        "typ=\"Utskrivningsklar\"",
        "/Meddelande/Inskrivning",
        "does not match the message type",
    );
    refused(
        d,
        a,
        "<Boende>Ordin",
        "<Boende>Xrdin",
        "/Meddelande/Inskrivning/Boende",
        "not a Lifecare residence code",
    );
    refused(
        d,
        a,
        "<Orsak>",
        "<Okand>x</Okand><Orsak>",
        "/Meddelande/Inskrivning/Okand",
        "unknown element",
    );
    refused(
        d,
        a,
        "process=\"Slutenvard\"",
        "process=\"Slutenvard\" extra=\"1\"",
        "/Meddelande/Arende/@extra",
        "unknown attribute",
    );
    refused(
        d,
        a,
        "<Tid>2024-10-26T22:15:00</Tid>",
        "",
        "/Meddelande/Inskrivning/Tid",
        "is required",
    );
    refused(
        d,
        a,
        "</Meddelande>",
        "<StartArende/></Meddelande>",
        "/Meddelande/StartArende",
        "more than one payload",
    );
    refused(
        d,
        a,
        "id=\"194102069046\"",
        "id=\"194102069047\"",
        "/Meddelande/Patient/@id",
        "check digit should be 6",
    );
    refused(
        d,
        a,
        "id=\"194102069046\"",
        "id=\"194102309046\"",
        "/Meddelande/Patient/@id",
        "not a date",
    );
    refused(
        d,
        a,
        "id=\"194102069046\"",
        "id=\"19410206-9046\"",
        "/Meddelande/Patient/@id",
        "12 digits",
    );
    refused(
        d,
        a,
        "hsaId=\"SE2321000164-7381\"",
        "hsaId=\"SE232100016-7381\"",
        "/Meddelande/Avsandare/@hsaId",
        "organisation number",
    );
    refused(
        d,
        a,
        "<Kommun>0580</Kommun>",
        "<Kommun>0599</Kommun>",
        "/Meddelande/Patient/Kommun",
        "no Swedish municipality",
    );
    refused(
        d,
        a,
        "<Tid>2024-10-26T22:15:00</Tid>",
        "<Tid>2025-03-30T02:30:00</Tid>",
        "/Meddelande/Inskrivning/Tid",
        "does not exist",
    );
    refused(
        d,
        a,
        "<Tid>2024-10-26T22:15:00</Tid>",
        "<Tid>2024-10-26T22:15:00+02:00</Tid>",
        "/Meddelande/Inskrivning/Tid",
        "no offset",
    );
    refused(
        d,
        a,
        "urn:lifecare:sp:meddelande:2",
        "urn:lifecare:sp:meddelande:1",
        "/Meddelande",
        "namespace",
    );
    refused(
        d,
        a,
        "<Orsak>",
        "<Orsak>a</Orsak><Orsak>",
        "/Meddelande/Inskrivning/Orsak",
        "more than once",
    );
    refused(
        d,
        a,
        "ISO-8859-1",
        "windows-1252",
        "/",
        "encoding windows-1252 is refused",
    );
    refused(
        d,
        a,
        "idtyp=\"personnummer\"",
        "",
        "/Meddelande/Patient/@idtyp",
        "is required",
    );
    refused(
        d,
        a,
        "skyddad=\"nej\"",
        "skyddad=\"kanske\"",
        "/Meddelande/Patient/@skyddad",
        "ja|nej",
    );
    refused(
        d,
        a,
        "<ListadVardcentral hsaId=\"SE2321000040-V2K1\"/>",
        "<ListadVardcentral hsaId=\"SE2321000040-V2K1\">x</ListadVardcentral>",
        "/Meddelande/Patient/ListadVardcentral",
        "text is not allowed",
    );
    refused(
        d,
        "sipPlan",
        "version=\"1\"",
        "version=\"0\"",
        "/Meddelande/SIP/@version",
        "SIP version",
    );
    refused(
        d,
        "sipPlan",
        "<Samordningsansvarig hsaId=\"SE2321000040-V2K1\"/>",
        "",
        "/Meddelande/SIP/Samordningsansvarig/@hsaId",
        "is required",
    );
    refused(
        d,
        "sipPlan",
        "datum=\"2024-12-02\"",
        "",
        "/Meddelande/SIP/Uppfoljning/@datum",
        "is required",
    );
    refused(
        d,
        "sipInvitation",
        "Kallad hsaId=\"SE2120000449-BIST\"",
        "Kallad hsaId=\"XX\"",
        "/Meddelande/KallelseSIP/Kallade/Kallad[2]/@hsaId",
        "must start with SE",
    );
    refused(
        d,
        "caseClosed",
        "orsak=\"MalUppfyllda\"",
        "orsak=\"Klart\"",
        "/Meddelande/Avslut/@orsak",
        "close reason",
    );
}

#[test]
fn cosmic_link_refusals() {
    let d = "cosmic-link";
    let a = "admissionNotice";
    refused(
        d,
        a,
        "schemaVersion=\"3.1\"",
        "schemaVersion=\"4.0\"",
        "/cl:Message/@schemaVersion",
        "not supported",
    );
    refused(
        d,
        a,
        "schemaVersion=\"3.1\"",
        "",
        "/cl:Message/@schemaVersion",
        "is required",
    );
    refused(
        d,
        a,
        "<cl:MessageType>ADMISSION_NOTICE<",
        "<cl:MessageType>ADMISSION<",
        "/cl:Message/cl:Header/cl:MessageType",
        "not a Cosmic Link message type",
    );
    refused(
        d,
        a,
        "<cl:MessageType>ADMISSION_NOTICE<",
        "<cl:MessageType>CASE_OPENED<",
        "/cl:Message/cl:Case/cl:Content/cl:Admission",
        "does not match",
    );
    refused(
        d,
        a,
        "<cl:Housing>ORDINARY<",
        "<cl:Housing>HOUSE<",
        "/cl:Message/cl:Case/cl:Content/cl:Admission/cl:Housing",
        "housing code",
    );
    refused(
        d,
        a,
        "19410206-9046",
        "410206-9046",
        "/cl:Message/cl:Case/cl:Person/cl:PersonId",
        "YYYYMMDD-NNNN",
    );
    refused(
        d,
        a,
        "19410206-9046",
        "19410206-9047",
        "/cl:Message/cl:Case/cl:Person/cl:PersonId",
        "check digit",
    );
    refused(
        d,
        a,
        "<cl:AdmittedAt>2024-10-26T20:15:00Z<",
        "<cl:AdmittedAt>2024-10-26 20:15<",
        "/cl:Message/cl:Case/cl:Content/cl:Admission/cl:AdmittedAt",
        "RFC 3339",
    );
    refused(
        d,
        a,
        "urn:cambio:cosmiclink:coordination:3",
        "urn:cambio:cosmiclink:coordination:2",
        "/cl:Message",
        "namespace",
    );
    refused(
        d,
        a,
        "<cl:Cause>",
        "<cl:Other/><cl:Cause>",
        "/cl:Message/cl:Case/cl:Content/cl:Admission/cl:Other",
        "unknown element",
    );
    refused(d, a, "UTF-8", "UTF-16", "/", "encoding UTF-16 is refused");
    refused(
        d,
        "sipPlan",
        "planType=\"SIP\"",
        "planType=\"VP\"",
        "/cl:Message/cl:Case/cl:Content/cl:Plan/@planType",
        "must be SIP",
    );
    refused(
        d,
        "sipPlan",
        "revision=\"1\"",
        "revision=\"x\"",
        "/cl:Message/cl:Case/cl:Content/cl:Plan/@revision",
        "SIP version",
    );
    refused(
        d,
        "caseOpened",
        "</cl:Content>",
        "<cl:Closed reason=\"AGREED\"/></cl:Content>",
        "/cl:Message/cl:Case/cl:Content/cl:Closed",
        "more than one payload",
    );
    refused(
        d,
        a,
        "<cl:Protected>false<",
        "<cl:Protected>no<",
        "/cl:Message/cl:Case/cl:Person/cl:Protected",
        "boolean",
    );
}

#[test]
fn samsa_refusals() {
    let d = "samsa";
    let a = "admissionNotice";
    refused(
        d,
        a,
        "code=\"INSKR\"",
        "code=\"INSKRIV\"",
        "/Notification/code/@code",
        "not a SAMSA message type",
    );
    refused(
        d,
        a,
        "codeSystem=\"1.2.752.113.10.1.1\"",
        "codeSystem=\"1.2.3\"",
        "/Notification/code/@codeSystem",
        "must be",
    );
    refused(
        d,
        a,
        "<effectiveTime value=\"20241027074000+0100\"/>",
        "<effectiveTime value=\"20241027074000\"/>",
        "/Notification/effectiveTime/@value",
        "no UTC offset",
    );
    refused(
        d,
        a,
        "<housing code=\"1\"/>",
        "<housing code=\"7\"/>",
        "/Notification/component/admission/housing/@code",
        "housing code",
    );
    refused(
        d,
        a,
        "root=\"1.2.752.129.2.1.4.1\" extension=\"SE2321000164-7381\"",
        "root=\"1.2.3\" extension=\"SE2321000164-7381\"",
        "/Notification/author/id/@root",
        "must be 1.2.752.129.2.1.4.1",
    );
    refused(
        d,
        a,
        "root=\"1.2.752.113.10.1.2\"",
        "root=\"1.2.752.113.10.1.3\"",
        "/Notification/id/@root",
        "must be",
    );
    refused(
        d,
        a,
        "municipalityCode=\"0580\"",
        "municipalityCode=\"580\"",
        "/Notification/subject/residence/@municipalityCode",
        "4 digits",
    );
    refused(
        d,
        a,
        "extension=\"194102069046\"",
        "extension=\"194102069045\"",
        "/Notification/subject/id/@extension",
        "check digit",
    );
    refused(
        d,
        a,
        "<subject protected=\"false\">",
        "<subject protected=\"false\" foo=\"1\">",
        "/Notification/subject/@foo",
        "unknown attribute",
    );
    refused(
        d,
        a,
        "urn:vgr:samsa:notification:3",
        "urn:vgr:samsa:notification:4",
        "/Notification",
        "namespace",
    );
    refused(
        d,
        "careContactAssigned",
        "value=\"tel:010-1031000\"",
        "value=\"010-1031000\"",
        "/Notification/component/careContact/telecom/@value",
        "tel:",
    );
    refused(
        d,
        "sipPlan",
        "<plan version=\"1\">",
        "<plan>",
        "/Notification/component/plan/@version",
        "is required",
    );
    refused(
        d,
        "sipPlan",
        "<effectiveTime value=\"20241202\"/>",
        "",
        "/Notification/component/plan/followUp/effectiveTime/@value",
        "is required",
    );
    refused(
        d,
        "dischargeNotice",
        "<destination code=\"HEM\"/>",
        "",
        "/Notification/component/discharge/destination/@code",
        "is required",
    );
    refused(
        d,
        a,
        "<author classCode=\"HOSP\">",
        "<author>",
        "/Notification/author/@classCode",
        "is required",
    );
}

#[test]
fn oversize_messages_are_refused_before_parsing() {
    for d in DIALECTS {
        let mut big = example_bytes(d, "threadMessage");
        let pad = vec![b' '; samgate_adapter_core::MAX_MESSAGE_BYTES];
        let at = big.len() - 2;
        big.splice(at..at, pad);
        let err = DialectName::parse(d)
            .unwrap()
            .adapter()
            .decode(&big)
            .unwrap_err();
        assert!(err.reason.contains("larger than the limit"), "{d}: {err}");
    }
}

#[test]
fn hostile_xml_is_refused_without_expansion_or_panic() {
    for entry in std::fs::read_dir(data("xml-attacks")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for d in DIALECTS {
            let result = DialectName::parse(d).unwrap().adapter().decode(&bytes);
            let err = result.expect_err(&format!("{}: not a dialect message", path.display()));
            assert!(!err.reason.is_empty());
        }
    }
    // What makes them hostile is refused for that reason.
    let bomb = std::fs::read(data("xml-attacks/defusedxml_xmlbomb.xml")).unwrap();
    let err = DialectName::Samsa.adapter().decode(&bomb).unwrap_err();
    assert!(err.reason.contains("DOCTYPE"), "{err}");
    let deep = std::fs::read(data("xml-attacks/pyloadeudravigilance_deeply_nested.xml")).unwrap();
    let err = DialectName::Samsa.adapter().decode(&deep).unwrap_err();
    assert!(err.reason.contains("deeper"), "{err}");
    // A single huge attribute value is bounded by the size limit.
    let huge = format!("<a b=\"{}\"/>", "x".repeat(10 << 20));
    assert!(
        DialectName::Lifecare
            .adapter()
            .decode(huge.as_bytes())
            .is_err()
    );
}

#[test]
fn extensions_are_kept_in_the_same_dialect_and_dropped_with_a_warning_otherwise() {
    let original = example_bytes("cosmic-link", "threadMessage");
    let with_ext = replace(
        &original,
        b"</cl:Message>",
        b"<cl:Extensions><x:Note xmlns:x=\"urn:x\" a=\"1\">kept &amp; safe</x:Note></cl:Extensions></cl:Message>",
    );
    let cl = DialectName::CosmicLink.adapter();
    let decoded = cl.decode(&with_ext).unwrap();
    let ext = decoded.extension.clone().unwrap();
    assert!(ext.inner_xml.contains("kept &amp; safe"));
    let same = cl.encode(&decoded.event, Some(&ext)).unwrap();
    assert!(same.warnings.is_empty());
    assert_eq!(
        cl.decode(&same.bytes).unwrap().extension.unwrap().inner_xml,
        ext.inner_xml
    );
    let other = DialectName::Samsa
        .adapter()
        .encode(&decoded.event, Some(&ext))
        .unwrap();
    assert_eq!(other.warnings.len(), 1);
    assert_eq!(other.warnings[0].code, "extension-dropped");
    // Not the last child of the root: refused.
    let misplaced = replace(&original, b"<cl:Header>", b"<cl:Extensions/><cl:Header>");
    let err = cl.decode(&misplaced).unwrap_err();
    assert!(err.reason.contains("last child"), "{err}");
}

#[test]
fn lifecare_repeated_autumn_hour_is_a_warning_and_reads_back_an_hour_earlier() {
    let mut event = canonical_example("dischargeReady");
    // 01:30Z on 27 Oct 2024 is 02:30 local, second occurrence (+01:00).
    event.occurred_at = Some(samgate_proto::time::parse_rfc3339("2024-10-27T01:30:00Z").unwrap());
    let lc = DialectName::Lifecare.adapter();
    let encoded = lc.encode(&checked(&event), None).unwrap();
    assert_eq!(encoded.warnings.len(), 1);
    assert_eq!(encoded.warnings[0].code, "repeated-hour");
    let back = lc.decode(&encoded.bytes).unwrap().event;
    assert_eq!(
        back.occurred_at.unwrap().seconds,
        event.occurred_at.unwrap().seconds - 3600
    );
}

#[test]
fn decoders_accept_the_documented_variations() {
    // Any element order, xsi attributes, whitespace and prefixes.
    let cl = example_bytes("cosmic-link", "admissionNotice");
    let reordered = String::from_utf8(cl)
        .unwrap()
        .replace("xmlns:cl=", "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:x x.xsd\" xmlns:cl=")
        .replace("cl:", "c:")
        .replace("xmlns:cl=", "xmlns:c=")
        .replace("schemaVersion=\"3.1\"", "schemaVersion=\" 3.7 \"");
    let decoded = DialectName::CosmicLink
        .adapter()
        .decode(reordered.as_bytes())
        .unwrap();
    let mut want = canonical_example("admissionNotice");
    want.source_system = decoded.event.source_system;
    assert_eq!(*decoded.event, want);
    // Lifecare in UTF-8 (declared, and with no declaration at all).
    let utf8 = DialectName::Lifecare
        .adapter()
        .encode(&checked(&canonical_example("sipPlan")), None)
        .unwrap()
        .bytes;
    let as_utf8 = samgate_adapter_core::encoding::latin1_text(&utf8).replace("ISO-8859-1", "UTF-8");
    assert!(
        DialectName::Lifecare
            .adapter()
            .decode(as_utf8.as_bytes())
            .is_ok()
    );
    let undeclared = as_utf8.split_once('\n').unwrap().1;
    assert!(
        DialectName::Lifecare
            .adapter()
            .decode(undeclared.as_bytes())
            .is_ok()
    );
    // An empty leaf is an absent one; an empty payload is a present payload.
    let lc = String::from_utf8_lossy(&example_bytes("lifecare", "caseOpened")).into_owned();
    let start = lc.find("<StartArende>").unwrap();
    let end = lc.find("</StartArende>").unwrap() + "</StartArende>".len();
    let empty = format!("{}<StartArende/>{}", &lc[..start], &lc[end..]);
    let event = DialectName::Lifecare
        .adapter()
        .decode(empty.as_bytes())
        .unwrap()
        .event;
    assert!(
        matches!(event.payload, Some(samgate_proto::Payload::CaseOpened(ref c)) if c.reason.is_empty())
    );
}
