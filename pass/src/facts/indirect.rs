//! Calls through function pointers the driver stored itself.
//!
//! A call through a pointer loaded from memory may reach every function whose
//! address was stored to that memory: the same access path, the same struct
//! field (by debug info, so `ext->Ops.Read(...)` finds `Ops.Read = ReadImpl`
//! stored elsewhere), or any element of a global table indexed by a variable
//! (`g_Handlers[code](...)`). A call that resolves to nothing is
//! lock-neutral, except through the registration field of a routine the OS
//! enters holding a lock (the IRP's cancel routine), or through a pointer
//! declared with such a routine's type (a PDRIVER_CANCEL parameter): that
//! call hands the lock over to the routine, which releases it.

use super::{Event, FieldId, FnPtrStore, FuncId, ModuleFacts, PathId, Paths, Root, Step};
use crate::rules::{KindId, Registration, RulePack};

pub(crate) fn resolve(facts: &mut ModuleFacts, rules: &RulePack) {
    let ModuleFacts { functions, fn_stores, paths, pointer_bytes, .. } = facts;
    for function in functions.iter_mut() {
        let Some(body) = function.body.as_mut() else { continue };
        for block in &mut body.blocks {
            for event in &mut block.events {
                let Event::Call(call) = event else { continue };
                let Some(indirect) = &call.indirect else { continue };
                call.targets = targets(fn_stores, paths, indirect.slot, indirect.field.as_ref());
                if call.targets.is_empty() {
                    if let Some(field) = &indirect.field {
                        call.hands_over = handed_over(rules, field, *pointer_bytes);
                    }
                    call.hands_over.extend(handed_over_by_type(rules, &indirect.pointer_types));
                    call.hands_over.sort_unstable();
                    call.hands_over.dedup();
                }
            }
        }
    }
}

fn targets(stores: &[FnPtrStore], paths: &Paths, slot: PathId, field: Option<&FieldId>) -> Vec<FuncId> {
    let slot_path = paths.get(slot);
    let indexed_global = matches!(slot_path.root, Root::Global(_)) && slot_path.steps.contains(&Step::Index);
    let mut out: Vec<FuncId> = stores
        .iter()
        .filter(|s| {
            s.dest == slot
                || (field.is_some() && s.field.as_ref() == field)
                || (indexed_global && paths.get(s.dest).root == slot_path.root)
        })
        .map(|s| s.function)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Locks handed over by a call through a pointer declared with one of the
/// typedefs of a routine role that holds locks on entry (PDRIVER_CANCEL).
fn handed_over_by_type(rules: &RulePack, pointer_types: &[String]) -> Vec<KindId> {
    rules
        .roles
        .iter()
        .filter(|role| role.pointer_types.iter().any(|t| pointer_types.contains(t)))
        .flat_map(|role| role.holds_on_entry.iter().copied())
        .collect()
}

/// Locks handed over by a call through `field`: those the OS holds when it
/// calls a routine registered in that field.
fn handed_over(rules: &RulePack, field: &FieldId, pointer_bytes: u32) -> Vec<KindId> {
    let (struct_name, offset) = field;
    rules
        .roles
        .iter()
        .filter(|role| !role.holds_on_entry.is_empty())
        .filter(|role| {
            role.registered_by.iter().any(|r| match r {
                Registration::Store(f) => {
                    f.struct_name == *struct_name
                        && rules.field(f).is_some_and(|spec| spec.element_at(*offset, pointer_bytes).is_some())
                }
                _ => false,
            })
        })
        .flat_map(|role| role.holds_on_entry.iter().copied())
        .collect()
}
