//! The portal's settings checked before the portal runs: every HSA-id in
//! them must be one, so that a typo or an empty entry cannot turn into a
//! consumer nobody meant to let in (an empty allow-list entry once matched
//! certificates without a serialNumber).

use samgate_proto::ids::HsaId;

use serde::{Deserialize, Serialize};

/// `[portal]`: the citizen-portal endpoints and the push to a portal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    pub source_system_hsa_id: String,
    pub approve_all: bool,
    pub fhir_base_url: String,
    /// The base URL of the RIVTA endpoints as consumers reach them, the
    /// address in the served WSDL; empty: the request's Host, https.
    pub rivta_base_url: String,
    /// HSA-ids allowed to read plans (from their client certificates).
    pub allowed_consumers: Vec<String>,
    /// Where the endpoints listen (HTTPS, mutual TLS); empty: not served.
    pub listen: String,
    pub tls_cert: String,
    pub tls_key: String,
    pub client_ca: String,
    /// The access log; empty: `portal-access.log` in the data directory.
    pub access_log: String,
    pub push: super::push::PushConfig,
}

impl PortalConfig {
    /// The access log's path.
    pub fn access_log_path(&self, data_dir: &std::path::Path) -> std::path::PathBuf {
        if self.access_log.is_empty() {
            data_dir.join("portal-access.log")
        } else {
            std::path::PathBuf::from(&self.access_log)
        }
    }
}

/// A portal setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "portal.allowed_consumers, entry {position} of {count}: {value:?} is not an HSA-id ({reason})"
    )]
    AllowedConsumer {
        /// 1-based, as a person counts the entries of the list.
        position: usize,
        count: usize,
        value: String,
        reason: String,
    },
    #[error("portal.source_system_hsa_id: {value:?} is not an HSA-id ({reason})")]
    SourceSystem { value: String, reason: String },
}

/// The FHIR base URL samgate ships with (config/samgate.toml): right only
/// for a portal on this machine's port 8443.
pub const DEFAULT_FHIR_BASE_URL: &str = "https://localhost:8443/fhir";

/// A warning to give at start when `portal.fhir_base_url` cannot be the
/// address clients reach the portal at, which every Bundle entry's
/// `fullUrl` is built from: empty, or the shipped default while the portal
/// listens on `listening`, which is not loopback port 8443.
pub fn base_url_warning(config: &PortalConfig, listening: std::net::SocketAddr) -> Option<String> {
    let base = config.fhir_base_url.as_str();
    if base.is_empty() {
        return Some(format!(
            "portal.fhir_base_url is empty: Bundle entries' fullUrl will not be absolute; set it to the address clients use to reach the portal on {listening}"
        ));
    }
    let default_place = listening.ip().is_loopback() && listening.port() == 8443;
    (base == DEFAULT_FHIR_BASE_URL && !default_place).then(|| {
        format!(
            "portal.fhir_base_url is the default {DEFAULT_FHIR_BASE_URL} but the portal listens on {listening}: Bundle entries' fullUrl will point there; set portal.fhir_base_url (SAMGATE_PORTAL_FHIR_BASE_URL) to the address clients use"
        )
    })
}

/// Whether the portal runs at all: its endpoints are served or plans are
/// pushed. The embedded default does neither.
pub fn in_use(config: &PortalConfig) -> bool {
    !config.listen.is_empty() || config.push.enabled()
}

/// Checks the settings the portal acts on; the first bad one is the error.
pub fn validate(config: &PortalConfig) -> Result<(), SettingsError> {
    HsaId::check(&config.source_system_hsa_id).map_err(|e| SettingsError::SourceSystem {
        value: config.source_system_hsa_id.clone(),
        reason: e.reason,
    })?;
    let count = config.allowed_consumers.len();
    for (i, value) in config.allowed_consumers.iter().enumerate() {
        HsaId::check(value).map_err(|e| SettingsError::AllowedConsumer {
            position: i + 1,
            count,
            value: value.clone(),
            reason: e.reason,
        })?;
    }
    Ok(())
}

/// [`validate`] when the portal is [`in_use`]; nothing to check otherwise.
pub fn validate_if_in_use(config: &PortalConfig) -> Result<(), SettingsError> {
    if in_use(config) {
        validate(config)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portal(allowed: &[&str]) -> PortalConfig {
        PortalConfig {
            source_system_hsa_id: "SE0000000000-SAMGATE".into(),
            allowed_consumers: allowed.iter().map(|a| a.to_string()).collect(),
            listen: "127.0.0.1:0".into(),
            ..PortalConfig::default()
        }
    }

    #[test]
    fn every_allow_list_entry_must_be_an_hsa_id() {
        assert_eq!(validate(&portal(&["SE2321000016-1177"])), Ok(()));
        assert_eq!(validate(&portal(&[])), Ok(()));
        for (list, position) in [
            (&[""][..], 1),
            (&["nope"][..], 1),
            (&["SE2321000016-1177", " SE2321000016-1177"][..], 2),
        ] {
            let e = validate(&portal(list)).unwrap_err();
            assert!(
                matches!(e, SettingsError::AllowedConsumer { position: p, .. } if p == position),
                "{e}"
            );
            let text = e.to_string();
            assert!(
                text.starts_with("portal.allowed_consumers, entry "),
                "{text}"
            );
        }
    }

    #[test]
    fn the_source_system_must_be_an_hsa_id() {
        let mut config = portal(&[]);
        config.source_system_hsa_id = "samgate".into();
        let text = validate(&config).unwrap_err().to_string();
        assert!(
            text.contains("portal.source_system_hsa_id: \"samgate\""),
            "{text}"
        );
    }

    #[test]
    fn the_default_base_url_is_questioned_when_the_portal_listens_elsewhere() {
        let mut config = portal(&[]);
        config.fhir_base_url = DEFAULT_FHIR_BASE_URL.into();
        let at = |a: &str| a.parse::<std::net::SocketAddr>().unwrap();
        assert_eq!(base_url_warning(&config, at("127.0.0.1:8443")), None);
        let w = base_url_warning(&config, at("0.0.0.0:8443")).unwrap();
        assert!(w.contains("listens on 0.0.0.0:8443"), "{w}");
        assert!(base_url_warning(&config, at("127.0.0.1:9443")).is_some());
        config.fhir_base_url = "https://samgate.region.se/fhir".into();
        assert_eq!(base_url_warning(&config, at("0.0.0.0:8443")), None);
        config.fhir_base_url.clear();
        assert!(base_url_warning(&config, at("127.0.0.1:8443")).is_some());
    }

    #[test]
    fn an_unused_portal_is_not_checked() {
        // The embedded default: no listener, no push, nothing configured.
        assert_eq!(validate_if_in_use(&PortalConfig::default()), Ok(()));
        let mut served = portal(&[""]);
        assert!(validate_if_in_use(&served).is_err());
        served.listen.clear();
        served.push.url = "https://portal.test/fhir".into();
        assert!(validate_if_in_use(&served).is_err());
    }
}
