//! The one error type of the library: a single line a user can act on.

use std::fmt;

/// An error that stops lockcheck: bad input, bad rules, bad options, a failed
/// compile. Its message is one line, prefixed by what it concerns (a file, a
/// flag), and never a panic or an LLVM abort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        let message: String = message.into();
        // Keep to one line: LLVM and serde messages sometimes carry newlines.
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        Error { message }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
