//! `{"diagnostics": [{"rule", "check", "severity", "message", "function",
//! "location": {"file", "line", "column"}, "notes": [{"message", "location"}]}]}`

use serde::Serialize;

use crate::diagnostics::Diagnostic;

#[derive(Serialize)]
struct Document<'a> {
    diagnostics: &'a [Diagnostic],
}

pub fn render(diagnostics: &[Diagnostic]) -> String {
    let mut text = serde_json::to_string_pretty(&Document { diagnostics }).expect("diagnostics serialize");
    text.push('\n');
    text
}
