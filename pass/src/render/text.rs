//! `file:line:col: warning: message [rule]` followed by `note:` lines, the way
//! clang prints, so editors and CI log parsers pick the locations up.
//!
//! With color (ANSI escapes, as clang colors a terminal): the location bold,
//! `warning:` magenta (`error:` red), the message bold, the rule id in the
//! severity's color, `note:` cyan.

use std::fmt::Write;

use crate::diagnostics::{Diagnostic, Location};
use crate::rules::Severity;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const BOLD_MAGENTA: &str = "\x1b[1;35m";
const BOLD_RED: &str = "\x1b[1;31m";
const BOLD_CYAN: &str = "\x1b[1;36m";

/// Wraps text in an escape sequence when coloring.
struct Paint {
    color: bool,
}

impl Paint {
    fn with(&self, style: &str, text: &str) -> String {
        if self.color && !text.is_empty() { format!("{style}{text}{RESET}") } else { text.to_string() }
    }
}

fn prefix(location: Option<&Location>) -> String {
    match location {
        Some(l) => format!("{}:{}:{}: ", l.file, l.line, l.column),
        None => String::new(),
    }
}

/// Plain text, without color.
pub fn render(diagnostics: &[Diagnostic]) -> String {
    render_colored(diagnostics, false)
}

/// Text, colored with ANSI escapes when `color` is set.
pub fn render_colored(diagnostics: &[Diagnostic], color: bool) -> String {
    let paint = Paint { color };
    let mut out = String::new();
    for d in diagnostics {
        let where_ = match &d.location {
            Some(_) => prefix(d.location.as_ref()),
            None => format!("{}: ", d.function),
        };
        let severity_style = match d.severity {
            Severity::Warning => BOLD_MAGENTA,
            Severity::Error => BOLD_RED,
        };
        let _ = writeln!(
            out,
            "{}{} {} {}{}{}",
            paint.with(BOLD, &where_),
            paint.with(severity_style, &format!("{}:", d.severity.as_str())),
            paint.with(BOLD, &d.message),
            paint.with(BOLD, "["),
            paint.with(severity_style, &d.rule),
            paint.with(BOLD, "]"),
        );
        for note in &d.notes {
            let _ = writeln!(
                out,
                "{}{} {}",
                paint.with(BOLD, &prefix(note.location.as_ref())),
                paint.with(BOLD_CYAN, "note:"),
                note.message
            );
        }
    }
    let unused = diagnostics.iter().filter(|d| d.rule == crate::suppress::UNUSED_IGNORE).count();
    let mut summary = Vec::new();
    match diagnostics.len() - unused {
        0 => {}
        1 => summary.push("1 violation".to_string()),
        n => summary.push(format!("{n} violations")),
    }
    match unused {
        0 => {}
        1 => summary.push("1 unused lockcheck-ignore".to_string()),
        n => summary.push(format!("{n} unused lockcheck-ignores")),
    }
    if !summary.is_empty() {
        let _ = writeln!(out, "{} found.", summary.join(" and "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Check;
    use crate::diagnostics::Note;

    fn diagnostic() -> Diagnostic {
        let location = Location { file: "d.c".into(), line: 7, column: 3, path: "d.c".into() };
        Diagnostic {
            rule: "wdm.SpinLock".into(),
            check: Check::DoubleAcquire,
            severity: Severity::Warning,
            message: "spin lock 'g' is acquired while already held".into(),
            function: "F".into(),
            symbol: "F".into(),
            location: Some(location.clone()),
            notes: vec![Note { message: "acquired here".into(), location: Some(location) }],
        }
    }

    #[test]
    fn plain_text_is_clang_style() {
        assert_eq!(
            render(&[diagnostic()]),
            "d.c:7:3: warning: spin lock 'g' is acquired while already held [wdm.SpinLock]\n\
             d.c:7:3: note: acquired here\n1 violation found.\n"
        );
    }

    #[test]
    fn colored_text_reads_the_same_without_escapes() {
        let colored = render_colored(&[diagnostic()], true);
        assert!(colored.contains("\x1b[1;35mwarning:\x1b[0m"), "{colored:?}");
        assert!(colored.contains("\x1b[1;36mnote:\x1b[0m"), "{colored:?}");
        let stripped = colored.replace(RESET, "").replace(BOLD_MAGENTA, "").replace(BOLD_CYAN, "").replace(BOLD, "");
        assert_eq!(stripped, render(&[diagnostic()]));
    }
}
