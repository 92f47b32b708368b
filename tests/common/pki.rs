//! A throwaway PKI for the TLS tests, made fresh by each test with rcgen:
//! a CA, a server certificate for 127.0.0.1/localhost, and client
//! certificates whose subject serialNumber is an HSA-id, like SITHS
//! function certificates. Nothing here is committed as a file.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The subject serialNumber attribute (2.5.4.5).
const SERIAL_NUMBER: [u64; 4] = [2, 5, 4, 5];

pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate, PEM, written to disk.
    pub cert_path: PathBuf,
}

/// A certificate and its key, written to disk as PEM.
pub struct Credentials {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Credentials {
    /// The certificate and key in one PEM, as reqwest wants an identity.
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert_pem, self.key_pem).as_bytes())
            .unwrap()
    }
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let cert_path = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&cert_path, issuer.pem()).unwrap();
        Ca { issuer, cert_path }
    }

    fn issue(&self, dir: &Path, file: &str, params: CertificateParams) -> Credentials {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        let cert_path = dir.join(format!("{file}.pem"));
        let key_path = dir.join(format!("{file}.key"));
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        Credentials {
            cert_path,
            key_path,
            cert_pem,
            key_pem,
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self, dir: &Path) -> Credentials {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "samgate test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(dir, "server", params)
    }

    /// A client certificate whose subject serialNumber is `hsa_id` (none
    /// when empty).
    pub fn client(&self, dir: &Path, hsa_id: &str) -> Credentials {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "samgate test consumer");
        if !hsa_id.is_empty() {
            params
                .distinguished_name
                .push(DnType::CustomDnType(SERIAL_NUMBER.to_vec()), hsa_id);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let file = if hsa_id.is_empty() {
            "anonymous"
        } else {
            hsa_id
        };
        self.issue(dir, &format!("client-{file}"), params)
    }
}

/// An HTTPS client that trusts `ca` and presents `identity`.
pub fn https_client(ca: &Ca, identity: Option<&Credentials>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(&std::fs::read(&ca.cert_path).unwrap()).unwrap(),
        ])
        .timeout(std::time::Duration::from_secs(20));
    if let Some(id) = identity {
        builder = builder.identity(id.identity());
    }
    builder.build().unwrap()
}

/// A mutual-TLS listener on 127.0.0.1 (samgate's own), with a server
/// certificate from `ca` and clients required to hold one from `ca`;
/// returns it with its port.
pub async fn tls_listener(ca: &Ca, dir: &Path) -> (samgate::api::mtls::TlsListener, u16) {
    let server = ca.server(dir);
    let tls = samgate::api::mtls::server_config(&samgate::api::mtls::TlsFiles {
        cert: server.cert_path.to_str().unwrap(),
        key: server.key_path.to_str().unwrap(),
        client_ca: ca.cert_path.to_str().unwrap(),
    })
    .unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    (
        samgate::api::mtls::TlsListener::new(tcp, tls).unwrap(),
        port,
    )
}
