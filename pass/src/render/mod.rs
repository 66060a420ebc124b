//! Renderers: diagnostics as text (clang style), JSON or SARIF 2.1.0.

mod json;
pub mod sarif;
mod text;

pub use json::render as json;
pub use sarif::render as sarif;
pub use text::render as text;
pub use text::render_colored as text_colored;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            other => Err(Error::new(format!("unknown format `{other}` (expected text, json or sarif)"))),
        }
    }
}
