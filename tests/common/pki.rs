//! A throwaway PKI for the TLS tests, made fresh by each test with rcgen:
//! a CA, a server certificate for 127.0.0.1/localhost, and client
//! certificates whose subject serialNumber is an HSA-id, like SITHS
//! function certificates. Nothing here is committed as a file.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SigningKey,
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
    /// Writes `file.pem` and `file.key` to `dir`.
    fn write(dir: &Path, file: &str, cert_pem: String, key_pem: String) -> Credentials {
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
        Credentials::write(dir, file, cert.pem(), key.serialize_pem())
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

    /// A client certificate whose subject holds two serialNumber
    /// attributes, `first` and `second`: an ambiguous identity. rcgen keeps
    /// one attribute per type, so `second` is written as a surname
    /// (2.5.4.4), its type turned into serialNumber (2.5.4.5) in the DER,
    /// and the certificate signed again by this CA.
    pub fn client_with_two_serials(&self, dir: &Path, first: &str, second: &str) -> Credentials {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "samgate test consumer");
        params
            .distinguished_name
            .push(DnType::CustomDnType(SERIAL_NUMBER.to_vec()), first);
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 4]), second);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let der = params.signed_by(&key, &self.issuer).unwrap().der().to_vec();
        // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
        let (outer_header, _) = der_header(&der);
        let (tbs_header, tbs_len) = der_header(&der[outer_header..]);
        let tbs_end = outer_header + tbs_header + tbs_len;
        let mut tbs = der[outer_header..tbs_end].to_vec();
        let (alg_header, alg_len) = der_header(&der[tbs_end..]);
        let algorithm = &der[tbs_end..tbs_end + alg_header + alg_len];
        let surname = [0x06, 0x03, 0x55, 0x04, 0x04];
        let at = tbs.windows(5).position(|w| w == surname).unwrap();
        tbs[at + 4] = 0x05;
        let signature = self.issuer.key().sign(&tbs).unwrap();
        let mut bits = vec![0];
        bits.extend(signature);
        let mut body = tbs;
        body.extend_from_slice(algorithm);
        body.extend(der_tlv(0x03, &bits));
        let cert = der_tlv(0x30, &body);
        let mut cert_pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in samgate::portal::rivta::base64(&cert).as_bytes().chunks(64) {
            cert_pem.push_str(std::str::from_utf8(line).unwrap());
            cert_pem.push('\n');
        }
        cert_pem.push_str("-----END CERTIFICATE-----\n");
        Credentials::write(dir, "client-two-serials", cert_pem, key.serialize_pem())
    }
}

/// The header length and content length of the DER element at `der[0]`.
fn der_header(der: &[u8]) -> (usize, usize) {
    let first = usize::from(der[1]);
    if first < 0x80 {
        return (2, first);
    }
    let n = first & 0x7f;
    let len = der[2..2 + n]
        .iter()
        .fold(0, |acc, b| (acc << 8) | usize::from(*b));
    (2 + n, len)
}

/// One DER element: `tag`, its length, `content`.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
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
