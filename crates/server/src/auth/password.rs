//! Password hashes: argon2id in the PHC string format, as stored for
//! accounts and written into `[[oper]]` blocks.

/// Hashes a password as argon2id, in the PHC string format.
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept
    /// by each thread that verifies passwords: allocated per check, it was
    /// given back and faulted in again each time, a third of a login's CPU
    /// in the kernel (docs/PERFORMANCE.md, presence).
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks a password against a PHC hash string (argon2id, argon2i or
/// argon2d with the parameters it names), in memory kept by the thread.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{Output, PasswordHash};
    let Ok(h) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (h.hash, h.salt) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(h.algorithm) else {
        return false;
    };
    let version = match h.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&h) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = argon2::Argon2::new(algorithm, version, params);
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    let done = ARGON2_MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < blocks {
            m.resize(blocks, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut m[..blocks])
    });
    // `Output`'s comparison takes the same time wherever they differ.
    done.is_ok() && Output::new(out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    #[test]
    fn passwords_verify_with_the_parameters_their_hash_names() {
        let h = hash_password("s3cret");
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3creT", &h));
        assert!(!verify_password("s3cret", "not a hash"));
        // Other variants and costs than the default, and a shorter
        // memory after a longer one on the same thread.
        let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
        for alg in [argon2::Algorithm::Argon2i, argon2::Algorithm::Argon2d] {
            let params = argon2::Params::new(1024, 2, 1, Some(24)).unwrap();
            let a = argon2::Argon2::new(alg, argon2::Version::V0x13, params);
            let h = a.hash_password(b"pw", &salt).unwrap().to_string();
            assert!(verify_password("pw", &h), "{h}");
            assert!(!verify_password("pW", &h), "{h}");
        }
    }
}
