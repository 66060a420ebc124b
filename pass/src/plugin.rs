//! The Rust side of the opt/clang pass plugin (`liblockcheck.so`).
//!
//! The C++ shim (shim/plugin.cpp) registers the pass and calls
//! `lockcheck_run_module` with the host's module and the options. The module
//! is copied, the copy prepared and analysed, and diagnostics go back through
//! the shim as LLVM diagnostics (or as JSON or SARIF to a file or stdout). A bad
//! option or rules file is an error the host reports (exit 1); a panic is
//! caught and reported as a warning: the plugin never aborts its host.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use llvm_sys::prelude::LLVMModuleRef;

use crate::diagnostics::{Diagnostic, Location};
use crate::error::{Error, Result};
use crate::render::Format;
use crate::rules::RulePack;
use crate::{Config, analyze_prepared, ir};

/// LLVM_PLUGIN_API_VERSION of LLVM 22.
const PLUGIN_API_VERSION: u32 = 2;

/// Mirrors `llvm::PassPluginLibraryInfo` (llvm/Plugins/PassPlugin.h).
#[repr(C)]
pub struct PassPluginLibraryInfo {
    api_version: u32,
    plugin_name: *const c_char,
    plugin_version: *const c_char,
    register_pass_builder_callbacks: unsafe extern "C" fn(*mut c_void),
    pre_codegen_callback: *const c_void,
}

unsafe extern "C" {
    /// Defined in shim/plugin.cpp; takes an `llvm::PassBuilder &`.
    fn lockcheck_register_pass_builder_callbacks(pass_builder: *mut c_void);
}

/// The entry point opt and clang look up in a pass plugin.
#[unsafe(no_mangle)]
pub extern "C" fn llvmGetPassPluginInfo() -> PassPluginLibraryInfo {
    PassPluginLibraryInfo {
        api_version: PLUGIN_API_VERSION,
        plugin_name: c"lockcheck".as_ptr(),
        plugin_version: concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char,
        register_pass_builder_callbacks: lockcheck_register_pass_builder_callbacks,
        pre_codegen_callback: std::ptr::null(),
    }
}

/// Mirrors `LockcheckDiagnostic` in shim/plugin.cpp.
#[repr(C)]
pub struct LockcheckDiagnostic {
    severity: u32,
    file: *const c_char,
    directory: *const c_char,
    line: u32,
    column: u32,
    function: *const c_char,
    message: *const c_char,
}

type EmitFn = unsafe extern "C" fn(*mut c_void, *const LockcheckDiagnostic);

const WARNING: u32 = 0;
const NOTE: u32 = 1;

/// Options of one plugin run: `-lockcheck-*` flags and pass parameters,
/// as `key=value;...` (later keys win).
#[derive(Debug, Default, PartialEq)]
struct PluginOptions {
    rules: Option<PathBuf>,
    format: Option<Format>,
    output: Option<PathBuf>,
    model: Option<String>,
    entries: Vec<String>,
    all_functions: bool,
    report_unused_ignores: bool,
    /// Print the time each phase took to stderr.
    verbose: bool,
}

fn parse_options(text: &str) -> Result<PluginOptions> {
    let mut options = PluginOptions::default();
    for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        let need = |value: &str| -> Result<String> {
            if value.is_empty() {
                Err(Error::new(format!("pass parameter `{key}` needs a value ({key}=...)")))
            } else {
                Ok(value.to_string())
            }
        };
        match key {
            "rules" => options.rules = Some(PathBuf::from(need(value)?)),
            "format" => options.format = Some(Format::parse(&need(value)?)?),
            "output" => options.output = Some(PathBuf::from(need(value)?)),
            "model" => options.model = Some(need(value)?),
            "entry" => options.entries.extend(need(value)?.split(',').map(str::to_string)),
            "all-functions" => options.all_functions = true,
            "report-unused-ignores" => options.report_unused_ignores = true,
            "verbose" => options.verbose = true,
            _ => {
                return Err(Error::new(format!(
                    "unknown pass parameter `{key}` (expected rules=FILE, format=text|json|sarif, output=FILE, entry=NAME, model=NAME, all-functions, report-unused-ignores, verbose)"
                )));
            }
        }
    }
    Ok(options)
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).expect("NULs removed")
}

