//! The fixture harness.
//!
//! A fixture is a driver source (or a directory of sources linked into one
//! module) under `tests/fixtures/<rule-id>/`, with the expected diagnostics
//! written on the lines where they belong:
//!
//! ```c
//! KeAcquireSpinLock(&ext->Lock, &irql);   // expect: wdm.SpinLock
//! ```
//!
//! (several rules: `// expect: wdm.SpinLock, wdm.SpinLockSafe`). Where the
//! optimiser erases what a location needs (at -O2 several `return`
//! statements merge into one `ret` carrying one line), an expectation names
//! the builds it holds for: `// expect-O0:` (the -O0 builds and the clang
//! plugin, which checks the module before optimisation), `// expect-O2:`
//! (the -O2 builds), or explicitly `// expect[O2,clang]:`. A fixture may pass
//! options in a comment: `// lockcheck-args: --entry Foo --model kmdf`.
//! With `--report-unused-ignores` there, `// expect: lockcheck.unused-ignore`
//! (the tool's diagnostic for a `lockcheck-ignore` comment that silenced
//! nothing, not a rule of the pack) may be expected too.
//! `// expect-note: <text>` requires a note of some report on that line
//! whose message contains the text (a trace step: "taking the true branch");
//! `// expect-note-O0:` only in the -O0 builds (where -O2 merges the code a
//! branch note points to).
//! Each fixture is compiled by clang-22 at test time for every variant and
//! run through every front end; each must report exactly the expected
//! (file, line, rule) set: nothing missing, nothing extra.
//!
//! Rust fixtures (`.rs`, a `#![no_std]` crate each) are compiled by rustc
//! for the host (`--emit=llvm-bc -C debuginfo=2`), at `-C opt-level=0` for
//! the O0 builds and `-C opt-level=3` for the O2 builds; the i686 variants
//! and the clang plugin do not apply to them. `// rustc-args: ...` adds
//! rustc flags (`-C codegen-units=4`: the codegen units' bitcode files are
//! linked with llvm-link-22, as a driver's build would give them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod front_ends;
pub mod generated;
pub mod process;
pub mod shuffle;

pub use front_ends::{library_details, library_notes, run_clang_plugin, run_cli, run_library, run_plugin};

/// A diagnostic as the harness compares them: file relative to the
/// fixture's directory, line, rule id.
pub type Found = (String, u32, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    O0,
    O2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    I686,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub opt: Opt,
    pub arch: Arch,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant { opt: Opt::O0, arch: Arch::X86_64 },
        Variant { opt: Opt::O2, arch: Arch::X86_64 },
        Variant { opt: Opt::O0, arch: Arch::I686 },
        Variant { opt: Opt::O2, arch: Arch::I686 },
    ];

    pub fn name(&self) -> String {
        let opt = match self.opt {
            Opt::O0 => "O0",
            Opt::O2 => "O2",
        };
        let arch = match self.arch {
            Arch::X86_64 => "x86_64",
            Arch::I686 => "i686",
        };
        format!("{arch}-{opt}")
    }

    /// clang-22 flags for the mingw-w64 DDK headers (DOMAIN.md).
    /// Whether a fixture of this kind is built for this variant: Rust
    /// fixtures are built for the host only.
    pub fn applies_to(&self, fixture: &Fixture) -> bool {
        !fixture.is_rust() || self.arch == Arch::X86_64
    }

    /// rustc flags for a Rust fixture.
    pub fn rustc_flags(&self) -> Vec<String> {
        let level = match self.opt {
            Opt::O0 => "0",
            Opt::O2 => "3",
        };
        ["--edition=2024", "--crate-type=lib", "--emit=llvm-bc", "-C", "debuginfo=2", "-C"]
            .into_iter()
            .map(String::from)
            .chain([format!("opt-level={level}")])
            .collect()
    }

    pub fn clang_flags(&self) -> Vec<String> {
        let triple = match self.arch {
            Arch::X86_64 => "x86_64-w64-mingw32",
            Arch::I686 => "i686-w64-mingw32",
        };
        let mut flags = vec![
            format!("--target={triple}"),
            format!("--sysroot=/usr/{triple}"),
            "-isystem".into(),
            "/usr/share/mingw-w64/include/ddk".into(),
            "-I".into(),
            fixtures_root().join("include").display().to_string(),
            "-w".into(),
            "-g".into(),
            "-c".into(),
            "-emit-llvm".into(),
        ];
        if self.arch == Arch::I686 {
            flags.push("-Wno-error=incompatible-function-pointer-types".into());
        }
        match self.opt {
            Opt::O0 => flags.extend(["-O0".into(), "-Xclang".into(), "-disable-O0-optnone".into()]),
            Opt::O2 => flags.push("-O2".into()),
        }
        flags
    }
}

