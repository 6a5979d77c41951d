//! A complete set, made in memory as Pulp's own tools make it: the CA as
//! `pulp-gen-ca-certificate` (RSA 4096, CN = FQDN, O=PULP, 7035 days, SHA-256), the signing
//! pair as `pulp-gen-key-pair` (RSA 2048), and httpd's TLS pair signed by that CA.

use super::{KeyError, Secret};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use std::time::Duration;
use time::OffsetDateTime;

pub const CA_BITS: usize = 4096;
pub const RSA_BITS: usize = 2048;
/// mod_ssl's own `localhost.key` is RSA 2048.
pub const TLS_BITS: usize = 2048;
pub const CA_DAYS: i64 = 7035;
pub const TLS_DAYS: i64 = 3650;

/// The names the certificates carry.
#[derive(Debug, Clone)]
pub struct Names {
    /// The CA's CN (`hostname --fqdn` in `pulp-gen-ca-certificate`).
    pub fqdn: String,
    /// `[server] server_name`: the TLS certificate's CN and first SAN (localhost too).
    pub server_name: String,
}

/// Every file of a set, as PEM text. Private keys are PKCS#1 ("RSA PRIVATE KEY"), as the
/// `openssl genrsa` of Pulp's EL7 tools writes them; `rsa_pub` is SubjectPublicKeyInfo,
/// as `openssl rsa -pubout` writes it.
pub struct Set {
    pub ca_key: Secret,
    pub ca_crt: String,
    pub rsa_key: Secret,
    pub rsa_pub: String,
    pub tls_key: Secret,
    pub tls_crt: String,
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Set { keys redacted }")
    }
}

/// An RSA key of `bits`, from the system's random source.
pub fn rsa_key(bits: usize) -> Result<rsa::PrivateKey, KeyError> {
    let started = std::time::Instant::now();
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
        .map_err(|e| KeyError::Generate(format!("RSA {bits} key generation failed: {e}")))?;
    // bench/keys.sh reads these lines.
    log::debug!(
        "keys: RSA {bits} key generated in {:.3}s",
        started.elapsed().as_secs_f64()
    );
    Ok(key)
}

/// Makes the whole set. The three keys are generated on their own threads: RSA 4096
/// dominates (seconds), the two 2048 keys finish beside it.
pub fn generate_set(names: &Names) -> Result<Set, KeyError> {
    let (ca, rsa, tls) = std::thread::scope(|s| {
        let ca = s.spawn(|| rsa_key(CA_BITS));
        let tls = s.spawn(|| rsa_key(TLS_BITS));
        let rsa = rsa_key(RSA_BITS);
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<rsa::PrivateKey, KeyError>>| {
            h.join()
                .unwrap_or_else(|_| Err(KeyError::Generate("key generation panicked".into())))
        };
        (join(ca), rsa, join(tls))
    });
    set_from_keys(names, &ca?, &rsa?, &tls?, OffsetDateTime::now_utc())
}

/// The set around given keys, dated from `now` (tests give their own keys and clock).
pub fn set_from_keys(
    names: &Names,
    ca: &rsa::PrivateKey,
    rsa: &rsa::PrivateKey,
    tls: &rsa::PrivateKey,
    now: OffsetDateTime,
) -> Result<Set, KeyError> {
    let ca_pair = signing_pair(ca)?;
    let ca_params = ca_params(&names.fqdn, now)?;
    let ca_crt = ca_params
        .self_signed(&ca_pair)
        .map_err(|e| KeyError::Generate(format!("CA certificate: {e}")))?;
    let issuer = Issuer::new(ca_params, ca_pair);
    let tls_pair = signing_pair(tls)?;
    let tls_crt = tls_params(&names.server_name, now)?
        .signed_by(&tls_pair, &issuer)
        .map_err(|e| KeyError::Generate(format!("TLS certificate: {e}")))?;
    Ok(Set {
        ca_key: pkcs1_pem(ca)?,
        ca_crt: ca_crt.pem(),
        rsa_key: pkcs1_pem(rsa)?,
        rsa_pub: rsa
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generate(format!("public key: {e}")))?,
        tls_key: pkcs1_pem(tls)?,
        tls_crt: tls_crt.pem(),
    })
}

/// A certificate for `sans` ending at `not_after`, signed by the CA `ca.example.com` of
/// key `issuer` (self-signed when None): the tests' expired and foreign fixtures.
#[cfg(test)]
pub fn certificate(
    key: &rsa::PrivateKey,
    sans: &[&str],
    not_after: OffsetDateTime,
    issuer: Option<&rsa::PrivateKey>,
) -> String {
    let now = OffsetDateTime::now_utc();
    let mut params = tls_params("unused.invalid", now).unwrap();
    params.subject_alt_names = sans
        .iter()
        .map(|s| rcgen::SanType::DnsName((*s).try_into().unwrap()))
        .collect();
    params.not_before = not_after - time::Duration::days(400);
    params.not_after = not_after;
    let pair = signing_pair(key).unwrap();
    match issuer {
        None => params.self_signed(&pair).unwrap().pem(),
        Some(ca) => {
            let issuer = Issuer::new(
                ca_params("ca.example.com", now).unwrap(),
                signing_pair(ca).unwrap(),
            );
            params.signed_by(&pair, &issuer).unwrap().pem()
        }
    }
}

fn pkcs1_pem(key: &rsa::PrivateKey) -> Result<Secret, KeyError> {
    key.to_pkcs1_pem(LineEnding::LF)
        .map(|pem| Secret::new(pem.as_str().to_string()))
        .map_err(|e| KeyError::Generate(format!("private key encoding: {e}")))
}

/// The key as ring signs with it (rcgen's backend), through PKCS#8.
fn signing_pair(key: &rsa::PrivateKey) -> Result<KeyPair, KeyError> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Generate(format!("private key encoding: {e}")))?;
    KeyPair::from_pkcs8_der_and_sign_algo(&der.as_bytes().into(), &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| KeyError::Generate(format!("signing key: {e}")))
}

/// A positive random 16-byte serial, as `openssl x509 -req` gives one.
fn serial() -> Result<SerialNumber, KeyError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Generate("no random bytes for a serial number".into()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// A few minutes' slack for pods whose clocks run a little behind the one that made the set.
const BACKDATE: Duration = Duration::from_secs(300);

fn ca_params(fqdn: &str, now: OffsetDateTime) -> Result<CertificateParams, KeyError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, fqdn);
    p.distinguished_name.push(DnType::OrganizationName, "PULP");
    p.not_before = now - BACKDATE;
    p.not_after = now + time::Duration::days(CA_DAYS);
    p.serial_number = Some(serial()?);
    // `pulp-gen-ca-certificate` passes `-extensions ca` without an `-extfile`, which
    // openssl ignores: its CA is a v1 certificate. A v3 CA (basicConstraints CA:TRUE) is
    // what verifiers expect today; openssl treats both as trust anchors.
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

fn tls_params(server_name: &str, now: OffsetDateTime) -> Result<CertificateParams, KeyError> {
    let mut names = vec![server_name.to_string()];
    if !server_name.eq_ignore_ascii_case("localhost") {
        names.push("localhost".into());
    }
    let mut p = CertificateParams::new(names).map_err(|e| {
        KeyError::Generate(format!(
            "server name {server_name:?} cannot be a certificate name: {e}"
        ))
    })?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, server_name);
    p.not_before = now - BACKDATE;
    p.not_after = now + time::Duration::days(TLS_DAYS);
    p.serial_number = Some(serial()?);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}
