//! `lockcheck-ignore` comments, `--report-unused-ignores` and baselines,
//! through the CLI and the opt plugin. (The fixtures under
//! tests/fixtures/suppress/ check suppressions through every front end.)

use std::path::{Path, PathBuf};
use std::process::Command;

use lockcheck_tests::front_ends::{cli_path, plugin_path};
use lockcheck_tests::process::{Run, run};
use lockcheck_tests::target_dir;

/// A fresh directory for one test, under the build's target directory.
fn workdir(test: &str) -> PathBuf {
    let dir = target_dir().join("suppress-tests").join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `lockcheck ARGS` run inside `dir` (so reported files are relative names).
fn lockcheck(dir: &Path, args: &[&str]) -> Run {
    run(Command::new(cli_path()).current_dir(dir).args(args))
}

/// Warning lines of the text output: (line, rule).
fn warnings(stdout: &str) -> Vec<(u32, String)> {
    stdout
        .lines()
        .filter(|l| l.contains(": warning: "))
        .map(|l| {
            let line = l.split(':').nth(1).unwrap().parse().unwrap();
            let rule = l.rsplit_once(" [").unwrap().1.trim_end_matches(']').to_string();
            (line, rule)
        })
        .collect()
}

const HEADER: &str = "\
#include <ntddk.h>

typedef struct _DEVICE_EXTENSION {
    KSPIN_LOCK Lock;
    KSPIN_LOCK QueueLock;
} DEVICE_EXTENSION, *PDEVICE_EXTENSION;
";

/// A dispatch routine that acquires `Lock` twice; `comment` ends the line of
/// the second acquire, `above` is a line of its own before it.
fn double_acquire(name: &str, above: &str, comment: &str) -> String {
    format!(
        "
NTSTATUS {name}(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{{
    PDEVICE_EXTENSION ext = (PDEVICE_EXTENSION)DeviceObject->DeviceExtension;
    KIRQL irql;

    UNREFERENCED_PARAMETER(Irp);
    KeAcquireSpinLock(&ext->Lock, &irql);
{above}
    KeAcquireSpinLock(&ext->Lock, &irql); {comment}
    KeReleaseSpinLock(&ext->Lock, irql);
    return STATUS_SUCCESS;
}}
"
    )
}

/// A dispatch routine that completes its IRP under `QueueLock`.
fn complete_under_lock(name: &str, comment: &str) -> String {
    format!(
        "
NTSTATUS {name}(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{{
    PDEVICE_EXTENSION ext = (PDEVICE_EXTENSION)DeviceObject->DeviceExtension;
    KIRQL irql;

    KeAcquireSpinLock(&ext->QueueLock, &irql);
    IoCompleteRequest(Irp, IO_NO_INCREMENT); {comment}
    KeReleaseSpinLock(&ext->QueueLock, irql);
    return STATUS_SUCCESS;
}}
"
    )
}

/// DriverEntry registering `routines` as dispatch routines.
fn driver_entry(routines: &[&str]) -> String {
    let majors = ["IRP_MJ_READ", "IRP_MJ_WRITE", "IRP_MJ_CREATE", "IRP_MJ_CLOSE", "IRP_MJ_CLEANUP"];
    let mut text = String::from(
        "
NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNREFERENCED_PARAMETER(RegistryPath);
",
    );
    for (routine, major) in routines.iter().zip(majors) {
        text.push_str(&format!("    DriverObject->MajorFunction[{major}] = {routine};\n"));
    }
    text.push_str("    return STATUS_SUCCESS;\n}\n");
    text
}

/// Line (1-based) of the first line of `text` containing `needle`, after `after`.
fn line_of(text: &str, needle: &str, after: u32) -> u32 {
    text.lines().enumerate().skip(after as usize).find(|(_, l)| l.contains(needle)).expect(needle).0 as u32 + 1
}

/// A driver with one suppressed finding of each form and one comment that
/// names another rule.
fn suppressed_driver() -> String {
    [
        HEADER.to_string(),
        double_acquire("ReadSameLine", "", "// lockcheck-ignore[wdm.SpinLock]: test, same line"),
        double_acquire("WriteLineAbove", "    // lockcheck-ignore[wdm.SpinLock]: test, line above", ""),
        complete_under_lock("CloseBlock", "/* lockcheck-ignore[wdm.SpinLockSafe, wdm.SpinLock]: test, block */"),
        complete_under_lock("CreateOtherRule", "// lockcheck-ignore[wdm.SpinLock]: names another rule"),
        driver_entry(&["ReadSameLine", "WriteLineAbove", "CloseBlock", "CreateOtherRule"]),
    ]
    .concat()
}

#[test]
fn cli_honours_suppressions_and_counts_them() {
    let dir = workdir("cli");
    let source = suppressed_driver();
    std::fs::write(dir.join("driver.c"), &source).unwrap();
    let r = lockcheck(&dir, &["check", "driver.c", "--verbose"]);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    // Only the comment naming another rule leaves its finding.
    let other = line_of(&source, "names another rule", 0);
    assert_eq!(warnings(&r.stdout), vec![(other, "wdm.SpinLockSafe".to_string())], "{}", r.stdout);
    assert!(r.stderr.contains("lockcheck: 3 findings suppressed by lockcheck-ignore comments\n"), "{}", r.stderr);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

#[test]
fn opt_plugin_honours_suppressions() {
    let dir = workdir("opt");
    let source = suppressed_driver();
    let c = dir.join("driver.c");
    let bc = dir.join("driver.bc");
    std::fs::write(&c, &source).unwrap();
    let compiled = run(Command::new("clang-22")
        .args(["--target=x86_64-w64-mingw32", "--sysroot=/usr/x86_64-w64-mingw32"])
        .args(["-isystem", "/usr/share/mingw-w64/include/ddk"])
        .args(["-g", "-c", "-emit-llvm", "-Xclang", "-disable-O0-optnone", "-w", "-o"])
        .arg(&bc)
        .arg(&c));
    assert_eq!(compiled.code, Some(0), "{}", compiled.stderr);
    let opt = |passes: &str| {
        run(Command::new("opt-22")
            .arg(format!("-load-pass-plugin={}", plugin_path().display()))
            .arg(format!("-passes={passes}"))
            .arg("-disable-output")
            .arg(&bc))
    };
    let r = opt("lockcheck");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let other = line_of(&source, "names another rule", 0);
    let reported: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(reported.len(), 1, "{}", r.stderr);
    assert!(reported[0].contains(&format!("driver.c:{other}:")) && reported[0].ends_with("[wdm.SpinLockSafe]"));

    // The parameter adds what silenced nothing: the comment naming another
    // rule, and the unused id of the block comment.
    let r = opt("lockcheck<report-unused-ignores>");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let unused: Vec<&str> = r.stderr.lines().filter(|l| l.ends_with("[lockcheck.unused-ignore]")).collect();
    assert_eq!(unused.len(), 2, "{}", r.stderr);
    let block = line_of(&source, "test, block", 0);
    for (line, at) in unused.iter().zip([block, other]) {
        assert!(line.starts_with("warning: ") && line.contains(&format!("driver.c:{at}:")), "{line}");
        assert!(line.contains("lockcheck-ignore for wdm.SpinLock matched no finding on this line"), "{line}");
    }
}

#[test]
fn unused_ignores_only_with_the_flag() {
    let dir = workdir("unused");
    let source = [
        HEADER.to_string(),
        double_acquire("Read", "", "// lockcheck-ignore[wdm.SpinLock]: used"),
        complete_under_lock("Write", "// lockcheck-ignore[wdm.SpinLockSafe]: used"),
        // Balanced: the comment above the release silences nothing.
        "
NTSTATUS Create(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    PDEVICE_EXTENSION ext = (PDEVICE_EXTENSION)DeviceObject->DeviceExtension;
    KIRQL irql;

    UNREFERENCED_PARAMETER(Irp);
    KeAcquireSpinLock(&ext->Lock, &irql);
    // lockcheck-ignore[wdm.SpinLock]: stale
    KeReleaseSpinLock(&ext->Lock, irql);
    return STATUS_SUCCESS;
}
"
        .to_string(),
        driver_entry(&["Read", "Write", "Create"]),
    ]
    .concat();
    std::fs::write(dir.join("driver.c"), &source).unwrap();
    let stale = line_of(&source, "stale", 0);

    let r = lockcheck(&dir, &["check", "driver.c"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (Some(0), "", ""));

    let r = lockcheck(&dir, &["check", "driver.c", "--report-unused-ignores"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(warnings(&r.stdout), vec![(stale, "lockcheck.unused-ignore".to_string())], "{}", r.stdout);
    assert!(
        r.stdout.starts_with(&format!(
            "driver.c:{stale}:5: warning: lockcheck-ignore for wdm.SpinLock matched no finding on this line or the next"
        )),
        "{}",
        r.stdout
    );

    let r = lockcheck(&dir, &["check", "driver.c", "--report-unused-ignores", "--format", "json"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let diagnostics = json["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{}", r.stdout);
    let d = &diagnostics[0];
    assert_eq!(d["rule"], "lockcheck.unused-ignore");
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["location"]["file"], "driver.c");
    assert_eq!(d["location"]["line"], stale);

    // Not a rule users can look up or configure.
    let r = lockcheck(&dir, &["rules"]);
    assert!(!r.stdout.contains("unused-ignore"), "{}", r.stdout);
}

#[test]
fn bad_comments_warn_without_failing() {
    let dir = workdir("bad-comments");
    let source = [
        HEADER.to_string(),
        double_acquire("Read", "", "// lockcheck-ignore[wdm.SpinLock, wdm.SpinLok]: typo in the second id"),
        double_acquire("Write", "", "// lockcheck-ignore[wdm.SpinLock]"),
        driver_entry(&["Read", "Write"]),
    ]
    .concat();
    std::fs::write(dir.join("driver.c"), &source).unwrap();
    let typo = line_of(&source, "SpinLok", 0);
    let no_reason = line_of(&source, "// lockcheck-ignore[wdm.SpinLock]", 0);
    let r = lockcheck(&dir, &["check", "driver.c"]);
    // The known id still works; the comment without a reason silences nothing.
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(warnings(&r.stdout), vec![(no_reason, "wdm.SpinLock".to_string())], "{}", r.stdout);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert!(lines[0].starts_with(&format!("lockcheck: warning: driver.c:{typo}: unknown rule id `wdm.SpinLok`")));
    assert!(lines[1].starts_with(&format!("lockcheck: warning: driver.c:{no_reason}: lockcheck-ignore comment")));
    assert!(lines[1].contains("a reason is required"), "{}", lines[1]);
}

#[test]
fn baseline_round_trip() {
    let dir = workdir("baseline");
    let two = [
        HEADER.to_string(),
        double_acquire("Read", "", ""),
        complete_under_lock("Write", ""),
        driver_entry(&["Read", "Write"]),
    ]
    .concat();
    std::fs::write(dir.join("driver.c"), &two).unwrap();

    // Writing a baseline exits 0 whatever it records, and still reports.
    let r = lockcheck(&dir, &["check", "driver.c", "--write-baseline", "baseline.json"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(warnings(&r.stdout).len(), 2, "{}", r.stdout);
    let baseline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("baseline.json")).unwrap()).unwrap();
    assert_eq!(baseline["version"], 1);
    let entries = baseline["findings"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e["file"] == "driver.c" && e.get("line").is_none()), "{baseline}");

    let r = lockcheck(&dir, &["check", "driver.c", "--baseline", "baseline.json", "--verbose"]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), ""), "{}", r.stderr);
    assert!(r.stderr.contains("lockcheck: 2 findings matched by the baseline, 0 baseline entries fixed\n"));

    // Unrelated lines at the top move every finding: the keys survive.
    let shifted = format!("// Copyright notice\n// added later\n\n{two}");
    std::fs::write(dir.join("driver.c"), &shifted).unwrap();
    let r = lockcheck(&dir, &["check", "driver.c", "--baseline", "baseline.json"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (Some(0), "", ""));

    // A new violation (a new routine's double acquire) is the only one reported.
    let new_routine = double_acquire("Create", "", "");
    let with_new = format!(
        "{}{}{}",
        &shifted[..shifted.find("\nNTSTATUS DriverEntry").unwrap()],
        new_routine,
        driver_entry(&["Read", "Write", "Create"])
    );
    std::fs::write(dir.join("driver.c"), &with_new).unwrap();
    let r = lockcheck(&dir, &["check", "driver.c", "--baseline", "baseline.json", "--verbose"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let first = line_of(&with_new, "KeAcquireSpinLock", line_of(&with_new, "NTSTATUS Create(", 0));
    let second = line_of(&with_new, "KeAcquireSpinLock", first);
    assert_eq!(warnings(&r.stdout), vec![(second, "wdm.SpinLock".to_string())], "{}", r.stdout);
    assert!(r.stderr.contains("lockcheck: 2 findings matched by the baseline, 0 baseline entries fixed\n"));

    // Fixing one baselined violation: reported as fixed, nothing new.
    let fixed = two.replace(
        "IoCompleteRequest(Irp, IO_NO_INCREMENT); \n    KeReleaseSpinLock(&ext->QueueLock, irql);",
        "KeReleaseSpinLock(&ext->QueueLock, irql);\n    IoCompleteRequest(Irp, IO_NO_INCREMENT);",
    );
    assert_ne!(fixed, two);
    std::fs::write(dir.join("driver.c"), &fixed).unwrap();
    let r = lockcheck(&dir, &["check", "driver.c", "--baseline", "baseline.json", "--verbose"]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), ""), "{}", r.stderr);
    assert!(
        r.stderr.contains("lockcheck: 1 finding matched by the baseline, 1 baseline entry fixed\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn baseline_counts_identical_keys() {
    let dir = workdir("baseline-counts");
    // Identical double acquires in one routine: same rule, file, function
    // and message, told apart only by their occurrence. The analysis ends a
    // path at a double acquire, so they sit on separate branches.
    let branches = |n: usize| {
        let mut body = String::new();
        for i in 0..n {
            body.push_str(&format!(
                "    if (Irp->Flags == {i}) {{\n        KeAcquireSpinLock(&ext->Lock, &irql);\n        KeAcquireSpinLock(&ext->Lock, &irql);\n        KeReleaseSpinLock(&ext->Lock, irql);\n    }}\n"
            ));
        }
        format!(
            "{HEADER}
NTSTATUS Read(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{{
    PDEVICE_EXTENSION ext = (PDEVICE_EXTENSION)DeviceObject->DeviceExtension;
    KIRQL irql;

{body}    return STATUS_SUCCESS;
}}
{}",
            driver_entry(&["Read"])
        )
    };
    std::fs::write(dir.join("driver.c"), branches(1)).unwrap();
    let r = lockcheck(&dir, &["check", "driver.c", "--write-baseline", "baseline.json"]);
    assert_eq!(warnings(&r.stdout).len(), 1, "{}", r.stdout);
    std::fs::write(dir.join("driver.c"), branches(2)).unwrap();
    let r = lockcheck(&dir, &["check", "driver.c", "--baseline", "baseline.json", "--verbose"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(warnings(&r.stdout).len(), 1, "one of the two is new: {}", r.stdout);
    assert!(r.stderr.contains("lockcheck: 1 finding matched by the baseline"), "{}", r.stderr);
}

#[test]
fn bad_baseline_is_an_error() {
    let dir = workdir("bad-baseline");
    std::fs::write(dir.join("driver.c"), [HEADER.to_string(), driver_entry(&[])].concat()).unwrap();
    for (content, needle) in [
        (Some("{\"version\": 1, \"findings\": "), "bad.json: not a lockcheck baseline"),
        (Some("{\"version\": 2, \"findings\": []}"), "bad.json: baseline version 2 is not supported"),
        (Some("[]"), "bad.json: not a lockcheck baseline"),
        (None, "bad.json: cannot read baseline"),
    ] {
        let _ = std::fs::remove_file(dir.join("bad.json"));
        if let Some(content) = content {
            std::fs::write(dir.join("bad.json"), content).unwrap();
        }
        let r = lockcheck(&dir, &["check", "driver.c", "--baseline", "bad.json"]);
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", r.stderr);
        assert!(lines[0].starts_with("lockcheck: error: ") && lines[0].contains(needle), "{}", lines[0]);
        assert!(r.stdout.is_empty());
    }
}
