//! The portal's settings checked before the portal runs: every HSA-id in
//! them must be one, so that a typo or an empty entry cannot turn into a
//! consumer nobody meant to let in (an empty allow-list entry once matched
//! certificates without a serialNumber).

use samgate_proto::ids::HsaId;

use crate::config::PortalConfig;

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