/// Options a fixture gives in `// lockcheck-args:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixtureArgs {
    pub entries: Vec<String>,
    pub model: Option<String>,
    pub all_functions: bool,
    /// `--report-unused-ignores`: `lockcheck.unused-ignore` may be expected.
    pub report_unused_ignores: bool,
}

impl FixtureArgs {
    /// The library configuration these options ask for, with the built-in rules.
    pub fn config(&self) -> Result<lockcheck::Config, String> {
        Ok(lockcheck::Config {
            rules: lockcheck::RulePack::builtin().map_err(|e| e.to_string())?,
            entries: self.entries.clone(),
            model: self.model.clone(),
            all_functions: self.all_functions,
            leak_module: false,
        })
    }

    fn parse(text: &str, fixture: &str) -> FixtureArgs {
        let mut args = FixtureArgs::default();
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            match word {
                "--entry" => args.entries.push(words.next().expect("--entry needs a name").to_string()),
                "--model" => args.model = Some(words.next().expect("--model needs a name").to_string()),
                "--all-functions" => args.all_functions = true,
                "--report-unused-ignores" => args.report_unused_ignores = true,
                other => panic!("{fixture}: unknown lockcheck-args option {other}"),
            }
        }
        args
    }

    /// As `lockcheck check` arguments.
    pub fn cli(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.entries {
            out.extend(["--entry".to_string(), e.clone()]);
        }
        if let Some(m) = &self.model {
            out.extend(["--model".to_string(), m.clone()]);
        }
        if self.all_functions {
            out.push("--all-functions".into());
        }
        if self.report_unused_ignores {
            out.push("--report-unused-ignores".into());
        }
        out
    }

    /// As pass parameters: `lockcheck<entry=A;model=kmdf>`.
    pub fn pass_params(&self) -> String {
        let mut items: Vec<String> = self.entries.iter().map(|e| format!("entry={e}")).collect();
        if let Some(m) = &self.model {
            items.push(format!("model={m}"));
        }
        if self.all_functions {
            items.push("all-functions".into());
        }
        if self.report_unused_ignores {
            items.push("report-unused-ignores".into());
        }
        items.join(";")
    }
}

#[derive(Debug, Clone)]
pub struct Fixture {
    /// `<rule-dir>/<name>`
    pub name: String,
    /// The directory file names are made relative to.
    pub dir: PathBuf,
    pub sources: Vec<PathBuf>,
    /// Expectations, each with the builds it is limited to.
    pub expectations: Vec<(Found, Option<Vec<Build>>)>,
    /// Notes that must appear: (file, line, text the message contains, the
    /// optimisation level it is limited to).
    pub notes: Vec<(String, u32, String, Option<Opt>)>,
    pub args: FixtureArgs,
    /// Extra rustc flags of a Rust fixture (`// rustc-args:`).
    pub rustc_args: Vec<String>,
    /// Extra clang-22 flags of a C fixture (`// clang-args:`), after the
    /// suite's own: `-gno-column-info` for a build without columns.
    pub clang_args: Vec<String>,
}

/// The builds an expectation can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    O0,
    O2,
    /// clang-22 -fpass-plugin during an -O2 compile.
    Clang,
}

impl Fixture {
    /// A Rust crate rather than C sources.
    pub fn is_rust(&self) -> bool {
        self.sources.iter().any(|s| s.extension().is_some_and(|e| e == "rs"))
    }

    /// What `build` of this fixture must report.
    pub fn expected_in(&self, build: Build) -> BTreeSet<Found> {
        self.expectations
            .iter()
            .filter(|(_, only)| only.as_ref().is_none_or(|builds| builds.contains(&build)))
            .map(|(f, _)| f.clone())
            .collect()
    }

