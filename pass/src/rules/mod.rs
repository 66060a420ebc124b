//! The rule pack: lock APIs, forbidden calls, function tables, struct layouts,
//! routine roles, driver models and rules, loaded from YAML and validated.
//!
//! This is the only place API knowledge enters lockcheck. The built-in pack is
//! the repository's `rules.yaml`, embedded at build time.

mod schema;
mod validate;

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::checks::Check;
use crate::error::{Error, Result};

/// The rule pack shipped with lockcheck.
pub const BUILTIN_RULES: &str = include_str!("../../../rules.yaml");
const BUILTIN_NAME: &str = "rules.yaml (built-in)";

pub type KindId = usize;
pub type ModelId = usize;
pub type RoleId = usize;
pub type RuleId = usize;

/// What a lock API does to the lock it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockOp {
    Acquire,
    /// Acquires only when the call returns non-zero (TRUE).
    TryAcquire,
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LockKind {
    pub id: String,
    pub display: String,
    /// One lock system-wide (the cancel spin lock): calls name no lock object.
    pub global: bool,
}

#[derive(Debug, Clone)]
pub struct LockApi {
    pub names: Vec<String>,
    pub when: Option<When>,
    pub op: LockOp,
    pub kind: KindId,
    pub lock_arg: Option<u32>,
    pub handle_arg: Option<u32>,
    /// Names of integer lock arguments (the lock is the value itself).
    pub lock_names: HashMap<i64, String>,
}

/// A call matches an API only when argument `arg` is the constant `equals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub arg: u32,
    pub equals: i64,
}

#[derive(Debug, Clone)]
pub struct ForbiddenCall {
    pub names: Vec<String>,
    pub display: String,
}

#[derive(Debug, Clone)]
pub struct FunctionTable {
    pub symbol_prefix: String,
    /// Entry index -> function name.
    pub entries: HashMap<u32, String>,
}

#[derive(Debug, Clone)]
pub struct Field {
    /// Byte offset on 64-bit and 32-bit targets.
    pub offset: [u64; 2],
    pub count: Option<u32>,
    pub index_names: Vec<String>,
    pub points_to: Option<String>,
}

/// A field of a struct, as `registered_by` and `params` refer to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub struct_name: String,
    pub field: String,
}

/// How the OS learns of a routine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// Its address is stored into this struct field.
    Store(FieldRef),
    /// Its address is passed to this function (at `arg`, or any argument),
    /// directly or inside an object passed to it.
    PassedTo { function: String, arg: Option<u32> },
    /// As `PassedTo`, for any call through a table with this symbol prefix.
    PassedToTable { prefix: String },
}

#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub display: String,
    pub names: Vec<String>,
    pub registered_by: Vec<Registration>,
    /// Struct type of each parameter, where the role fixes it.
    pub params: Vec<String>,
    pub holds_on_entry: Vec<KindId>,
    /// Typedefs of pointers to routines of this role (PDRIVER_CANCEL): a
    /// call through such a pointer that resolves to no function calls one,
    /// handing over the locks the role holds on entry.
    pub pointer_types: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    pub global_prefixes: Vec<String>,
    pub calls: Vec<String>,
    pub is_default: bool,
}

#[derive(Debug, Clone)]
pub struct Ownership {
    pub checks: Vec<Check>,
    pub kinds: Vec<KindId>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub sdv_name: String,
    pub summary: String,
    pub severity: Severity,
    pub models: Vec<ModelId>,
    pub owns: Vec<Ownership>,
    pub doc: String,
}

/// What a (normalised) callee name means to the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Lock(usize),
    Forbidden(usize),
}

/// A validated rule pack.
#[derive(Debug, Clone)]
pub struct RulePack {
    pub source: String,
    pub lock_kinds: Vec<LockKind>,
    pub lock_apis: Vec<LockApi>,
    pub forbidden_calls: Vec<ForbiddenCall>,
    pub function_tables: Vec<FunctionTable>,
    pub structs: IndexMap<String, IndexMap<String, Field>>,
    pub roles: Vec<Role>,
    pub entries: Vec<String>,
    pub models: Vec<Model>,
    pub rules: Vec<Rule>,
    api_by_name: HashMap<String, Vec<(Option<When>, Api)>>,
    owner: HashMap<(Check, KindId, ModelId), RuleId>,
}

/// Largest rules file accepted (the built-in pack is a few dozen KB).
const MAX_RULES_BYTES: usize = 16 << 20;
/// Deepest `[`/`{` nesting accepted: the YAML parser's time grows with the
/// square of the depth (100,000 levels take minutes), and no pack needs more
/// than a few.
const MAX_FLOW_DEPTH: usize = 64;

