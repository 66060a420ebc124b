//! Renderers: diagnostics as text (clang style) or JSON.

mod json;
mod text;

pub use json::render as json;
pub use text::render as text;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(Error::new(format!("unknown format `{other}` (expected text or json)"))),
        }
    }
}
