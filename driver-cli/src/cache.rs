//! The bitcode cache of `lockcheck check -p`: one `<key>.bc` per compiled
//! translation unit, under `<build dir>/.lockcheck-cache/` or `--cache-dir`.
//!
//! Compiling a driver project to bitcode costs far more than checking it, and
//! a re-run after an edit should only pay for what changed. The key hashes
//! everything the bitcode depends on: the clang version, the working
//! directory (debug info records it), the full argument list, and the
//! preprocessed source, so an edit to any header a unit includes changes
//! its key too. Preprocessing every unit is cheap next to compiling it.
//! SHA-256 keeps keys stable across Rust releases and machines.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Bumped when lockcheck changes what it puts in the cache.
const FORMAT: &str = "lockcheck-bitcode-cache-1";

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Opens (creating it when missing) the cache directory.
    pub fn open(dir: &Path) -> Result<Cache, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create cache directory: {e}", dir.display()))?;
        // Absolute: clang runs in each unit's own directory.
        let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Cache { dir })
    }

    /// The cache key of one compile.
    pub fn key(clang_version: &str, directory: &Path, args: &[String], preprocessed: &[u8]) -> String {
        let mut hash = Sha256::new();
        // Each field is length-prefixed so no two lists hash alike.
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(FORMAT.as_bytes());
        field(clang_version.as_bytes());
        field(directory.as_os_str().as_encoded_bytes());
        field(&(args.len() as u64).to_le_bytes());
        for arg in args {
            field(arg.as_bytes());
        }
        field(preprocessed);
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Where the bitcode of `key` is (or will be) stored.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.bc"))
    }

    /// A unique temporary name for a compile in progress: the compile
    /// writes it, then `commit` renames it into place, so a crash or a
    /// concurrent run never leaves a partial entry under the key's name.
    /// `unit` tells apart two units of one run with the same key.
    pub fn temporary(&self, key: &str, unit: usize) -> PathBuf {
        self.dir.join(format!("{key}.{}-{unit}.tmp", std::process::id()))
    }

    pub fn commit(&self, temporary: &Path, key: &str) -> Result<PathBuf, String> {
        let path = self.path(key);
        std::fs::rename(temporary, &path).map_err(|e| format!("{}: cannot store in cache: {e}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_part() {
        let args = vec!["-O0".to_string(), "a.c".to_string()];
        let base = Cache::key("clang 22", Path::new("/b"), &args, b"int x;");
        assert_eq!(base, Cache::key("clang 22", Path::new("/b"), &args, b"int x;"));
        assert_eq!(base.len(), 64);
        assert_ne!(base, Cache::key("clang 23", Path::new("/b"), &args, b"int x;"));
        assert_ne!(base, Cache::key("clang 22", Path::new("/c"), &args, b"int x;"));
        assert_ne!(base, Cache::key("clang 22", Path::new("/b"), &args[..1], b"int x;"));
        assert_ne!(base, Cache::key("clang 22", Path::new("/b"), &args, b"int y;"));
        let joined = vec!["-O0a.c".to_string()];
        assert_ne!(base, Cache::key("clang 22", Path::new("/b"), &joined, b"int x;"));
    }
}
