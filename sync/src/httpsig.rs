//! HTTP Message Signatures (RFC 9421) as the kiosk API uses them.
//!
//! Every request from a kiosk is signed with its Ed25519 device key over
//! the method, authority, path, query and the body's `Content-Digest`
//! (RFC 9530, SHA-256). The signature parameters carry `created`, a random
//! `nonce`, the `keyid` (the device public key, base64), `alg="ed25519"`
//! and the application `tag`, so the portal can refuse stale and replayed
//! requests. Structured-field parsing and serialisation is the `sfv`
//! crate's; what is written here is the signature base (RFC 9421 §2.5) and
//! the checks.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sfv::{
    BareItem, Dictionary, FieldType as _, InnerList, Item, KeyRef, List, ListEntry, Parameters,
    Parser,
};
use sha2::{Digest, Sha256};

use crate::{DeviceKey, DevicePublicKey};

/// The signature's label in `Signature-Input` and `Signature`.
pub const LABEL: &str = "kiosk";
/// The application tag: a signature made for anything else is not ours.
pub const TAG: &str = "vn-dvc-kiosk/1";
/// What every kiosk request signature covers, in this order.
pub const COVERED: [&str; 5] = ["@method", "@authority", "@path", "@query", "content-digest"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request carries no {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("the signature does not cover {0}")]
    NotCovered(&'static str),
    #[error("signature parameter {0} is missing or of the wrong type")]
    Parameter(&'static str),
    #[error("Content-Digest does not match the body")]
    DigestMismatch,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
}

/// `sha-256=:…:` of `body` (RFC 9530 §2).
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", B64.encode(Sha256::digest(body)))
}

/// The components of a request that derived components are taken from
/// (RFC 9421 §2.2), with the header fields the signature may cover.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// Host and port as sent (`Host` header or URI authority).
    pub authority: &'a str,
    pub path: &'a str,
    /// Without the leading `?`; `None` or empty when there is none.
    pub query: Option<&'a str>,
    pub content_digest: Option<&'a str>,
}

impl RequestParts<'_> {
    /// The value of one covered component, as RFC 9421 §2 derives it.
    fn component(&self, name: &str) -> Option<String> {
        match name {
            "@method" => Some(self.method.to_ascii_uppercase()),
            "@authority" => Some(normalise_authority(self.authority)),
            "@path" => Some(if self.path.is_empty() {
                "/".into()
            } else {
                self.path.into()
            }),
            "@query" => Some(format!("?{}", self.query.unwrap_or(""))),
            "content-digest" => self.content_digest.map(|v| v.trim().to_string()),
            _ => None,
        }
    }
}

/// Lower-case host; the default ports of http and https are left out
/// (RFC 9421 §2.2.3).
fn normalise_authority(authority: &str) -> String {
    let lower = authority.trim().to_ascii_lowercase();
    for default in [":80", ":443"] {
        if let Some(host) = lower.strip_suffix(default) {
            return host.to_string();
        }
    }
    lower
}

fn sf_key(name: &'static str) -> &'static KeyRef {
    KeyRef::constant(name)
}

fn string_item(text: &str) -> Result<BareItem, SignatureError> {
    sfv::String::from_string(text.to_string())
        .map(BareItem::String)
        .map_err(|_| SignatureError::Malformed("Signature-Input"))
}

/// The signature base (RFC 9421 §2.5): one line per covered component,
/// then `@signature-params` with the serialised inner list.
pub fn signature_base(
    components: &[(&str, &str)],
    params: &InnerList,
) -> Result<String, SignatureError> {
    let mut base = String::new();
    for (name, value) in components {
        base.push_str(&format!("\"{name}\": {value}\n"));
    }
    let list: List = vec![ListEntry::InnerList(params.clone())];
    let serialised = list
        .serialize()
        .ok_or(SignatureError::Malformed("Signature-Input"))?;
    base.push_str(&format!("\"@signature-params\": {serialised}"));
    Ok(base)
}

/// The headers a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub content_digest: String,
    pub signature_input: String,
    pub signature: String,
}

