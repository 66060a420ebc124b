//! Compiles the C++ pass-plugin shim against LLVM 22's headers.

use std::process::Command;

fn llvm_config() -> String {
    if let Ok(path) = std::env::var("LLVM_CONFIG") {
        return path;
    }
    for candidate in ["llvm-config-22", "/usr/lib/llvm-22/bin/llvm-config", "llvm-config"] {
        if Command::new(candidate).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return candidate.to_string();
        }
    }
    panic!("llvm-config for LLVM 22 not found: install llvm-22-dev (scripts/setup.sh) or set LLVM_CONFIG");
}

fn main() {
    println!("cargo:rerun-if-changed=shim/plugin.cpp");
    println!("cargo:rerun-if-env-changed=LLVM_CONFIG");
    println!("cargo:rerun-if-changed=../rules.yaml");
    let config = llvm_config();
    let output = Command::new(&config).arg("--cxxflags").output().expect("run llvm-config --cxxflags");
    let flags = String::from_utf8(output.stdout).expect("llvm-config output is UTF-8");
    let version = Command::new(&config).arg("--version").output().expect("run llvm-config --version");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    println!("cargo:rustc-env=LOCKCHECK_LLVM_VERSION={version}");

    let mut build = cc::Build::new();
    build.cpp(true).file("shim/plugin.cpp").warnings(false);
    for flag in flags.split_whitespace() {
        // The shim needs exceptions off and LLVM's include path and defines;
        // warning and optimisation choices stay with cc.
        if flag.starts_with("-I") || flag.starts_with("-D") || flag.starts_with("-std=") || flag == "-fno-exceptions" {
            build.flag(flag);
        }
    }
    build.flag("-fno-rtti");
    build.compile("lockcheck_shim");
}
