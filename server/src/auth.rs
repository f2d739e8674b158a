//! Secrets: password hashing, cookie secrets and the cookie header itself.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// Name of the session cookie (contract: "Session cookie").
pub const COOKIE_NAME: &str = "sg_session";

/// Length of a base64url-encoded 256-bit secret without padding.
const SECRET_LEN: usize = 43;

/// Fills `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).map_err(|e| AppError::Internal(format!("getrandom: {e}")))?;
    Ok(buf)
}

/// A fresh cookie secret: 256 random bits, base64url.
pub fn new_secret() -> Result<String, AppError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A fresh public session id. It is unrelated to the secret so that showing it in the
/// admin list, the audit log or a BroadcastChannel name grants nothing.
pub fn new_session_id() -> Result<String, AppError> {
    Ok(format!(
        "ses_{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<18>()?)
    ))
}

/// What the database stores instead of the secret: a leaked database then yields no
/// usable cookie. SHA-256 suffices because the secret has 256 bits of entropy.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The `sg_session` secret from the request's cookies, if one of the right shape is present.
pub fn session_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|v| {
            v.len() == SECRET_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
}

/// The `Set-Cookie` value that installs a new secret. No `Max-Age`: the cookie dies with
/// the browser, and the server enforces the real lifetime anyway.
pub fn set_cookie(secret: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={secret}; HttpOnly; SameSite=Strict; Path=/{secure}")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
}

/// Argon2id with either the library defaults or, for tests only, minimal costs, plus a
/// dummy hash so that unknown users cost as much time as wrong passwords.
#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    dummy_hash: String,
}

impl Passwords {
    /// Builds the hasher; `fast` selects the test-only parameters.
    pub fn new(fast: bool) -> Result<Self, AppError> {
        let params = if fast {
            Params::new(Params::MIN_M_COST, 1, 1, None)
        } else {
            Ok(Params::default())
        }
        .map_err(|e| AppError::Internal(format!("argon2 params: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut me = Self {
            argon,
            dummy_hash: String::new(),
        };
        me.dummy_hash = me.hash(&new_secret()?)?;
        Ok(me)
    }

    /// A PHC string for `password` with a random salt.
    pub fn hash(&self, password: &str) -> Result<String, AppError> {
        let salt = SaltString::encode_b64(&random_bytes::<16>()?)
            .map_err(|e| AppError::Internal(format!("salt: {e}")))?;
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("argon2: {e}")))
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no
    /// user (always false then), so both failures take similar time.
    pub fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let target = hash.unwrap_or(&self.dummy_hash);
        let ok = PasswordHash::new(target)
            .map(|parsed| {
                self.argon
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && hash.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn hashing_round_trips() {
        let p = Passwords::new(true).expect("hasher");
        let h = p.hash("correct horse").expect("hash");
        assert!(p.verify("correct horse", Some(&h)));
        assert!(!p.verify("wrong", Some(&h)));
        assert!(!p.verify("correct horse", None));
        assert!(!p.verify("x", Some("not a phc string")));
    }

    #[test]
    fn cookie_parsing() {
        let secret = new_secret().expect("secret");
        assert_eq!(secret.len(), SECRET_LEN);
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; sg_session={secret}; c=d")).expect("header"),
        );
        assert_eq!(session_secret(&headers), Some(secret));
        let mut bad = HeaderMap::new();
        bad.insert(COOKIE, HeaderValue::from_static("sg_session=short"));
        assert_eq!(session_secret(&bad), None);
        assert_eq!(session_secret(&HeaderMap::new()), None);
    }

    #[test]
    fn secret_hash_is_hex_sha256() {
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
