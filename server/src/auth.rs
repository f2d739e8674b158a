//! Secrets: password hashing, cookie secrets and the cookie header itself.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// Name of the session cookie over plain HTTP (contract: "Session cookie").
pub const COOKIE_NAME: &str = "sg_session";

/// Name of the session cookie when it is `Secure`: the `__Host-` prefix makes browsers
/// refuse it unless it is `Secure`, host-only and `Path=/`, so a sibling subdomain cannot
/// plant or shadow it.
pub const SECURE_COOKIE_NAME: &str = "__Host-sg_session";

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

/// The session secret from the request's cookies, if one of the right shape is present;
/// the `__Host-` cookie wins over a plain one.
pub fn session_secret(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SECURE_COOKIE_NAME).or_else(|| cookie_value(headers, COOKIE_NAME))
}

fn cookie_value(headers: &HeaderMap, cookie: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie)
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
    if secure {
        format!("{SECURE_COOKIE_NAME}={secret}; HttpOnly; SameSite=Strict; Path=/; Secure")
    } else {
        format!("{COOKIE_NAME}={secret}; HttpOnly; SameSite=Strict; Path=/")
    }
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    if secure {
        format!("{SECURE_COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure")
    } else {
        format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    }
}

/// Argon2id with the configured costs (or, for tests only, minimal ones), and the means
/// to make a sign-in for an unknown username cost exactly what a known one costs.
#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    params: Params,
    /// Keys the choice of a dummy's parameters, so an attacker cannot predict which
    /// stored hash family an unknown name is timed like.
    dummy_key: [u8; 32],
    dummy_salt: [u8; 16],
}

/// What one sign-in verifies the password against.
#[derive(Debug, Clone)]
pub enum Target {
    /// A user's stored PHC string.
    Stored(String),
    /// No such user: the same work with these parameters, never a match.
    Dummy(Params),
}

/// The outcome of one verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The password matched a stored hash.
    pub matched: bool,
    /// It matched a hash made with other parameters than the current ones: store a new one.
    pub outdated: bool,
}

impl Passwords {
    /// Builds the hasher with `memory_kib` and `iterations`; `fast` selects the test-only
    /// minimum instead.
    pub fn new(fast: bool, memory_kib: u32, iterations: u32) -> Result<Self, AppError> {
        let params = if fast {
            Params::new(Params::MIN_M_COST, 1, 1, None)
        } else {
            Params::new(memory_kib, iterations, 1, None)
        }
        .map_err(|e| AppError::Internal(format!("argon2 params: {e}")))?;
        Ok(Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            params,
            dummy_key: random_bytes()?,
            dummy_salt: random_bytes()?,
        })
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

    /// Which of the `count` users' stored hash parameters an unknown `username` is
    /// verified with: a keyed hash of the name, so the same name always costs the same and
    /// unknown names spread over the stored families as the real users do.
    pub fn dummy_index(&self, username: &str, count: u64) -> u64 {
        if count == 0 {
            return 0;
        }
        let mut digest = Sha256::new();
        digest.update(self.dummy_key);
        digest.update(username.to_lowercase().as_bytes());
        let bytes = digest.finalize();
        let mut head = [0u8; 8];
        head.copy_from_slice(&bytes[..8]);
        u64::from_le_bytes(head) % count
    }

    /// The dummy target timed like `sample` (a stored PHC string of a real user), or
    /// like the current parameters when there is none or it cannot be read.
    pub fn dummy_like(&self, sample: Option<&str>) -> Target {
        let params = sample
            .and_then(|phc| PasswordHash::new(phc).ok())
            .and_then(|parsed| Params::try_from(&parsed).ok())
            .unwrap_or_else(|| self.params.clone());
        Target::Dummy(params)
    }