/// Runs lockcheck on `module` (never modified). Returns 0, or 1 with
/// `*error` set to a message the host reports as an error.
///
/// # Safety
/// `module` must be a valid module, `options` a NUL-terminated string, and
/// `emit` a function that accepts `sink`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lockcheck_run_module(
    module: LLVMModuleRef,
    options: *const c_char,
    sink: *mut c_void,
    emit: EmitFn,
    error: *mut *mut c_char,
) -> c_int {
    let options = if options.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(options) }.to_string_lossy().into_owned()
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| run(module, &options, sink, emit)));
    let message = match outcome {
        Ok(Ok(())) => return 0,
        Ok(Err(e)) => e.message().to_string(),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            // An internal failure must not fail the user's build: warn instead.
            let text = c_string(&format!("lockcheck: internal error, module not checked: {what}"));
            let d = LockcheckDiagnostic {
                severity: WARNING,
                file: std::ptr::null(),
                directory: std::ptr::null(),
                line: 0,
                column: 0,
                function: std::ptr::null(),
                message: text.as_ptr(),
            };
            unsafe { emit(sink, &d) };
            return 0;
        }
    };
    if !error.is_null() {
        unsafe { *error = c_string(&message).into_raw() };
    }
    1
}

/// Frees a string `lockcheck_run_module` returned.
///
/// # Safety
/// `s` must come from `lockcheck_run_module`'s `error` (or be null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lockcheck_free_string(s: *mut c_char) {
    if !s.is_null() {
        drop(unsafe { CString::from_raw(s) });
    }
}

fn run(module: LLVMModuleRef, options: &str, sink: *mut c_void, emit: EmitFn) -> Result<()> {
    let options = parse_options(options)?;
    let rules = match &options.rules {
        Some(path) => RulePack::from_file(path)?,
        None => RulePack::builtin()?,
    };
    let config = Config {
        rules,
        entries: options.entries.clone(),
        model: options.model.clone(),
        all_functions: options.all_functions,
        leak_module: false,
    };
    let mut clock = crate::Clock::start();
    let copy = unsafe { ir::ModuleCopy::of(module) };
    clock.lap("copy");
    ir::prepare(copy.as_raw())?;
    clock.lap("prepare");
    let mut report = analyze_prepared(copy.as_raw(), &config, clock)?;
    let dropped = std::time::Instant::now();
    drop(copy);
    report.timings.push(("drop copy", dropped.elapsed()));
    if options.verbose {
        eprintln!("lockcheck: {}", report.timing_line());
    }
    if options.report_unused_ignores {
        report.report_unused_ignores();
    }
    for warning in &report.ignore_warnings {
        eprintln!("lockcheck: warning: {warning}");
    }
    match options.format.unwrap_or(Format::Text) {
        Format::Text => {
            for d in &report.diagnostics {
                emit_diagnostic(d, sink, emit);
            }
            Ok(())
        }
        Format::Json => write_output(&crate::render::json(&report.diagnostics), options.output.as_deref()),
        Format::Sarif => {
            write_output(&crate::render::sarif(&report.diagnostics, &config.rules), options.output.as_deref())
        }
    }
}

fn write_output(text: &str, output: Option<&std::path::Path>) -> Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| Error::new(format!("{}: cannot write output: {e}", path.display())))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
                .map_err(|e| Error::new(format!("cannot write output: {e}")))
        }
    }
}

fn emit_diagnostic(d: &Diagnostic, sink: *mut c_void, emit: EmitFn) {
    let function = c_string(&d.symbol);
    let send = |severity: u32, location: Option<&Location>, message: &str| {
        let message = c_string(message);
        let (file, directory) = match location {
            // The absolute path: clang maps it onto the file it is compiling.
            Some(l) => (Some(c_string(&l.path.display().to_string())), Some(c_string(""))),
            None => (None, None),
        };
        let raw = LockcheckDiagnostic {
            severity,
            file: file.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
            directory: directory.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
            line: location.map_or(0, |l| l.line),
            column: location.map_or(0, |l| l.column),
            function: function.as_ptr(),
            message: message.as_ptr(),
        };
        unsafe { emit(sink, &raw) };
    };
    send(WARNING, d.location.as_ref(), &format!("{} [{}]", d.message, d.rule));
    for note in &d.notes {
        send(NOTE, note.location.as_ref(), &note.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parameters_and_rejects_unknown_ones() {
        let o =
            parse_options("rules=my.yaml;format=json;entry=A,B;entry=C;all-functions;report-unused-ignores;verbose")
                .unwrap();
        assert_eq!(o.rules, Some(PathBuf::from("my.yaml")));
        assert_eq!(o.format, Some(Format::Json));
        assert_eq!(o.entries, vec!["A", "B", "C"]);
        assert!(o.all_functions);
        assert!(o.report_unused_ignores);
        assert!(o.verbose);
        assert!(parse_options("fromat=json").unwrap_err().message().contains("unknown pass parameter `fromat`"));
        assert!(parse_options("rules=").is_err());
        assert!(parse_options("format=xml").is_err());
        assert_eq!(parse_options("format=sarif").unwrap().format, Some(Format::Sarif));
    }
}
