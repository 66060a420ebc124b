//! The YAML shape of a rule pack, exactly as written. Unknown keys and wrong
//! types are rejected by serde (with line and column); references between
//! sections are checked afterwards in `rules::validate`.

use indexmap::IndexMap;
use serde::Deserialize;

use super::{LockOp, Severity};
use crate::checks::Check;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPack {
    pub version: u32,
    pub lock_kinds: IndexMap<String, RawLockKind>,
    #[serde(default)]
    pub function_tables: Vec<RawFunctionTable>,
    pub lock_apis: Vec<RawLockApi>,
    #[serde(default)]
    pub forbidden_calls: Vec<RawForbiddenCall>,
    #[serde(default)]
    pub structs: IndexMap<String, IndexMap<String, RawField>>,
    pub routines: IndexMap<String, RawRole>,
    #[serde(default)]
    pub entries: Vec<String>,
    pub models: IndexMap<String, RawModel>,
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLockKind {
    pub display: String,
    #[serde(default)]
    pub global: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFunctionTable {
    pub symbol_prefix: String,
    pub entries: IndexMap<String, u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLockApi {
    pub names: Vec<String>,
    /// Only calls whose argument has this constant value (an API reached
    /// through a multiplexing function such as StorPortNotification).
    pub when: Option<RawWhen>,
    pub op: LockOp,
    pub kind: String,
    pub lock_arg: Option<u32>,
    pub handle_arg: Option<u32>,
    /// Names of integer lock arguments (Storport's InterruptLock, ...).
    #[serde(default)]
    pub lock_names: IndexMap<i64, String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawWhen {
    pub arg: u32,
    pub equals: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForbiddenCall {
    pub names: Vec<String>,
    pub display: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    /// Byte offset on 64-bit and on 32-bit targets.
    pub offset: [u64; 2],
    pub count: Option<u32>,
    #[serde(default)]
    pub index_names: Vec<String>,
    /// For pointer fields: the struct they point to.
    pub points_to: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub display: String,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub registered_by: Vec<RawRegistration>,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub holds_on_entry: Vec<String>,
    #[serde(default)]
    pub pointer_types: Vec<String>,
}

/// How a routine is registered: exactly one of the keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistration {
    /// `Struct.Field`: a store of the routine's address into that field.
    pub store: Option<String>,
    /// The routine's address passed to this function (at `arg`, or at any
    /// argument), directly or stored in an object passed to it.
    pub passed_to: Option<String>,
    pub arg: Option<u32>,
    /// As `passed_to`, for any call through a function table whose symbol
    /// starts with this prefix.
    pub passed_to_table: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub detect: Option<RawDetect>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDetect {
    #[serde(default)]
    pub global_prefixes: Vec<String>,
    #[serde(default)]
    pub calls: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub id: String,
    pub sdv_name: String,
    pub summary: String,
    pub severity: Severity,
    pub models: Vec<String>,
    pub owns: Vec<RawOwnership>,
    pub doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOwnership {
    pub checks: Vec<Check>,
    pub kinds: Vec<String>,
}
