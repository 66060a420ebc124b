//! Compiling C inputs to bitcode with clang-22, and Rust crates with rustc.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Headers and sysroot of Debian's mingw-w64 packages (the DDK setup used
/// when no compiler flags are given).
pub const DEFAULT_FLAGS: &[&str] = &[
    "--target=x86_64-w64-mingw32",
    "--sysroot=/usr/x86_64-w64-mingw32",
    "-isystem",
    "/usr/share/mingw-w64/include/ddk",
    "-w",
    "-O0",
];

/// The clang to use: $LOCKCHECK_CLANG, else clang-22 on PATH, else LLVM 22's.
pub fn clang() -> PathBuf {
    if let Some(path) = std::env::var_os("LOCKCHECK_CLANG") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|dir| dir.join("clang-22").is_file()))
        .unwrap_or(false);
    if on_path { PathBuf::from("clang-22") } else { PathBuf::from("/usr/lib/llvm-22/bin/clang") }
}

/// A bitcode file (or a directory of them) that is deleted when dropped.
pub struct TempBitcode(pub PathBuf);

impl Drop for TempBitcode {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// rustc flags for a Rust crate when none are given: a library for the
/// host, unoptimised (as `cargo build` builds a driver's debug profile).
pub const DEFAULT_RUSTC_FLAGS: &[&str] = &["--edition=2021", "--crate-type=lib", "-C", "opt-level=0"];

/// The rustc to use: $LOCKCHECK_RUSTC, else rustc on PATH. rustc must use
/// LLVM 22 (rustc 1.95 does) for its bitcode to load.
pub fn rustc() -> PathBuf {
    std::env::var_os("LOCKCHECK_RUSTC").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("rustc"))
}

/// `source`'s name for messages, once it is known to be a file.
fn existing_file(source: &Path) -> Result<String, String> {
    let name = source.display().to_string();
    match std::fs::metadata(source) {
        Err(_) => Err(format!("{name}: no such file")),
        Ok(m) if m.is_dir() => Err(format!("{name}: is a directory, expected a .bc, .ll, .c or .rs file")),
        Ok(_) => Ok(name),
    }
}

/// Compiles the crate whose root is `source` to bitcode with debug info;
/// `flags` replace the defaults. Returns the directory holding the bitcode
/// of its codegen units (several with `-C codegen-units=N`) and those files.
pub fn compile_rust(source: &Path, flags: &[String], index: usize) -> Result<(TempBitcode, Vec<PathBuf>), String> {
    let name = existing_file(source)?;
    let dir = TempBitcode(std::env::temp_dir().join(format!("lockcheck-{}-{index}-rs", std::process::id())));
    std::fs::create_dir_all(&dir.0).map_err(|e| format!("{}: {e}", dir.0.display()))?;
    let mut command = Command::new(rustc());
    if flags.is_empty() {
        command.args(DEFAULT_RUSTC_FLAGS);
        // Like cargo, name a crate whose root is lib.rs or main.rs after its
        // directory, so reports say `rust_driver::queue::drain`, not `lib::...`.
        let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let dir =
            std::path::absolute(source).ok().and_then(|p| p.parent().and_then(|d| d.file_name()).map(|n| n.to_owned()));
        if let (true, Some(dir)) = (stem == "lib" || stem == "main", dir) {
            let name: String =
                dir.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            if name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
                command.arg("--crate-name").arg(name);
            }
        }
    } else {
        command.args(flags);
    }
    command.args(["--emit=llvm-bc", "-C", "debuginfo=2", "--out-dir"]).arg(&dir.0).arg(source);
    let output = command.output().map_err(|e| format!("{name}: cannot run {}: {e}", rustc().display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| l.starts_with("error")).unwrap_or("compilation failed").trim();
        return Err(format!("{name}: rustc failed: {first}"));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir.0)
        .map_err(|e| format!("{}: {e}", dir.0.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "bc"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{name}: rustc wrote no bitcode"));
    }
    Ok((dir, files))
}

/// Compiles `source` to bitcode with debug info; `flags` replace the DDK
/// defaults. Errors are one line: the first error clang printed.
pub fn compile(source: &Path, flags: &[String], index: usize) -> Result<TempBitcode, String> {
    let name = existing_file(source)?;
    let out = TempBitcode(std::env::temp_dir().join(format!("lockcheck-{}-{index}.bc", std::process::id())));
    let mut command = Command::new(clang());
    if flags.is_empty() {
        command.args(DEFAULT_FLAGS);
    } else {
        command.args(flags);
    }
    // Debug info gives locations and names; optnone would stop promotion.
    command.args(["-c", "-emit-llvm", "-g", "-Xclang", "-disable-O0-optnone", "-o"]).arg(&out.0).arg(source);
    let output = command.output().map_err(|e| format!("{name}: cannot run {}: {e}", clang().display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| l.contains("error:")).unwrap_or("compilation failed").trim();
        return Err(format!("{name}: clang failed: {first}"));
    }
    Ok(out)
}
