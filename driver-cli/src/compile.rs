//! Compiling C inputs to bitcode with clang-22.

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

/// A bitcode file that is deleted when dropped.
pub struct TempBitcode(pub PathBuf);

impl Drop for TempBitcode {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Compiles `source` to bitcode with debug info; `flags` replace the DDK
/// defaults. Errors are one line: the first error clang printed.
pub fn compile(source: &Path, flags: &[String], index: usize) -> Result<TempBitcode, String> {
    let name = source.display().to_string();
    match std::fs::metadata(source) {
        Err(_) => return Err(format!("{name}: no such file")),
        Ok(m) if m.is_dir() => {
            return Err(format!("{name}: is a directory, expected a .bc, .ll or .c file"));
        }
        Ok(_) => {}
    }
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
