//! Reading the PEM files of samgate's TLS settings: certificate chains,
//! private keys and trust anchors, for the mutual-TLS listeners
//! (`api::mtls`) and the portal pusher's client (`portal::push`) alike.
//! Errors name the setting and the file.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why the TLS settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{setting}: no file configured")]
    Missing { setting: &'static str },
    #[error("{setting} {path}: {reason}")]
    File {
        setting: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// Every certificate in a PEM file; an empty one is an error.
pub fn read_certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let file_error = |reason: String| TlsSetupError::File {
        setting,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub fn read_private_key(
    setting: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsSetupError::File {
        setting,
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The CA certificates in a PEM file, as trust anchors.
pub fn read_roots(setting: &'static str, path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for ca in read_certificates(setting, path)? {
        roots.add(ca).map_err(|e| TlsSetupError::File {
            setting,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}
