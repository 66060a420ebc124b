//! `lockcheck check -p`: build databases generated at test time over fixture
//! sources, compiled with the database's flags, cached, grouped; and
//! directories of bitcode as inputs.
//!
//! Needs the `lockcheck` binary: `cargo build --release --workspace` first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use lockcheck_tests::front_ends::cli_path;
use lockcheck_tests::process::{Run, assert_rejected, run};
use lockcheck_tests::{Build, Found, fixtures_root, load_fixture, target_dir};

/// A project directory with sources copied from the fixtures and a
/// compile_commands.json at its root.
struct Project {
    root: PathBuf,
}

/// How an entry spells its compile command.
#[derive(Clone, Copy)]
enum Form {
    Arguments,
    Command,
}

/// The database's flags (the mingw-w64 DDK setup of the fixtures).
fn flags() -> Vec<String> {
    let include = fixtures_root().join("include");
    [
        "--target=x86_64-w64-mingw32",
        "--sysroot=/usr/x86_64-w64-mingw32",
        "-isystem",
        "/usr/share/mingw-w64/include/ddk",
        "-I",
        include.to_str().unwrap(),
        "-w",
        "-O0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Project {
    /// A fresh, empty project directory for test `name`.
    fn new(name: &str) -> Project {
        let root = target_dir().join("project-tests").join(name);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        Project { root }
    }

    /// Copies `tests/fixtures/<fixture>` to `<root>/<path>`.
    fn add(&self, path: &str, fixture: &str) {
        let to = self.root.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(fixtures_root().join(fixture), &to).unwrap();
    }

    fn write(&self, path: &str, text: &str) {
        let to = self.root.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, text).unwrap();
    }

    /// Writes compile_commands.json: `Arguments` entries run in the root
    /// and name the source relative to it; `Command` entries run in the
    /// source's own directory and name it by its file name. Both write an
    /// object file and a dependency file, which lockcheck must drop.
    fn database(&self, entries: &[(&str, Form)]) {
        let mut json = Vec::new();
        for (path, form) in entries {
            let source = self.root.join(path);
            let entry = match form {
                Form::Arguments => {
                    let mut arguments = vec!["/usr/bin/cc".to_string()];
                    arguments.extend(flags());
                    arguments.extend(["-MD", "-MF", "obj.d", "-c", "-o", "obj.o", path].map(String::from));
                    serde_json::json!({
                        "directory": self.root.to_str().unwrap(),
                        "file": path,
                        "arguments": arguments,
                        "output": "obj.o",
                    })
                }
                Form::Command => {
                    let directory = source.parent().unwrap();
                    let file = source.file_name().unwrap().to_str().unwrap();
                    let quoted: Vec<String> = flags().iter().map(|f| format!("'{f}'")).collect();
                    serde_json::json!({
                        "directory": directory.to_str().unwrap(),
                        "file": file,
                        "command": format!("gcc {} -MMD -c {file} -oobj.o", quoted.join(" ")),
                    })
                }
            };
            json.push(entry);
        }
        self.write("compile_commands.json", &serde_json::to_string_pretty(&json).unwrap());
    }

    /// Runs `lockcheck` in the project's root.
    fn lockcheck(&self, args: &[&str]) -> Run {
        run(Command::new(cli_path()).args(args).current_dir(&self.root))
    }

    /// `check -p <root> --format json` plus `args`.
    fn check(&self, args: &[&str]) -> Run {
        let mut all = vec!["check", "-p", self.root.to_str().unwrap(), "--format", "json"];
        all.extend(args);
        self.lockcheck(&all)
    }

    /// What the sources' `// expect:` comments require of an -O0 build, with
    /// files relative to the root.
    fn expected(&self, paths: &[&str]) -> BTreeSet<Found> {
        let sources = paths.iter().map(|p| self.root.join(p)).collect();
        load_fixture("project".into(), self.root.clone(), sources).expected_in(Build::O0)
    }

    /// (file relative to the root, line, rule) of each JSON diagnostic.
    fn findings(&self, run: &Run) -> BTreeSet<Found> {
        let json: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}\nstderr: {}", run.stdout, run.stderr));
        json["diagnostics"]
            .as_array()
            .expect("diagnostics array")
            .iter()
            .map(|d| {
                let file = Path::new(d["location"]["file"].as_str().unwrap());
                let file = file.strip_prefix(&self.root).unwrap_or(file).display().to_string();
                let line = d["location"]["line"].as_u64().unwrap() as u32;
                (file, line, d["rule"].as_str().unwrap().to_string())
            })
            .collect()
    }

    /// `(compiled, cached)` from `--verbose` output.
    fn counts(run: &Run) -> (usize, usize) {
        let line = run
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("lockcheck: compiled "))
            .unwrap_or_else(|| panic!("no counts in: {}", run.stderr));
        let (compiled, rest) = line.split_once(", cached ").unwrap();
        let cached = rest.strip_suffix(" translation units").unwrap();
        (compiled.parse().unwrap(), cached.parse().unwrap())
    }
}