/// Signs a request of the kiosk API. `parts.content_digest` is ignored:
/// the digest is computed from `body`.
pub fn sign(
    parts: RequestParts<'_>,
    body: &[u8],
    key: &DeviceKey,
    created: i64,
    nonce: &str,
) -> SignatureHeaders {
    let digest = content_digest(body);
    let parts = RequestParts {
        content_digest: Some(&digest),
        ..parts
    };
    let items = COVERED
        .iter()
        .map(|c| Item::new(string_item(c).expect("component names are valid strings")))
        .collect();
    let mut params = Parameters::new();
    params.insert(
        sf_key("created").to_owned(),
        BareItem::try_from(created)
            .expect("a Unix time is within the structured-field integer range"),
    );
    params.insert(
        sf_key("nonce").to_owned(),
        string_item(nonce).expect("nonces are base64"),
    );
    params.insert(
        sf_key("keyid").to_owned(),
        string_item(&key.public_key().to_base64()).expect("base64 is a valid string"),
    );
    params.insert(
        sf_key("alg").to_owned(),
        string_item("ed25519").expect("valid string"),
    );
    params.insert(
        sf_key("tag").to_owned(),
        string_item(TAG).expect("valid string"),
    );
    let inner = InnerList::with_params(items, params);
    let values: Vec<(String, String)> = COVERED
        .iter()
        .map(|c| {
            (
                c.to_string(),
                parts.component(c).expect("every covered component exists"),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let base = signature_base(&pairs, &inner).expect("our own parameters serialise");
    let signature = key.sign(base.as_bytes());
    let mut input = Dictionary::new();
    input.insert(
        sfv::Key::from_string(LABEL.into()).expect("valid key"),
        ListEntry::InnerList(inner),
    );
    let mut sig = Dictionary::new();
    sig.insert(
        sfv::Key::from_string(LABEL.into()).expect("valid key"),
        ListEntry::Item(Item::new(BareItem::ByteSequence(signature.to_vec()))),
    );
    SignatureHeaders {
        content_digest: digest,
        signature_input: input.serialize().expect("non-empty dictionary"),
        signature: sig.serialize().expect("non-empty dictionary"),
    }
}

/// What a verified signature says about its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub key: DevicePublicKey,
    pub created: i64,
    pub nonce: String,
}

fn param_str(params: &Parameters, name: &'static str) -> Result<String, SignatureError> {
    params
        .get(name)
        .and_then(|v| v.as_string())
        .map(|s| s.as_str().to_string())
        .ok_or(SignatureError::Parameter(name))
}

/// The key a request says it is signed with (`keyid` in `Signature-Input`),
/// read from the headers alone and not verified: enough to turn away a
/// request that is unsigned, or signed by no known kiosk, before its body
/// is read. [`verify`] decides.
pub fn claimed_key(
    signature_input: Option<&str>,
    signature: Option<&str>,
) -> Result<DevicePublicKey, SignatureError> {
    let input = signature_input.ok_or(SignatureError::Missing("Signature-Input"))?;
    signature.ok_or(SignatureError::Missing("Signature"))?;
    let input: Dictionary = Parser::new(input)
        .parse()
        .map_err(|_| SignatureError::Malformed("Signature-Input"))?;
    let Some(ListEntry::InnerList(inner)) = input.get(LABEL) else {
        return Err(SignatureError::Malformed("Signature-Input"));
    };
    let keyid = param_str(&inner.params, "keyid")?;
    DevicePublicKey::from_base64(&keyid).map_err(|_| SignatureError::UnknownKey)
}

/// Checks a kiosk request's signature and body digest. `key_for` is given
/// the `keyid` and answers the key it names (the portal also checks the
/// key belongs to an enrolled kiosk; enrolment itself accepts any).
/// Freshness of `created` and uniqueness of `nonce` are the caller's.
pub fn verify(
    parts: RequestParts<'_>,
    body: &[u8],
    signature_input: Option<&str>,
    signature: Option<&str>,
    key_for: impl FnOnce(&str) -> Option<DevicePublicKey>,
) -> Result<Verified, SignatureError> {
    let input = signature_input.ok_or(SignatureError::Missing("Signature-Input"))?;
    let signature = signature.ok_or(SignatureError::Missing("Signature"))?;
    let digest = parts
        .content_digest
        .ok_or(SignatureError::Missing("Content-Digest"))?;
    let input: Dictionary = Parser::new(input)
        .parse()
        .map_err(|_| SignatureError::Malformed("Signature-Input"))?;
    let signatures: Dictionary = Parser::new(signature)
        .parse()
        .map_err(|_| SignatureError::Malformed("Signature"))?;
    let Some(ListEntry::InnerList(inner)) = input.get(LABEL) else {
        return Err(SignatureError::Malformed("Signature-Input"));
    };
    let Some(ListEntry::Item(Item {
        bare_item: BareItem::ByteSequence(sig_bytes),
        ..
    })) = signatures.get(LABEL)
    else {
        return Err(SignatureError::Malformed("Signature"));
    };
    let covered: Vec<String> = inner
        .items
        .iter()
        .map(|i| {
            i.bare_item
                .as_string()
                .map(|s| s.as_str().to_string())
                .ok_or(SignatureError::Malformed("Signature-Input"))
        })
        .collect::<Result<_, _>>()?;
    for required in COVERED {
        if !covered.iter().any(|c| c == required) {
            return Err(SignatureError::NotCovered(required));
        }
    }
    let created = inner
        .params
        .get("created")
        .and_then(|v| v.as_integer())
        .map(i64::from)
        .ok_or(SignatureError::Parameter("created"))?;
    let nonce = param_str(&inner.params, "nonce")?;
    let keyid = param_str(&inner.params, "keyid")?;
    if param_str(&inner.params, "tag")? != TAG {
        return Err(SignatureError::Parameter("tag"));
    }
    if let Some(alg) = inner.params.get("alg")
        && alg.as_string().map(|s| s.as_str()) != Some("ed25519")
    {
        return Err(SignatureError::Parameter("alg"));
    }
    if content_digest(body) != digest.trim() {
        return Err(SignatureError::DigestMismatch);
    }
    let values: Vec<(String, String)> = covered
        .iter()
        .map(|c| {
            parts
                .component(c)
                .map(|v| (c.clone(), v))
                .ok_or(SignatureError::Malformed("Signature-Input"))
        })
        .collect::<Result<_, _>>()?;
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let base = signature_base(&pairs, inner)?;
    let key = key_for(&keyid).ok_or(SignatureError::UnknownKey)?;
    key.verify(base.as_bytes(), sig_bytes)
        .map_err(|_| SignatureError::BadSignature)?;
    Ok(Verified {
        key,
        created,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// RFC 9421 Appendix B.1.4: `test-key-ed25519`, as JWK `d` and `x`.
    const RFC_SEED: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
    const RFC_PUBLIC: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";

    #[test]
    fn rfc_9421_b_2_6_ed25519_signature_is_reproduced() {
        let input = concat!(
            r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")"#,
            r#";created=1618884473;keyid="test-key-ed25519""#
        );
        let dict: Dictionary = Parser::new(input).parse().unwrap();
        let Some(ListEntry::InnerList(inner)) = dict.get("sig-b26") else {
            panic!("inner list")
        };
        let base = signature_base(
            &[
                ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
                ("@method", "POST"),
                ("@path", "/foo"),
                ("@authority", "example.com"),
                ("content-type", "application/json"),
                ("content-length", "18"),
            ],
            inner,
        )
        .unwrap();
        let key = DeviceKey::from_secret_bytes(&URL_SAFE_NO_PAD.decode(RFC_SEED).unwrap()).unwrap();
        assert_eq!(
            key.public_key().to_bytes().to_vec(),
            URL_SAFE_NO_PAD.decode(RFC_PUBLIC).unwrap()
        );
        assert_eq!(
            B64.encode(key.sign(base.as_bytes())),
            "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
        );
    }

    #[test]
    fn rfc_9530_content_digest_example() {
        // RFC 9530 Appendix B.1: the body {"hello": "world"} with a newline.
        assert_eq!(
            content_digest(b"{\"hello\": \"world\"}\n"),
            "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
        );
    }

    fn parts<'a>(digest: Option<&'a str>) -> RequestParts<'a> {
        RequestParts {
            method: "POST",
            authority: "portal.example:8443",
            path: "/v1/registrations",
            query: None,
            content_digest: digest,
        }
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let key = DeviceKey::generate();
        let body = br#"{"envelopes":[]}"#;
        let h = sign(parts(None), body, &key, 1_764_300_000, "bm9uY2U");
        let lookup = |id: &str| DevicePublicKey::from_base64(id).ok();
        let check = |p: RequestParts<'_>, body: &[u8], h: &SignatureHeaders| {
            verify(
                p,
                body,
                Some(&h.signature_input),
                Some(&h.signature),
                lookup,
            )
        };
        let ok = check(parts(Some(&h.content_digest)), body, &h).unwrap();
        assert_eq!(
            (ok.key, ok.created, ok.nonce.as_str()),
            (key.public_key(), 1_764_300_000, "bm9uY2U")
        );
        assert_eq!(
            check(parts(Some(&h.content_digest)), b"{}", &h),
            Err(SignatureError::DigestMismatch)
        );
        let forged = content_digest(b"{}");
        assert_eq!(
            check(parts(Some(&forged)), b"{}", &h),
            Err(SignatureError::BadSignature)
        );
        let other_path = RequestParts {
            path: "/v1/heartbeat",
            ..parts(Some(&h.content_digest))
        };
        assert_eq!(
            check(other_path, body, &h),
            Err(SignatureError::BadSignature)
        );
        let other_host = RequestParts {
            authority: "evil.example",
            ..parts(Some(&h.content_digest))
        };
        assert_eq!(
            check(other_host, body, &h),
            Err(SignatureError::BadSignature)
        );
        // A later nonce or time pasted into the input breaks the signature.
        let mut replayed = h.clone();
        replayed.signature_input = h.signature_input.replace("1764300000", "1764300999");
        assert_eq!(
            check(parts(Some(&h.content_digest)), body, &replayed),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn a_signature_by_a_key_other_than_the_keyid_fails() {
        let (key, other) = (DeviceKey::generate(), DeviceKey::generate());
        let h = sign(parts(None), b"", &key, 1, "n");
        let r = verify(
            parts(Some(&h.content_digest)),
            b"",
            Some(&h.signature_input),
            Some(&h.signature),
            |_| Some(other.public_key()),
        );
        assert_eq!(r, Err(SignatureError::BadSignature));
    }

    #[test]
    fn incomplete_coverage_and_missing_headers_are_refused() {
        let key = DeviceKey::generate();
        let h = sign(parts(None), b"", &key, 1, "n");
        let p = parts(Some(&h.content_digest));
        let lookup = |id: &str| DevicePublicKey::from_base64(id).ok();
        assert_eq!(
            verify(p, b"", None, Some(&h.signature), lookup),
            Err(SignatureError::Missing("Signature-Input"))
        );
        let narrowed = h.signature_input.replace(r#" "content-digest""#, "");
        assert_eq!(
            verify(p, b"", Some(&narrowed), Some(&h.signature), lookup),
            Err(SignatureError::NotCovered("content-digest"))
        );
        let retagged = h.signature_input.replace(TAG, "other-app");
        assert_eq!(
            verify(p, b"", Some(&retagged), Some(&h.signature), lookup),
            Err(SignatureError::Parameter("tag"))
        );
        assert_eq!(
            verify(p, b"", Some("kiosk=("), Some(&h.signature), lookup),
            Err(SignatureError::Malformed("Signature-Input"))
        );
    }

    #[test]
    fn derived_components_follow_the_rfc() {
        let p = RequestParts {
            method: "get",
            authority: "Portal.Example:443",
            path: "",
            query: Some("cursor=5"),
            content_digest: None,
        };
        assert_eq!(p.component("@method").unwrap(), "GET");
        assert_eq!(p.component("@authority").unwrap(), "portal.example");
        assert_eq!(p.component("@path").unwrap(), "/");
        assert_eq!(p.component("@query").unwrap(), "?cursor=5");
        let none = RequestParts { query: None, ..p };
        assert_eq!(none.component("@query").unwrap(), "?");
    }
}
