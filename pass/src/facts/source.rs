//! The driver's source text, read on demand, for the one question debug
//! info cannot answer: whether a location is a closing brace.

use std::collections::HashMap;
use std::path::PathBuf;

use super::SourceLoc;

#[derive(Default)]
pub(super) struct Sources {
    files: HashMap<PathBuf, Option<Vec<String>>>,
}

impl Sources {
    /// Whether `loc` points at a `}`: an unconditional branch located there
    /// ends a block (control falls out of an `if` into the function's exit)
    /// and is not a `return` statement. `None` when the source is not
    /// available.
    pub(super) fn is_closing_brace(&mut self, loc: &SourceLoc) -> Option<bool> {
        let path = loc.path();
        let lines = self
            .files
            .entry(path.clone())
            .or_insert_with(|| std::fs::read_to_string(&path).ok().map(|t| t.lines().map(str::to_string).collect()))
            .as_ref()?;
        let line = lines.get((loc.line as usize).checked_sub(1)?)?;
        let column = (loc.column as usize).checked_sub(1)?;
        Some(line.get(column..)?.trim_start().starts_with('}'))
    }
}