    /// What a build of this fixture at `variant` must report.
    pub fn expected(&self, variant: Variant) -> BTreeSet<Found> {
        self.expected_in(match variant.opt {
            Opt::O0 => Build::O0,
            Opt::O2 => Build::O2,
        })
    }
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lies in the repository").to_path_buf()
}

/// `name` in a temporary directory of the test binary `suite`'s own (the
/// process id keeps concurrent runs apart).
pub fn temp_scratch(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockcheck-{suite}-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Compiles the bundled example driver (examples/packet_queue.c) to bitcode
/// at `out`: x86_64, -O2, with debug info.
pub fn compile_example(out: &Path) -> PathBuf {
    let status = Command::new("clang-22")
        .args(Variant { opt: Opt::O2, arch: Arch::X86_64 }.clang_flags())
        .arg("-o")
        .arg(out)
        .arg(repo_root().join("examples/packet_queue.c"))
        .status()
        .expect("cannot run clang-22");
    assert!(status.success(), "clang-22 failed on examples/packet_queue.c");
    out.to_path_buf()
}

pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The build's output directory (target/<profile>), where the `lockcheck`
/// binary and `liblockcheck.so` are.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Every fixture under tests/fixtures (but `include/`), in name order.
pub fn discover() -> Vec<Fixture> {
    let root = fixtures_root();
    let mut out = Vec::new();
    let mut groups: Vec<PathBuf> = read_dir_sorted(&root).into_iter().filter(|p| p.is_dir()).collect();
    groups.retain(|g| g.file_name().is_some_and(|n| n != "include"));
    for group in groups {
        let group_name = group.file_name().unwrap().to_string_lossy().to_string();
        for entry in read_dir_sorted(&group) {
            let stem = entry.file_stem().unwrap().to_string_lossy().to_string();
            let sources: Vec<PathBuf> = if entry.is_dir() {
                read_dir_sorted(&entry).into_iter().filter(|p| p.extension().is_some_and(|e| e == "c")).collect()
            } else if entry.extension().is_some_and(|e| e == "c" || e == "rs") {
                vec![entry.clone()]
            } else {
                continue;
            };
            if sources.is_empty() {
                continue;
            }
            let dir = if entry.is_dir() { entry.clone() } else { group.clone() };
            out.push(load_fixture(format!("{group_name}/{stem}"), dir, sources));
        }
    }
    out
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    entries.sort();
    entries
}

/// Reads a fixture's expectations and options from its sources.
pub fn load_fixture(name: String, dir: PathBuf, sources: Vec<PathBuf>) -> Fixture {
    let rules = lockcheck::RulePack::builtin().expect("built-in rules");
    let mut expectations = Vec::new();
    let mut notes = Vec::new();
    let mut args = FixtureArgs::default();
    let mut rustc_args = Vec::new();
    let mut clang_args = Vec::new();
    for source in &sources {
        let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        let file = relative(&dir, source);
        for (index, line) in text.lines().enumerate() {
            let forms = [
                ("expect:".to_string(), None),
                ("expect-O0:".to_string(), Some(vec![Build::O0, Build::Clang])),
                ("expect-O2:".to_string(), Some(vec![Build::O2])),
            ];
            for (key, only) in forms.into_iter().chain(explicit_builds(line)) {
                let Some(list) = directive(line, &key) else {
                    continue;
                };
                for rule in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                    assert!(
                        rules.rule_by_id(rule).is_some() || rule == lockcheck::suppress::UNUSED_IGNORE,
                        "{}:{}: unknown rule `{rule}` in expectation",
                        file,
                        index + 1
                    );
                    expectations.push(((file.clone(), index as u32 + 1, rule.to_string()), only.clone()));
                }
            }
            if let Some(text) = directive(line, "expect-note:") {
                notes.push((file.clone(), index as u32 + 1, text.to_string(), None));
            }
            if let Some(text) = directive(line, "expect-note-O0:") {
                notes.push((file.clone(), index as u32 + 1, text.to_string(), Some(Opt::O0)));
            }
            if let Some(text) = directive(line, "lockcheck-args:") {
                args = FixtureArgs::parse(text, &name);
            }
            if let Some(text) = directive(line, "rustc-args:") {
                rustc_args = text.split_whitespace().map(String::from).collect();
            }
            if let Some(text) = directive(line, "clang-args:") {
                clang_args = text.split_whitespace().map(String::from).collect();
            }
        }
    }
    Fixture { name, dir, sources, expectations, notes, args, rustc_args, clang_args }
}

