//! The build-integration examples (examples/cmake, examples/make) configured
//! and built for real: with the plugin, lockcheck's finding in the example
//! driver is a compiler warning and the build succeeds; with -Werror it is
//! an error and the build fails; without the plugin there is no finding.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lockcheck_tests::front_ends::{cli_path, plugin_path};
use lockcheck_tests::target_dir;

/// The one violation in examples/packet_queue.c.
const FINDING: &str = "packet_queue.c:126:13: warning: dispatch routine for IRP_MJ_DEVICE_CONTROL 'DispatchDeviceControl' returns while spin lock '&ext->StatsLock' is held [wdm.SpinLock]";
const FINDING_AS_ERROR: &str = "packet_queue.c:126:13: error: dispatch routine for IRP_MJ_DEVICE_CONTROL";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn plugin() -> String {
    let path = plugin_path();
    assert!(path.is_file(), "{} is not built: run `cargo build --release --workspace` first", path.display());
    path.display().to_string()
}

fn run(command: &mut Command) -> (bool, String) {
    let Output { status, stdout, stderr } =
        command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (scripts/setup.sh installs it)"));
    (status.success(), format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr)))
}

fn scratch(name: &str) -> PathBuf {
    let dir = target_dir().join("build-integration").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cmake_build(build: &Path, options: &[String]) -> (bool, String) {
    let source = examples().join("cmake");
    let (ok, log) = run(Command::new("cmake").arg("-S").arg(&source).arg("-B").arg(build).args(options));
    assert!(ok, "cmake configure failed:\n{log}");
    run(Command::new("cmake").arg("--build").arg(build))
}

#[test]
fn cmake_example_reports_during_the_build() {
    let build = scratch("cmake");
    let plugin = format!("-DLOCKCHECK_PLUGIN={}", plugin());
    let (ok, log) = cmake_build(&build, &["-DCMAKE_C_COMPILER=clang-22".into(), plugin]);
    assert!(ok, "the build must succeed with warnings:\n{log}");
    assert!(log.contains(FINDING), "no lockcheck warning in the build log:\n{log}");
    assert!(build.join("compile_commands.json").is_file(), "the example exports compile_commands.json");

    let (ok, log) = cmake_build(&build, &["-DLOCKCHECK_WERROR=ON".into()]);
    assert!(!ok, "-Werror must fail the build:\n{log}");
    assert!(log.contains(FINDING_AS_ERROR), "the finding must be an error:\n{log}");

    // The exported database checks the same, though it loads the plugin
    // with -Werror itself: `check -p` drops pass plugins from the flags.
    let run = Command::new(cli_path()).arg("check").arg("-p").arg(&build).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains(FINDING), "{stdout}");
}

#[test]
fn cmake_example_without_the_plugin_is_not_checked() {
    let build = scratch("cmake-plain");
    let (ok, log) = cmake_build(&build, &["-DCMAKE_C_COMPILER=clang-22".into()]);
    assert!(ok, "{log}");
    assert!(!log.contains("[wdm.SpinLock]"), "{log}");
}

#[test]
fn makefile_example_reports_through_cflags() {
    let out = scratch("make");
    let make = |cflags: String| {
        run(Command::new("make")
            .arg("-B")
            .arg("-C")
            .arg(examples().join("make"))
            .arg(format!("OUT={}", out.display()))
            .arg(format!("CFLAGS={cflags}")))
    };
    let plugin = format!("-fpass-plugin={}", plugin());
    let (ok, log) = make(plugin.clone());
    assert!(ok, "{log}");
    assert!(log.contains(FINDING), "no lockcheck warning in the make log:\n{log}");
    assert!(out.join("packet_queue.o").is_file());

    let (ok, log) = make(format!("{plugin} -Werror"));
    assert!(!ok, "-Werror must fail the build:\n{log}");
    assert!(log.contains(FINDING_AS_ERROR), "{log}");
}
