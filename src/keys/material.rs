//! PEM text -> what the checks compare: a private key's public half, a public key, certificates.

use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};

/// A public key as the checks compare it: algorithm and key bits, whatever the encoding's
/// optional parameters (openssl writes NULL for RSA, others omit it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub algorithm: String,
    pub bits: Vec<u8>,
}

impl PublicKey {
    pub fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> PublicKey {
        PublicKey {
            algorithm: spki.algorithm.algorithm.to_id_string(),
            bits: spki.subject_public_key.data.to_vec(),
        }
    }

    fn from_spki_der(der: &[u8]) -> Result<PublicKey, String> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| format!("its public key does not parse ({e})"))?;
        Ok(PublicKey::from_spki(&spki))
    }
}

fn blocks(text: &str) -> Result<Vec<pem::Pem>, String> {
    let blocks = pem::parse_many(text).map_err(|e| format!("is not valid PEM ({e})"))?;
    if blocks.is_empty() {
        return Err("holds no PEM block (-----BEGIN ...-----)".into());
    }
    Ok(blocks)
}

/// The public half of the first private key in `text`: PKCS#1 or PKCS#8 RSA, or a PKCS#8
/// EC/Ed25519 key (through ring).
pub fn private_key(text: &str) -> Result<PublicKey, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let blocks = blocks(text)?;
    let Some(block) = blocks.iter().find(|b| b.tag().ends_with("PRIVATE KEY")) else {
        return Err("holds no private key (no -----BEGIN ... PRIVATE KEY----- block)".into());
    };
    let encrypted = block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"));
    if encrypted || block.tag() == "ENCRYPTED PRIVATE KEY" {
        return Err(
            "is encrypted: httpd and Pulp cannot use a key that needs a passphrase; \
                    decrypt it (openssl pkey -in FILE -out FILE)"
                .into(),
        );
    }
    let rsa = match block.tag() {
        "RSA PRIVATE KEY" => rsa::PrivateKey::from_pkcs1_der(block.contents())
            .map_err(|e| format!("is not a valid RSA private key ({e})"))?,
        "PRIVATE KEY" => match rsa::PrivateKey::from_pkcs8_der(block.contents()) {
            Ok(k) => k,
            Err(_) => {
                let pair = rcgen::KeyPair::try_from(block.contents())
                    .map_err(|e| format!("is not a private key pulp-init can read ({e})"))?;
                return PublicKey::from_spki_der(&rcgen::PublicKeyData::subject_public_key_info(
                    &pair,
                ));
            }
        },
        "EC PRIVATE KEY" => {
            return Err(
                "is a SEC1 EC key, which pulp-init cannot read; convert it to PKCS#8 \
                        (openssl pkcs8 -topk8 -nocrypt -in FILE -out FILE)"
                    .into(),
            )
        }
        other => return Err(format!("holds a {other:?} block, not a private key")),
    };
    let der = rsa
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| format!("its public key cannot be encoded ({e})"))?;
    PublicKey::from_spki_der(der.as_bytes())
}

/// A public key as `openssl rsa -pubout` writes it (SubjectPublicKeyInfo, "PUBLIC KEY"):
/// what Pulp's M2Crypto `RSA.load_pub_key_bio` reads.
pub fn public_key(text: &str) -> Result<PublicKey, String> {
    let blocks = blocks(text)?;
    match blocks.first().map(pem::Pem::tag) {
        Some("PUBLIC KEY") => PublicKey::from_spki_der(blocks[0].contents()),
        Some("RSA PUBLIC KEY") => Err("is a PKCS#1 \"RSA PUBLIC KEY\", which Pulp cannot load; \
                                       write it as openssl does (openssl rsa -in rsa.key -pubout)"
            .into()),
        Some(other) => Err(format!("holds a {other:?} block, not a public key")),
        None => Err("holds no PEM block".into()),
    }
}

/// The DER of every certificate in `text`, the first (the leaf) first.
pub fn certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let ders: Vec<Vec<u8>> = blocks(text)?
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if ders.is_empty() {
        return Err("holds no certificate (no -----BEGIN CERTIFICATE----- block)".into());
    }
    for der in &ders {
        X509Certificate::from_der(der).map_err(|e| format!("is not a valid certificate ({e})"))?;
    }
    Ok(ders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_pem() {
        assert!(private_key("hello").unwrap_err().contains("no PEM block"));
        assert!(certificates("").is_err());
    }

    #[test]
    fn pkcs1_public_key_is_refused_with_the_fix() {
        let text = "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n";
        assert!(public_key(text).unwrap_err().contains("-pubout"));
    }
}
