//! Driver routine discovery: which functions the operating system calls, and
//! in which role.
//!
//! Role declarations (DRIVER_DISPATCH, ...) leave no trace in IR, so routines
//! are found by name (DriverEntry), by `--entry` and the pack's `entries`, and
//! by registration: a store of a function's address into a struct field the
//! pack lists (`_DRIVER_OBJECT.MajorFunction`), through a pointer whose struct
//! type is known because it is a routine's parameter of that type. Finding a
//! routine types its parameters, which can reveal more registrations (a
//! dispatch routine's IRP and its cancel routine), so discovery iterates to a
//! fixpoint.

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, Result};
use crate::facts::{FuncId, ModuleFacts, Root, Step};
use crate::rules::{RoleId, RulePack};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routine {
    pub func: FuncId,
    pub role: RoleId,
    /// What the registration said beyond the role (IRP_MJ_READ, ...).
    pub details: Vec<String>,
}

impl Routine {
    /// "dispatch routine for IRP_MJ_READ"
    pub fn describe(&self, rules: &RulePack) -> String {
        let role = &rules.roles[self.role].display;
        if self.details.is_empty() {
            role.clone()
        } else {
            format!("{role} for {}", self.details.join(", "))
        }
    }
}

/// Finds the routines of a module. `entries` are names given by the user
/// (--entry); every one must name a defined function.
pub fn discover(
    facts: &ModuleFacts,
    rules: &RulePack,
    entries: &[String],
    all_functions: bool,
) -> Result<Vec<Routine>> {
    let mut found: BTreeMap<(FuncId, RoleId), Vec<String>> = BTreeMap::new();
    let entry_role = rules
        .role_id("entry")
        .expect("validated: the pack has an `entry` role");

    for (id, f) in facts.functions.iter().enumerate() {
        if f.body.is_none() {
            continue;
        }
        for (role_id, role) in rules.roles.iter().enumerate() {
            if role.names.contains(&f.name) {
                found.entry((id as FuncId, role_id)).or_default();
            }
        }
    }
    for name in entries.iter().chain(rules.entries.iter()) {
        let func = facts.function_by_name(name).ok_or_else(|| {
            Error::new(format!(
                "--entry {name}: no function named `{name}` is defined in the input"
            ))
        })?;
        found.entry((func, entry_role)).or_default();
    }
    if all_functions {
        for (id, f) in facts.functions.iter().enumerate() {
            if f.body.is_some() && !found.keys().any(|(func, _)| *func == id as FuncId) {
                found.entry((id as FuncId, entry_role)).or_default();
            }
        }
    }

    // Registrations, to a fixpoint over the parameter types routines give.
    loop {
        let typed = typed_params(&found, rules);
        let before = found.len();
        let mut additions: Vec<((FuncId, RoleId), Option<String>)> = Vec::new();
        for store in &facts.fn_stores {
            let Some((struct_name, field_name, element)) =
                field_of(facts, rules, &typed, store.dest)
            else {
                continue;
            };
            for (role_id, role) in rules.roles.iter().enumerate() {
                let registers = role
                    .registered_by
                    .iter()
                    .any(|r| r.struct_name == struct_name && r.field == field_name);
                if registers {
                    let field = rules.structs[&struct_name][&field_name].clone();
                    let detail = field.count.map(|_| {
                        field
                            .index_names
                            .get(element as usize)
                            .cloned()
                            .unwrap_or_else(|| format!("{field_name}[{element}]"))
                    });
                    additions.push(((store.function, role_id), detail));
                }
            }
        }
        for (key, detail) in additions {
            let details = found.entry(key).or_default();
            if let Some(d) = detail
                && !details.contains(&d)
            {
                details.push(d);
            }
        }
        if found.len() == before {
            break;
        }
    }

    Ok(found
        .into_iter()
        .map(|((func, role), details)| Routine {
            func,
            role,
            details,
        })
        .collect())
}

/// Parameter struct types implied by the routines found so far.
fn typed_params(
    found: &BTreeMap<(FuncId, RoleId), Vec<String>>,
    rules: &RulePack,
) -> HashMap<(FuncId, u32), String> {
    let mut typed = HashMap::new();
    for (func, role) in found.keys() {
        for (n, ty) in rules.roles[*role].params.iter().enumerate() {
            typed.insert((*func, n as u32), ty.clone());
        }
    }
    typed
}

/// The struct field a store destination names: `Param + offset` into a typed
/// parameter, following pointer fields through loads
/// (`DriverObject->DriverExtension->AddDevice`).
fn field_of(
    facts: &ModuleFacts,
    rules: &RulePack,
    typed: &HashMap<(FuncId, u32), String>,
    dest: u32,
) -> Option<(String, String, u32)> {
    let path = facts.paths.get(dest);
    let Root::Param(func, n) = path.root else {
        return None;
    };
    let mut current = typed.get(&(func, n))?.clone();
    let mut steps = path.steps.as_slice();
    let pointer = facts.pointer_bytes;
    loop {
        let (offset, rest) = match steps {
            [Step::Offset(o), rest @ ..] => (*o, rest),
            rest => (0, rest),
        };
        let fields = rules.structs.get(&current)?;
        let (name, field, element) = fields
            .iter()
            .find_map(|(name, f)| f.element_at(offset, pointer).map(|e| (name, f, e)))?;
        match rest {
            [] => return Some((current, name.clone(), element)),
            [Step::Load, more @ ..] => {
                current = field.points_to.clone()?;
                steps = more;
            }
            _ => return None,
        }
    }
}