const VIOLATION: &str = "wdm.SpinLock/held_at_exit_goto_cleanup.c";
const OTHER_VIOLATION: &str = "wdm.SpinLock/release_not_held_twice.c";
const CLEAN: &str = "wdm.SpinLock/clean_dpc_entry_balanced.c";

/// The clean fixture's routine is only known through --entry.
const ENTRY: [&str; 2] = ["--entry", "StatsTimerDpc"];

/// A project with one violation and one clean unit, in both entry forms.
fn two_unit_project(name: &str) -> Project {
    let project = Project::new(name);
    project.add("src/queue/create.c", VIOLATION);
    project.add("src/timer/dpc.c", CLEAN);
    project.database(&[("src/queue/create.c", Form::Arguments), ("src/timer/dpc.c", Form::Command)]);
    project
}

#[test]
fn findings_match_the_fixtures_expectations() {
    let project = two_unit_project("expectations");
    let expected = project.expected(&["src/queue/create.c", "src/timer/dpc.c"]);
    assert!(!expected.is_empty());
    let run = project.check(&ENTRY);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert_eq!(project.findings(&run), expected);
    // No object or dependency file was written: -o, -MD, -MF were dropped.
    assert!(!project.root.join("obj.o").exists() && !project.root.join("obj.d").exists());
    assert!(!project.root.join("src/timer/obj.o").exists() && !project.root.join("src/timer/obj.d").exists());
    // The file itself names the same database; the bitcode is cached now.
    let file = project.root.join("compile_commands.json");
    let run =
        project.lockcheck(&["check", "-p", file.to_str().unwrap(), "--format", "json", "--entry", "StatsTimerDpc"]);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert_eq!(project.findings(&run), expected);
}

#[test]
fn jobs_do_not_change_the_output() {
    let project = two_unit_project("jobs");
    project.add("src/extra/write.c", OTHER_VIOLATION);
    project.write("src/broken.c", "int broken( {\n");
    project.database(&[
        ("src/queue/create.c", Form::Arguments),
        ("src/broken.c", Form::Arguments),
        ("src/timer/dpc.c", Form::Command),
        ("src/extra/write.c", Form::Command),
    ]);
    let runs: Vec<Run> = ["1", "2"]
        .iter()
        .map(|jobs| {
            let cache = project.root.join(format!("cache-j{jobs}"));
            project.check(&["-j", jobs, "--cache-dir", cache.to_str().unwrap(), "-v", "--entry", "StatsTimerDpc"])
        })
        .collect();
    assert_eq!(runs[0].code, Some(2), "stderr: {}", runs[0].stderr);
    assert_eq!(runs[0].code, runs[1].code);
    assert_eq!(runs[0].stdout, runs[1].stdout);
    let errors = |run: &Run| -> Vec<String> {
        run.stderr.lines().filter(|l| l.starts_with("lockcheck: error:")).map(String::from).collect()
    };
    assert_eq!(errors(&runs[0]), errors(&runs[1]));
    assert_eq!(Project::counts(&runs[0]), (3, 0));
    assert_eq!(Project::counts(&runs[1]), (3, 0));
    assert!(!project.findings(&runs[0]).is_empty());
}