    /// Verifies `password` against `target` in `memory` (a hash worker's reusable
    /// buffer, grown to the parameters' size), in constant time for a given parameter set.
    pub fn verify(&self, password: &str, target: &Target, memory: &mut Vec<Block>) -> Verdict {
        let no = Verdict {
            matched: false,
            outdated: false,
        };
        match target {
            Target::Dummy(params) => {
                let mut out = [0u8; 32];
                // The result is discarded: only the work matters.
                let _ = run_argon2(
                    Algorithm::Argon2id,
                    Version::V0x13,
                    params,
                    password,
                    &self.dummy_salt,
                    &mut out,
                    memory,
                );
                no
            }
            Target::Stored(phc) => {
                let Ok(parsed) = PasswordHash::new(phc) else {
                    return no;
                };
                let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
                    Algorithm::try_from(parsed.algorithm),
                    Params::try_from(&parsed),
                    parsed.salt,
                    parsed.hash,
                ) else {
                    return no;
                };
                let version = parsed
                    .version
                    .map_or(Ok(Version::V0x13), Version::try_from)
                    .unwrap_or(Version::V0x13);
                let mut salt_buf = [0u8; 64];
                let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
                    return no;
                };
                let mut out = vec![0u8; expected.len()];
                if run_argon2(
                    algorithm, version, &params, password, salt, &mut out, memory,
                )
                .is_err()
                {
                    return no;
                }
                // `Output`'s equality is constant-time.
                let matched = Output::new(&out).is_ok_and(|got| got == expected);
                let outdated = algorithm != Algorithm::Argon2id
                    || version != Version::V0x13
                    || params.m_cost() != self.params.m_cost()
                    || params.t_cost() != self.params.t_cost()
                    || params.p_cost() != self.params.p_cost();
                Verdict {
                    matched,
                    outdated: matched && outdated,
                }
            }
        }
    }
}

/// One argon2 computation in caller-owned memory, so a worker reuses one buffer instead
/// of allocating (and leaving to the allocator) tens of MiB per attempt.
fn run_argon2(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), argon2::Error> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        out,
        &mut memory[..blocks],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::collections::BTreeSet;

    fn stored(h: &str) -> Target {
        Target::Stored(h.to_owned())
    }

    #[test]
    fn hashing_round_trips() {
        let p = Passwords::new(true, 0, 0).expect("hasher");
        let h = p.hash("correct horse").expect("hash");
        let mut memory = Vec::new();
        let yes = p.verify("correct horse", &stored(&h), &mut memory);
        assert_eq!(
            yes,
            Verdict {
                matched: true,
                outdated: false
            }
        );
        assert!(!p.verify("wrong", &stored(&h), &mut memory).matched);
        let dummy = p.dummy_like(Some(&h));
        assert!(!p.verify("correct horse", &dummy, &mut memory).matched);
        assert!(
            !p.verify("x", &stored("not a phc string"), &mut memory)
                .matched
        );
    }

    #[test]
    fn older_parameters_match_and_ask_for_a_rehash() {
        let old = Passwords::new(false, Params::MIN_M_COST, 1).expect("old hasher");
        let current = Passwords::new(false, Params::MIN_M_COST, 2).expect("new hasher");
        let h = old.hash("pw-123456").expect("hash");
        let mut memory = Vec::new();
        let verdict = current.verify("pw-123456", &stored(&h), &mut memory);
        assert_eq!(
            verdict,
            Verdict {
                matched: true,
                outdated: true
            }
        );
        assert!(!current.verify("nope", &stored(&h), &mut memory).outdated);
    }

    #[test]
    fn an_unknown_name_costs_what_the_stored_family_costs() {
        let old = Passwords::new(false, Params::MIN_M_COST, 3).expect("old hasher");
        let current = Passwords::new(false, Params::MIN_M_COST * 2, 1).expect("new hasher");
        let h = old.hash("pw-123456").expect("hash");
        // The dummy takes the sampled user's parameters, not the current ones.
        let Target::Dummy(params) = current.dummy_like(Some(&h)) else {
            panic!("dummy expected");
        };
        assert_eq!((params.m_cost(), params.t_cost()), (Params::MIN_M_COST, 3));
        let Target::Dummy(fallback) = current.dummy_like(None) else {
            panic!("dummy expected");
        };
        assert_eq!(
            (fallback.m_cost(), fallback.t_cost()),
            (Params::MIN_M_COST * 2, 1)
        );
        // The same name always lands on the same user; names spread over all of them.
        assert_eq!(
            current.dummy_index("Mallory", 7),
            current.dummy_index("mallory", 7)
        );
        let spread: BTreeSet<u64> = (0..200)
            .map(|i| current.dummy_index(&format!("user{i}"), 7))
            .collect();
        assert_eq!(spread.len(), 7);
        assert_eq!(current.dummy_index("anyone", 0), 0);
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
