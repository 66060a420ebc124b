//! `file:line:col: warning: message [rule]` followed by `note:` lines, the way
//! clang prints, so editors and CI log parsers pick the locations up.

use std::fmt::Write;

use crate::diagnostics::{Diagnostic, Location};

fn prefix(location: Option<&Location>) -> String {
    match location {
        Some(l) => format!("{}:{}:{}: ", l.file, l.line, l.column),
        None => String::new(),
    }
}

pub fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let where_ = match &d.location {
            Some(_) => prefix(d.location.as_ref()),
            None => format!("{}: ", d.function),
        };
        let _ = writeln!(out, "{where_}{}: {} [{}]", d.severity.as_str(), d.message, d.rule);
        for note in &d.notes {
            let _ = writeln!(out, "{}note: {}", prefix(note.location.as_ref()), note.message);
        }
    }
    match diagnostics.len() {
        0 => {}
        1 => out.push_str("1 violation found.\n"),
        n => {
            let _ = writeln!(out, "{n} violations found.");
        }
    }
    out
}
