//! Throwaway demo keys on disk (`DEMO_KEYS_DIR`) and the randomness to make them.

use std::fs;
use std::io::Write;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};
use store_notifications::BoxError;

/// `n` random bytes, hex-encoded.
pub fn random_hex(n: usize) -> Result<String, BoxError> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system random generator failed")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `contents` to `dir/name`, readable by the owner only: even throwaway keys should
/// not be world-readable.
pub fn write(dir: &Path, name: &str, contents: &[u8]) -> Result<(), BoxError> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}

/// Reads `dir/name` as trimmed text.
pub fn read(dir: &Path, name: &str) -> Result<String, BoxError> {
    let path = dir.join(name);
    let text = fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {} ({e}); run `store-notifications-gateway --demo` first, \
             or point DEMO_KEYS_DIR at its keys",
            path.display()
        )
    })?;
    Ok(text.trim().to_owned())
}