#[test]
fn a_second_run_compiles_nothing_and_an_edit_recompiles_one_unit() {
    let project = two_unit_project("cache");
    let expected = project.expected(&["src/queue/create.c", "src/timer/dpc.c"]);
    let verbose = ["-v", "--entry", "StatsTimerDpc"];
    let first = project.check(&verbose);
    assert_eq!(Project::counts(&first), (2, 0), "{}", first.stderr);
    let second = project.check(&verbose);
    assert_eq!(Project::counts(&second), (0, 2), "{}", second.stderr);
    assert_eq!(project.findings(&second), expected);
    assert_eq!(first.stdout, second.stdout);
    // Keys hash the preprocessed text: rewriting a file unchanged (a new
    // modification time) or changing only a comment compiles nothing.
    let path = project.root.join("src/timer/dpc.c");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text).unwrap();
    assert_eq!(Project::counts(&project.check(&verbose)), (0, 2));
    std::fs::write(&path, format!("{text}// a comment\n")).unwrap();
    assert_eq!(Project::counts(&project.check(&verbose)), (0, 2));
    // A change to the code compiles that unit alone.
    std::fs::write(&path, format!("{text}ULONG EditedCounter;\n")).unwrap();
    let edited = project.check(&verbose);
    assert_eq!(Project::counts(&edited), (1, 1), "{}", edited.stderr);
    assert_eq!(project.findings(&edited), expected);
    assert_eq!(Project::counts(&project.check(&verbose)), (0, 2));
    // The cache lives in the build directory.
    let cached = std::fs::read_dir(project.root.join(".lockcheck-cache")).unwrap().count();
    assert_eq!(cached, 3);
}

#[test]
fn a_unit_clang_rejects_is_named_and_the_rest_is_reported() {
    let project = two_unit_project("broken");
    project.write("src/broken.c", "#include <ntddk.h>\nVOID Broken(void) { int x = ; }\n");
    project.database(&[
        ("src/queue/create.c", Form::Arguments),
        ("src/broken.c", Form::Command),
        ("src/timer/dpc.c", Form::Command),
    ]);
    let run = project.check(&ENTRY);
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("lockcheck: error: src/broken.c: clang failed: "), "{}", lines[0]);
    assert!(lines[0].contains("expected expression"), "{}", lines[0]);
    assert_eq!(project.findings(&run), project.expected(&["src/queue/create.c", "src/timer/dpc.c"]));

    // Nothing compiles: exit 2, the units named, no report.
    project.database(&[("src/broken.c", Form::Arguments)]);
    let run = project.check(&[]);
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(run.stdout.is_empty());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(lines[0].starts_with("lockcheck: error: src/broken.c: clang failed: "), "{}", lines[0]);
    assert!(lines[1].contains("no translation unit could be compiled"), "{}", lines[1]);
}

#[test]
fn groups_are_linked_and_checked_separately() {
    // Two drivers, each with its own DriverEntry, and a unit in no group.
    let project = Project::new("groups");
    project.add("drivers/usb/create.c", VIOLATION);
    project.add("drivers/net/write.c", OTHER_VIOLATION);
    project.add("tools/dpc.c", CLEAN);
    project.database(&[
        ("drivers/usb/create.c", Form::Arguments),
        ("drivers/net/write.c", Form::Command),
        ("tools/dpc.c", Form::Arguments),
    ]);
    let run = project.check(&["--group", "drivers/usb/**", "--group", "drivers/net/*.c", "-v"]);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    let expected = project.expected(&["drivers/usb/create.c", "drivers/net/write.c"]);
    assert_eq!(expected.len(), 2);
    assert_eq!(project.findings(&run), expected);
    assert!(run.stderr.contains("lockcheck: tools/dpc.c: in no --group, skipped"), "{}", run.stderr);
    assert!(run.stderr.contains("lockcheck: group drivers/usb/**: 1 translation units"), "{}", run.stderr);
    assert_eq!(Project::counts(&run), (2, 0), "the skipped unit is not compiled");

    // One group alone reports only its own driver.
    let run = project.check(&["--group", "drivers/net/**"]);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert_eq!(project.findings(&run), project.expected(&["drivers/net/write.c"]));

    // A glob matching nothing is an error.
    let run = project.check(&["--group", "firmware/**"]);
    assert_rejected(&run, "no translation unit matches a --group");
}