/// Rejects rules text too large or too deeply nested to parse in bounded time
/// (alias expansion, the other blow-up, is bounded by the YAML parser).
fn check_shape(text: &str, source: &str) -> Result<()> {
    if text.len() > MAX_RULES_BYTES {
        return Err(Error::new(format!(
            "{source}: rules file too large ({} bytes, at most {MAX_RULES_BYTES})",
            text.len()
        )));
    }
    let mut depth = 0usize;
    for (line, text) in text.lines().enumerate() {
        for c in text.bytes() {
            match c {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_FLOW_DEPTH {
                return Err(Error::new(format!(
                    "{source}:{}: invalid rules: nested deeper than {MAX_FLOW_DEPTH} levels",
                    line + 1
                )));
            }
        }
    }
    Ok(())
}

impl RulePack {
    /// The pack embedded in the binary.
    pub fn builtin() -> Result<RulePack> {
        RulePack::parse(BUILTIN_RULES, BUILTIN_NAME)
    }

    /// Reads and validates a pack from a file.
    pub fn from_file(path: &Path) -> Result<RulePack> {
        let name = path.display().to_string();
        if path.is_dir() {
            return Err(Error::new(format!("{name}: is a directory, expected a rules YAML file")));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::new(format!("{name}: cannot read rules file: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| Error::new(format!("{name}: rules file is not UTF-8 text")))?;
        RulePack::parse(&text, &name)
    }

    /// Parses and validates YAML text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<RulePack> {
        check_shape(text, source)?;
        let raw: schema::RawPack = serde_yaml::from_str(text).map_err(|e| {
            let location = e.location().map(|l| format!("{}:{}:", l.line(), l.column())).unwrap_or_default();
            // serde_yaml appends "at line L column C"; we lead with it instead.
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            Error::new(format!("{source}:{location} invalid rules: {message}"))
        })?;
        validate::validate(raw, text, source)
    }

    /// The API a call to `normalized_name` is, given the call's constant
    /// arguments (`constant(n)`): the first entry whose condition holds.
    pub fn api(&self, normalized_name: &str, constant: impl Fn(u32) -> Option<i64>) -> Option<Api> {
        let candidates = self.api_by_name.get(normalized_name)?;
        candidates.iter().find(|(when, _)| when.is_none_or(|w| constant(w.arg) == Some(w.equals))).map(|(_, api)| *api)
    }

    /// Whether any API is called `normalized_name` (whatever its arguments).
    pub fn is_api_name(&self, normalized_name: &str) -> bool {
        self.api_by_name.contains_key(normalized_name)
            || self.function_tables.iter().any(|t| t.entries.values().any(|n| n == normalized_name))
    }

    /// The rule that reports `check` on a lock of `kind` in a driver of `model`.
    pub fn owner(&self, check: Check, kind: KindId, model: ModelId) -> Option<RuleId> {
        self.owner.get(&(check, kind, model)).copied()
    }

    pub fn rule_by_id(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn kind_id(&self, id: &str) -> Option<KindId> {
        self.lock_kinds.iter().position(|k| k.id == id)
    }

    pub fn model_id(&self, id: &str) -> Option<ModelId> {
        self.models.iter().position(|m| m.id == id)
    }

    pub fn role_id(&self, id: &str) -> Option<RoleId> {
        self.roles.iter().position(|r| r.id == id)
    }

    pub fn default_model(&self) -> ModelId {
        self.models.iter().position(|m| m.is_default).unwrap_or(0)
    }

    /// Byte offset of `field` for a target with `pointer_bytes`-sized pointers.
    pub fn field(&self, field: &FieldRef) -> Option<&Field> {
        self.structs.get(&field.struct_name)?.get(&field.field)
    }
}

impl Field {
    pub fn offset_for(&self, pointer_bytes: u32) -> u64 {
        if pointer_bytes == 4 { self.offset[1] } else { self.offset[0] }
    }

    /// Size in bytes of the field's elements on a target (pointer-sized
    /// elements: every registered field holds function pointers).
    pub fn stride_for(&self, pointer_bytes: u32) -> u64 {
        pointer_bytes as u64
    }

    /// The element of this field that byte `offset` (from the struct start)
    /// falls in, if any.
    pub fn element_at(&self, offset: i64, pointer_bytes: u32) -> Option<u32> {
        let start = self.offset_for(pointer_bytes) as i64;
        let stride = self.stride_for(pointer_bytes) as i64;
        let count = self.count.unwrap_or(1) as i64;
        let rel = offset - start;
        (rel >= 0 && rel < stride * count && rel % stride == 0).then_some((rel / stride) as u32)
    }
}

#[cfg(test)]
mod tests;
