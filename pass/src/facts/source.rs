//! The driver's source text, read on demand, for the one question debug
//! info cannot answer: whether a branch into a function's exit is a `return`
//! statement or control falling off the end.

use super::SourceLoc;

#[derive(Default)]
pub(super) struct Sources {
    /// (directory, file) as debug info names it, and its lines if readable.
    /// A driver's locations name a few dozen files: a list, searched from
    /// the last one used, costs less than hashing every lookup.
    files: Vec<(SourceFile, Option<Vec<String>>)>,
    last: usize,
}

/// (compilation directory, file name) as debug info records them.
type SourceFile = (String, String);

impl Sources {
    /// Whether `loc` points at a `}`, `break` or `continue`: an
    /// unconditional branch located there leaves a block or loop (control
    /// then falls off the end of the function) and is not a `return`
    /// statement. Without a column (`-gno-column-info`, clang's default for
    /// MSVC targets) the line's first token decides. `None` when the source
    /// is not available.
    pub(super) fn falls_through(&mut self, loc: &SourceLoc) -> Option<bool> {
        let names = |entry: &(SourceFile, _)| entry.0.0 == loc.directory && entry.0.1 == loc.file;
        if !self.files.get(self.last).is_some_and(names) {
            self.last = match self.files.iter().position(names) {
                Some(i) => i,
                None => {
                    let text = std::fs::read_to_string(loc.path()).ok();
                    let lines = text.map(|t| t.lines().map(str::to_string).collect());
                    self.files.push(((loc.directory.clone(), loc.file.clone()), lines));
                    self.files.len() - 1
                }
            };
        }
        let lines = self.files[self.last].1.as_ref()?;
        let line = lines.get((loc.line as usize).checked_sub(1)?)?;
        let column = (loc.column as usize).saturating_sub(1);
        let text = line.get(column..)?.trim_start();
        let keyword = |k: &str| {
            text.strip_prefix(k).is_some_and(|rest| !rest.starts_with(|c: char| c == '_' || c.is_alphanumeric()))
        };
        Some(text.starts_with('}') || keyword("break") || keyword("continue"))
    }
}