#[test]
fn a_directory_of_bitcode_is_an_input() {
    let project = Project::new("bitcode-dir");
    project.add("src/create.c", VIOLATION);
    project.add("src/dpc.c", CLEAN);
    for (source, bitcode) in [("src/create.c", "bc/create.bc"), ("src/dpc.c", "bc/nested/dpc.bc")] {
        let out = project.root.join(bitcode);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let status = Command::new("clang-22")
            .args(flags())
            .args(["-c", "-emit-llvm", "-g", "-Xclang", "-disable-O0-optnone", "-o"])
            .arg(&out)
            .arg(source)
            .current_dir(&project.root)
            .status()
            .unwrap();
        assert!(status.success());
    }
    // Not bitcode, and hidden: both ignored.
    project.write("bc/README.txt", "not bitcode");
    project.write("bc/.hidden/junk.bc", "not bitcode either");
    let run = project.lockcheck(&["check", "bc", "--format", "json", "--entry", "StatsTimerDpc"]);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert_eq!(project.findings(&run), project.expected(&["src/create.c", "src/dpc.c"]));

    std::fs::create_dir_all(project.root.join("empty/sub")).unwrap();
    assert_rejected(&project.lockcheck(&["check", "empty"]), "empty: no .bc or .ll files");
}

#[test]
fn bad_databases_are_one_line_errors() {
    let project = Project::new("bad");
    let root = project.root.to_str().unwrap().to_string();
    assert_rejected(&project.lockcheck(&["check", "-p", "/no/such/build"]), "/no/such/build: no such file");
    assert_rejected(&project.lockcheck(&["check", "-p", &root]), "no compile_commands.json");
    project.write("compile_commands.json", "[{\"directory\": \"/tmp\", ");
    assert_rejected(&project.lockcheck(&["check", "-p", &root]), "not a valid compile_commands.json");
    project.write("compile_commands.json", "{\"directory\": \"/tmp\"}");
    assert_rejected(&project.lockcheck(&["check", "-p", &root]), "expected an array");
    project.write("compile_commands.json", "[{\"directory\": \"/tmp\", \"arguments\": [\"cc\", \"a.c\"]}]");
    assert_rejected(&project.lockcheck(&["check", "-p", &root]), "entry 1: missing `file`");
    project.write("compile_commands.json", "[{\"directory\": \"/tmp\", \"file\": \"a.c\", \"command\": \"cc 'a.c\"}]");
    assert_rejected(&project.lockcheck(&["check", "-p", &root]), "unbalanced quotes");
    project.write("compile_commands.json", "[]");
    assert_rejected(&project.lockcheck(&["check", "-p", &root]), "no entries");
    // Options that need -p, and -p with files.
    assert_rejected(&project.lockcheck(&["check", "-j", "2", "x.bc"]), "need --project (-p)");
    assert_rejected(&project.lockcheck(&["check", "--group", "a/**", "x.bc"]), "need --project (-p)");
    assert_rejected(&project.lockcheck(&["check", "-p", &root, "x.bc"]), "cannot be used with");
    assert_rejected(&project.lockcheck(&["check", "-p", &root, "-j", "0"]), "invalid value '0'");
}
