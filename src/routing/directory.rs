//! The actor directory: which units exist, where they are, and which system
//! each one speaks. Loaded from TOML files (`config/directory/`), one per
//! county; checked as a whole, so a directory that does not validate is
//! refused with the file and the reason and never half-used.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use samgate_proto::codes::CanonicalEnum;
use samgate_proto::ids::{HsaId, Kommunkod, Lanskod};
use samgate_proto::v1::ActorKind;

use crate::channel::System;

/// The directory shipped in `config/directory/`, built into the binary.
const BUILTIN: &[(&str, &str)] = &[
    (
        "orebro.toml",
        include_str!("../../config/directory/orebro.toml"),
    ),
    (
        "ostergotland.toml",
        include_str!("../../config/directory/ostergotland.toml"),
    ),
    (
        "vastra-gotaland.toml",
        include_str!("../../config/directory/vastra-gotaland.toml"),
    ),
    (
        "jonkoping.toml",
        include_str!("../../config/directory/jonkoping.toml"),
    ),
    (
        "blekinge.toml",
        include_str!("../../config/directory/blekinge.toml"),
    ),
];

/// One unit of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub hsa_id: String,
    pub name: String,
    pub kind: ActorKind,
    /// Kommunkod.
    pub municipality: String,
    pub system: System,
    /// The AMQP queue its deliveries go to.
    pub queue: String,
}

#[derive(Debug, thiserror::Error)]
#[error("directory {file}: {reason}")]
pub struct DirectoryError {
    pub file: String,
    pub reason: String,
}