/// `// expect[O2,clang]:` as (key, builds).
fn explicit_builds(line: &str) -> Option<(String, Option<Vec<Build>>)> {
    let comment = &line[line.find("//")? + 2..];
    let rest = comment.trim_start().strip_prefix("expect[")?;
    let (list, _) = rest.split_once("]:")?;
    let builds = list
        .split(',')
        .map(|b| match b.trim() {
            "O0" => Build::O0,
            "O2" => Build::O2,
            "clang" => Build::Clang,
            other => panic!("unknown build `{other}` in expectation: {line}"),
        })
        .collect();
    Some((format!("expect[{list}]:"), Some(builds)))
}

/// The text after `// <key>` on a line, if the line has that comment.
fn directive<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let comment = &line[line.find("//")? + 2..];
    comment.trim_start().strip_prefix(key).map(str::trim)
}

/// `path` relative to `dir` when inside it, else as given.
pub fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_else(|_| path.display().to_string())
}

/// Compiles a fixture's sources for `variant` and links them into one
/// bitcode file; returns its path.
pub fn compile(fixture: &Fixture, variant: Variant) -> Result<PathBuf, String> {
    let out_dir = target_dir().join("fixture-bitcode").join(variant.name());
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let base = fixture.name.replace(['/', '.'], "_");
    if fixture.is_rust() {
        return compile_rust(fixture, variant, &out_dir.join(&base));
    }
    let mut objects = Vec::new();
    for (i, source) in fixture.sources.iter().enumerate() {
        let object = out_dir.join(format!("{base}.{i}.bc"));
        let output = Command::new("clang-22")
            .args(variant.clang_flags())
            .args(&fixture.clang_args)
            .arg("-o")
            .arg(&object)
            .arg(source)
            .output()
            .map_err(|e| format!("cannot run clang-22: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "clang-22 failed on {}:\n{}",
                source.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        objects.push(object);
    }
    link(objects, &out_dir.join(format!("{base}.bc")))
}

/// Compiles a Rust fixture (one crate) with rustc into `out_dir` and links
/// its codegen units' bitcode into one file.
fn compile_rust(fixture: &Fixture, variant: Variant, out_dir: &Path) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(out_dir);
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    let source = &fixture.sources[0];
    let output = Command::new("rustc")
        .args(variant.rustc_flags())
        .args(&fixture.rustc_args)
        .arg("--out-dir")
        .arg(out_dir)
        .arg(source)
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !output.status.success() {
        return Err(format!("rustc failed on {}:\n{}", source.display(), String::from_utf8_lossy(&output.stderr)));
    }
    let objects: Vec<PathBuf> =
        read_dir_sorted(out_dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "bc")).collect();
    if objects.is_empty() {
        return Err(format!("rustc wrote no bitcode for {}", source.display()));
    }
    link(objects, &out_dir.with_extension("bc"))
}

/// One bitcode file of `objects`, linked into `linked` when there are several.
pub fn link(mut objects: Vec<PathBuf>, linked: &Path) -> Result<PathBuf, String> {
    if objects.len() == 1 {
        return Ok(objects.remove(0));
    }
    let mut command = Command::new("llvm-link-22");
    command.arg("-o").arg(linked).arg(&objects[0]);
    for object in &objects[1..] {
        command.arg("--override").arg(object);
    }
    let output = command.output().map_err(|e| format!("cannot run llvm-link-22: {e}"))?;
    if !output.status.success() {
        return Err(format!("llvm-link-22 failed:\n{}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(linked.to_path_buf())
}

/// "missing ..., extra ..." for a front end whose findings differ.
pub fn difference(expected: &BTreeSet<Found>, found: &BTreeSet<Found>) -> Option<String> {
    let missing: Vec<String> = expected.difference(found).map(|(f, l, r)| format!("{f}:{l} {r}")).collect();
    let extra: Vec<String> = found.difference(expected).map(|(f, l, r)| format!("{f}:{l} {r}")).collect();
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing: {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("extra: {}", extra.join(", ")));
    }
    Some(parts.join("; "))
}
