//! The GetCarePlans v2 service contract as the endpoint serves it, the way
//! SOAP stacks (CXF, the national platform's) do: `?wsdl` is the
//! contract's WSDL with the endpoint's own address in `soap:address`, and
//! every schema it imports is served as `?xsd=<file name>`, each import
//! rewritten to point there, so a client generated from the URL resolves
//! the whole contract from the endpoint.
//!
//! The files are Inera's contract (Apache-2.0, Sveriges Kommuner och
//! Landsting; provenance in tests/data/SOURCES.md), byte-exact in
//! tests/data/rivta/schemas/ and built in from there.

/// The contract's folder, as vendored.
macro_rules! contract_file {
    ($path:literal) => {
        include_str!(concat!(
            "../../tests/data/rivta/schemas/clinicalprocess_logistics_logistics_3.0/",
            $path
        ))
    };
}

/// The WSDL of GetCarePlans v2 (RIVTABP21).
const WSDL: &str = contract_file!(
    "interactions/GetCarePlansInteraction/GetCarePlansInteraction_2.0_RIVTABP21.wsdl"
);

/// The schemas the WSDL imports, directly or through each other, by the
/// file name `?xsd=` takes.
const SCHEMAS: [(&str, &str); 4] = [
    (
        "GetCarePlansResponder_2.0.xsd",
        contract_file!("interactions/GetCarePlansInteraction/GetCarePlansResponder_2.0.xsd"),
    ),
    (
        "clinicalprocess_logistics_logistics_3.0.xsd",
        contract_file!("core_components/clinicalprocess_logistics_logistics_3.0.xsd"),
    ),
    (
        "clinicalprocess_logistics_logistics_enum_3.0.xsd",
        contract_file!("core_components/clinicalprocess_logistics_logistics_enum_3.0.xsd"),
    ),
    (
        "itintegration_registry_1.0.xsd",
        contract_file!("core_components/itintegration_registry_1.0.xsd"),
    ),
];

/// The address the contract's WSDL ships with, replaced by the endpoint's.
const PLACEHOLDER_ADDRESS: &str = "http://tempuri.org";

/// Points every `schemaLocation` that names one of [`SCHEMAS`] at
/// `<endpoint>?xsd=<file name>`.
fn rewrite_imports(text: &str, endpoint: &str) -> String {
    const ATTRIBUTE: &str = "schemaLocation=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(ATTRIBUTE) {
        let value_start = at + ATTRIBUTE.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        let Some(quote) = rest.chars().next().filter(|q| *q == '"' || *q == '\'') else {
            continue;
        };
        let Some(len) = rest[1..].find(quote) else {
            continue;
        };
        let location = &rest[1..1 + len];
        let name = location.rsplit('/').next().unwrap_or(location);
        if SCHEMAS.iter().any(|(known, _)| *known == name) {
            out.push(quote);
            out.push_str(&crate::portal::html::escape(&format!(
                "{endpoint}?xsd={name}"
            )));
            out.push(quote);
            rest = &rest[len + 2..];
        }
    }
    out.push_str(rest);
    out
}

/// The WSDL with `endpoint` as the service's address and its imports
/// served from the endpoint.
pub fn wsdl(endpoint: &str) -> String {
    let address = format!("location='{}'", crate::portal::html::escape(endpoint));
    let wsdl = WSDL.replace(&format!("location='{PLACEHOLDER_ADDRESS}'"), &address);
    rewrite_imports(&wsdl, endpoint)
}

/// The schema `name` of the contract, its imports served from the
/// endpoint; `None` when the contract has no such file.
pub fn schema(name: &str, endpoint: &str) -> Option<String> {
    SCHEMAS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, text)| rewrite_imports(text, endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "https://samgate.example:8443/rivta/GetCarePlans";

    #[test]
    fn the_wsdl_names_the_endpoint_and_imports_from_it() {
        let w = wsdl(ENDPOINT);
        assert!(w.contains(&format!("<soap:address location='{ENDPOINT}' />")));
        assert!(!w.contains("tempuri"));
        assert!(w.contains(&format!(
            "schemaLocation='{ENDPOINT}?xsd=GetCarePlansResponder_2.0.xsd'"
        )));
        assert!(w.contains(&format!(
            "schemaLocation='{ENDPOINT}?xsd=itintegration_registry_1.0.xsd'"
        )));
        // Every import of every schema resolves to a schema served.
        for (name, _) in SCHEMAS {
            let text = schema(name, ENDPOINT).unwrap();
            for (at, _) in text.match_indices("schemaLocation=") {
                let value = &text[at + 16..];
                assert!(
                    value.starts_with(&format!("{ENDPOINT}?xsd=")),
                    "{name}: {value}"
                );
            }
        }
        assert_eq!(schema("../../etc/passwd", ENDPOINT), None);
    }
}
