//! The driver's source text, read on demand, for the one question debug
//! info cannot answer: whether a branch into a function's exit is a `return`
//! statement or control falling off the end.

use std::collections::HashMap;
use std::path::PathBuf;

use super::SourceLoc;

#[derive(Default)]
pub(super) struct Sources {
    files: HashMap<PathBuf, Option<Vec<String>>>,
}

impl Sources {
    /// Whether `loc` points at a `}`, `break` or `continue`: an
    /// unconditional branch located there leaves a block or loop (control
    /// then falls off the end of the function) and is not a `return`
    /// statement. `None` when the source is not available.
    pub(super) fn falls_through(&mut self, loc: &SourceLoc) -> Option<bool> {
        let path = loc.path();
        let lines = self
            .files
            .entry(path.clone())
            .or_insert_with(|| std::fs::read_to_string(&path).ok().map(|t| t.lines().map(str::to_string).collect()))
            .as_ref()?;
        let line = lines.get((loc.line as usize).checked_sub(1)?)?;
        let column = (loc.column as usize).checked_sub(1)?;
        let text = line.get(column..)?.trim_start();
        let keyword = |k: &str| {
            text.strip_prefix(k).is_some_and(|rest| !rest.starts_with(|c: char| c == '_' || c.is_alphanumeric()))
        };
        Some(text.starts_with('}') || keyword("break") || keyword("continue"))
    }
}