fn fail(file: &str, reason: impl Into<String>) -> DirectoryError {
    DirectoryError {
        file: file.to_owned(),
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountyFile {
    county: String,
    system: System,
    #[serde(default)]
    unit: Vec<UnitEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitEntry {
    hsa_id: String,
    name: String,
    kind: String,
    municipality: String,
    system: Option<System>,
    queue: Option<String>,
}

/// The queue name a unit's deliveries go to by default.
pub fn default_queue(hsa_id: &str) -> String {
    format!("samgate.out.{hsa_id}")
}

/// All units, by HSA-id.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    units: HashMap<String, Unit>,
}

impl Directory {
    /// The directory built into the binary (`config/directory/`).
    pub fn builtin() -> Self {
        Self::from_files(BUILTIN.iter().map(|(n, t)| (n.to_string(), t.to_string())))
            .expect("the built-in directory validates (tested)")
    }

    /// Every `*.toml` file in `dir`.
    pub fn load(dir: &Path) -> Result<Self, DirectoryError> {
        let shown = dir.display().to_string();
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| fail(&shown, e.to_string()))?;
        for entry in entries {
            let path = entry.map_err(|e| fail(&shown, e.to_string()))?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| fail(&path.display().to_string(), e.to_string()))?;
                files.push((path.display().to_string(), text));
            }
        }
        if files.is_empty() {
            return Err(fail(&shown, "no *.toml files"));
        }
        files.sort();
        Self::from_files(files)
    }

    /// Parses and checks (file name, TOML text) pairs as one directory.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, DirectoryError> {
        let mut units: HashMap<String, Unit> = HashMap::new();
        let mut listed = std::collections::HashSet::new();
        for (file, text) in files {
            let parsed: CountyFile =
                toml::from_str(&text).map_err(|e| fail(&file, e.to_string()))?;
            let county = Lanskod::parse(&parsed.county).map_err(|e| fail(&file, e.to_string()))?;
            for (i, u) in parsed.unit.into_iter().enumerate() {
                let at = |reason: String| {
                    fail(&file, format!("unit {} ({}): {reason}", i + 1, u.hsa_id))
                };
                HsaId::check(&u.hsa_id).map_err(|e| at(e.to_string()))?;
                let system = u.system.unwrap_or(parsed.system);
                if !system.is_a_units() {
                    return Err(at(format!(
                        "system {} is not one a unit speaks",
                        system.as_str()
                    )));
                }
                let kind = ActorKind::from_name(&u.kind)
                    .ok_or_else(|| at(format!("kind {} is not an ActorKind", u.kind)))?;
                let municipality =
                    Kommunkod::parse(&u.municipality).map_err(|e| at(e.to_string()))?;
                if municipality.county() != county {
                    return Err(at(format!(
                        "municipality {} is not in county {}",
                        u.municipality, parsed.county
                    )));
                }
                if u.name.trim().is_empty() {
                    return Err(at("a name is required".into()));
                }
                // HSA-ids differing only in case name one unit to people:
                // two entries would route its messages two ways.
                if !listed.insert(u.hsa_id.to_ascii_uppercase()) {
                    return Err(at(
                        "this HSA-id is listed twice (letters compared without case)".into(),
                    ));
                }
                let queue = u.queue.clone().unwrap_or_else(|| default_queue(&u.hsa_id));
                units.insert(
                    u.hsa_id.clone(),
                    Unit {
                        hsa_id: u.hsa_id,
                        name: u.name,
                        kind,
                        municipality: u.municipality,
                        system,
                        queue,
                    },
                );
            }
        }
        Ok(Directory { units })
    }

    pub fn unit(&self, hsa_id: &str) -> Option<&Unit> {
        self.units.get(hsa_id)
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Every unit, sorted by HSA-id.
    pub fn units(&self) -> Vec<&Unit> {
        let mut all: Vec<&Unit> = self.units.values().collect();
        all.sort_by(|a, b| a.hsa_id.cmp(&b.hsa_id));
        all
    }

    /// A municipality's home health care and social services units: who
    /// must know when one of its residents is admitted.
    pub fn municipal_units(&self, kommunkod: &str) -> Vec<&Unit> {
        self.units()
            .into_iter()
            .filter(|u| {
                u.municipality == kommunkod
                    && matches!(
                        u.kind,
                        ActorKind::MunicipalHealthcare | ActorKind::SocialServices
                    )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_directory_holds_the_seed_units() {
        let d = Directory::builtin();
        let ward = d.unit("SE2321000164-7381").unwrap();
        assert_eq!(
            (ward.system, ward.kind),
            (System::Lifecare, ActorKind::Hospital)
        );
        assert_eq!(ward.queue, "samgate.out.SE2321000164-7381");
        for hsa in [
            "SE2321000040-V2K1",
            "SE2120000449-KHSL",
            "SE2120000449-BIST",
        ] {
            assert_eq!(d.unit(hsa).unwrap().system, System::CosmicLink, "{hsa}");
        }
        let linkoping: Vec<&str> = d
            .municipal_units("0580")
            .iter()
            .map(|u| u.hsa_id.as_str())
            .collect();
        assert_eq!(linkoping, ["SE2120000449-BIST", "SE2120000449-KHSL"]);
        // Every county has a ward, primary care, home health care and social services.
        for county in ["18", "05", "14", "06", "10"] {
            for kind in [
                ActorKind::Hospital,
                ActorKind::PrimaryCare,
                ActorKind::MunicipalHealthcare,
                ActorKind::SocialServices,
            ] {
                assert!(
                    d.units()
                        .iter()
                        .any(|u| u.municipality.starts_with(county) && u.kind == kind),
                    "{county} {kind:?}"
                );
            }
        }
    }

    #[test]
    fn a_bad_directory_is_refused_with_the_reason() {
        let bad = |text: &str| {
            Directory::from_files([("x.toml".to_string(), text.to_string())]).unwrap_err()
        };
        let unit = "[[unit]]\nhsa_id = \"SE2120000449-KHSL\"\nname = \"x\"\nkind = \"MUNICIPAL_HEALTHCARE\"\nmunicipality = \"0580\"\n";
        assert!(
            bad(&format!("county = \"02\"\nsystem = \"samsa\"\n{unit}"))
                .reason
                .contains("länskod")
        );
        assert!(
            bad(&format!("county = \"18\"\nsystem = \"samsa\"\n{unit}"))
                .reason
                .contains("not in county")
        );
        assert!(
            bad(&format!("county = \"05\"\nsystem = \"fax\"\n{unit}"))
                .reason
                .contains("unknown variant")
        );
        assert!(
            bad(&format!(
                "county = \"05\"\nsystem = \"samsa\"\n{unit}{unit}"
            ))
            .reason
            .contains("twice")
        );
        assert!(
            bad(&format!("county = \"05\"\nsystem = \"portal\"\n{unit}"))
                .reason
                .contains("not one a unit speaks")
        );
        let lower = unit.replace("KHSL\"", "khsl\"");
        assert!(
            bad(&format!(
                "county = \"05\"\nsystem = \"samsa\"\n{unit}{lower}"
            ))
            .reason
            .contains("without case")
        );
        assert!(
            bad(&format!(
                "county = \"05\"\nsystem = \"samsa\"\n{}",
                unit.replace("KHSL\"", "KH SL\"")
            ))
            .reason
            .contains("HSA-id")
        );
        assert!(
            bad(&format!(
                "county = \"05\"\nsystem = \"samsa\"\n{}",
                unit.replace("MUNICIPAL_HEALTHCARE", "NURSE")
            ))
            .reason
            .contains("ActorKind")
        );
    }
}
