//! Driver routine discovery: which functions the operating system calls, and
//! in which role.
//!
//! Role declarations (DRIVER_DISPATCH, EVT_WDF_IO_QUEUE_IO_READ, ...) leave
//! no trace in IR, so routines are found by name (DriverEntry), by `--entry`
//! and the pack's `entries`, and by registration (rules.yaml `registered_by`):
//!
//! - `store`: the routine's address is stored into a struct field the pack
//!   lists (`_DRIVER_OBJECT.MajorFunction`), through a pointer whose struct
//!   type is known because it is a routine's parameter of that type;
//! - `passed_to` / `passed_to_table`: the address is passed to an external
//!   function (KeInitializeDpc, StorPortInitialize) or to any call through a
//!   function table (KMDF's WdfFunctions_), directly or stored in an object
//!   passed to it (WDF_IO_QUEUE_CONFIG, HW_INITIALIZATION_DATA).
//!
//! Registrations often happen in helpers (WDF_DRIVER_CONFIG_INIT, a driver's
//! InitDispatchTable), so stores, calls and parameter stores inside a helper
//! are carried to its callers through their arguments first. Finding a
//! routine types its parameters, which can reveal more registrations (a
//! dispatch routine's IRP and its cancel routine): discovery iterates to a
//! fixpoint.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::error::{Error, Result};
use crate::facts::{Event, ExternalCallee, FieldId, FuncId, ModuleFacts, PathId, Paths, Root, Step};
use crate::rules::{Registration, RoleId, RulePack};

/// Rounds of carrying registrations from helpers to their callers.
const MAX_HELPER_DEPTH: usize = 16;

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
        if self.details.is_empty() { role.clone() } else { format!("{role} for {}", self.details.join(", ")) }
    }
}

/// A function's address stored to `dest`, in `in_function`'s terms (none:
/// a global's initializer), with the struct field written when known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Store {
    function: FuncId,
    dest: PathId,
    in_function: Option<FuncId>,
    field: Option<FieldId>,
    /// `field` in the nested structs that contain it (FnPtrStore::nested).
    nested: Vec<FieldId>,
}

/// Pointer `arg` (argument `index`) passed to an external `callee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Pass {
    callee: ExternalCallee,
    index: u32,
    arg: PathId,
    in_function: FuncId,
}

/// Parameter `param` of `in_function` stored to `dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ParamStore {
    param: u32,
    dest: PathId,
    in_function: FuncId,
}

/// Finds the routines of a module. `entries` are names given by the user
/// (--entry); every one must name a defined function.
pub fn discover(
    facts: &mut ModuleFacts,
    rules: &RulePack,
    entries: &[String],
    all_functions: bool,
) -> Result<Vec<Routine>> {
    let mut found: BTreeMap<(FuncId, RoleId), Vec<String>> = BTreeMap::new();
    let entry_role = rules.role_id("entry").expect("validated: the pack has an `entry` role");

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
        let func = facts
            .function_by_name(name)
            .ok_or_else(|| Error::new(format!("--entry {name}: no function named `{name}` is defined in the input")))?;
        found.entry((func, entry_role)).or_default();
    }
    if all_functions {
        for (id, f) in facts.functions.iter().enumerate() {
            if f.body.is_some() && !found.keys().any(|(func, _)| *func == id as FuncId) {
                found.entry((id as FuncId, entry_role)).or_default();
            }
        }
    }

    let registrations = Registrations::collect(facts, rules);
    loop {
        let typed = typed_params(&found, rules);
        let before: usize = found.values().map(Vec::len).sum::<usize>() + found.len();
        for (key, detail) in registrations.matches(facts, rules, &typed) {
            let details = found.entry(key).or_default();
            if let Some(d) = detail.filter(|d| !details.contains(d)) {
                details.push(d);
            }
        }
        let after: usize = found.values().map(Vec::len).sum::<usize>() + found.len();
        if after == before {
            break;
        }
    }
    // A function named with --entry that also has a role of its own (a
    // cancel routine, a DPC) is that routine: analysing it a second time as
    // entered with nothing held would contradict the role's entry state.
    let with_own_role: HashSet<FuncId> =
        found.keys().filter(|(_, role)| *role != entry_role).map(|(func, _)| *func).collect();
    found.retain(|(func, role), _| *role != entry_role || !with_own_role.contains(func));
    Ok(found.into_iter().map(|((func, role), details)| Routine { func, role, details }).collect())
}

/// Every store and external pass of the module, with those made in helpers
/// also stated in each caller's terms.
struct Registrations {
    stores: Vec<Store>,
    passes: Vec<Pass>,
    /// Store indices by the function making them (`None`: initializers).
    stores_by_function: HashMap<Option<FuncId>, Vec<usize>>,
}

impl Registrations {
    fn collect(facts: &mut ModuleFacts, rules: &RulePack) -> Registrations {
        let mut stores: Vec<Store> = facts
            .fn_stores
            .iter()
            .map(|s| Store {
                function: s.function,
                dest: s.dest,
                in_function: s.in_function,
                field: s.field.clone(),
                nested: s.nested.clone(),
            })
            .collect();
        // Only arguments of calls some registration names are worth
        // carrying: every pointer of every external call, restated in each
        // caller up the call chains, grows exponentially with their depth
        // (ReactOS win32k: millions of passes and out of memory).
        let passes_to: Vec<&Registration> = rules
            .roles
            .iter()
            .flat_map(|r| r.registered_by.iter())
            .filter(|r| !matches!(r, Registration::Store(_)))
            .collect();
        let mut passes = Vec::new();
        for call in &facts.external_calls {
            for (index, arg) in call.args.iter().enumerate() {
                let registers = |r: &&Registration| passes_through(r, facts, rules, call.callee, index as u32);
                if let Some(arg) = arg.filter(|_| passes_to.iter().any(registers)) {
                    passes.push(Pass { callee: call.callee, index: index as u32, arg, in_function: call.in_function });
                }
            }
        }
        let mut params: Vec<ParamStore> = facts
            .param_stores
            .iter()
            .map(|p| ParamStore { param: p.param, dest: p.dest, in_function: p.in_function })
            .collect();
        let functions_by_symbol: HashMap<&str, FuncId> =
            facts.functions.iter().enumerate().map(|(i, f)| (f.symbol.as_str(), i as FuncId)).collect();
        // Per defined callee: its callers and the argument paths of each call.
        let mut callers: HashMap<FuncId, Vec<(FuncId, ArgPaths)>> = HashMap::default();
        for (caller, f) in facts.functions.iter().enumerate() {
            for event in f.body.iter().flat_map(|b| b.blocks.iter()).flat_map(|b| b.events.iter()) {
                let Event::Call(call) = event else { continue };
                for &target in &call.targets {
                    if facts.functions[target as usize].body.is_some() {
                        let args = call.args.iter().map(|a| a.path).collect();
                        callers.entry(target).or_default().push((caller as FuncId, args));
                    }
                }
            }
        }
        let paths = &mut facts.paths;
        let rooted_in_param =
            |paths: &Paths, path: PathId, f: FuncId| matches!(paths.get(path).root, Root::Param(g, _) if g == f);

        let mut seen_stores: HashSet<Store> = stores.iter().cloned().collect();
        let mut seen_passes: HashSet<Pass> = passes.iter().copied().collect();
        let mut seen_params: HashSet<ParamStore> = params.iter().copied().collect();
        // Semi-naive: each round carries only what the previous one found.
        let (mut new_stores, mut new_passes, mut new_params) = (0..stores.len(), 0..passes.len(), 0..params.len());
        for _ in 0..MAX_HELPER_DEPTH {
            let (mut found_stores, mut found_passes, mut found_params) = (Vec::new(), Vec::new(), Vec::new());
            for s in &stores[new_stores.clone()] {
                let Some(f) = s.in_function.filter(|f| rooted_in_param(paths, s.dest, *f)) else { continue };
                for (caller, args) in callers.get(&f).into_iter().flatten() {
                    if let Some(dest) = paths.substitute(s.dest, args) {
                        found_stores.push(Store { dest, in_function: Some(*caller), ..s.clone() });
                    }
                }
            }
            for p in &passes[new_passes.clone()] {
                if !rooted_in_param(paths, p.arg, p.in_function) {
                    continue;
                }
                for (caller, args) in callers.get(&p.in_function).into_iter().flatten() {
                    if let Some(arg) = paths.substitute(p.arg, args) {
                        found_passes.push(Pass { arg, in_function: *caller, ..*p });
                    }
                }
            }
            for ps in &params[new_params.clone()] {
                for (caller, args) in callers.get(&ps.in_function).into_iter().flatten() {
                    let Some(Some(value)) = args.get(ps.param as usize) else { continue };
                    let Some(dest) = paths.substitute(ps.dest, args) else { continue };
                    let value_path = paths.get(*value).clone();
                    match (value_path.root, value_path.steps.is_empty()) {
                        (Root::Global(g), true) => {
                            if let Some(&function) = functions_by_symbol.get(paths.globals[g as usize].as_str()) {
                                found_stores.push(Store {
                                    function,
                                    dest,
                                    in_function: Some(*caller),
                                    field: None,
                                    nested: Vec::new(),
                                });
                            }
                        }
                        (Root::Param(f, param), true) if f == *caller => {
                            found_params.push(ParamStore { param, dest, in_function: *caller });
                        }
                        _ => {}
                    }
                }
            }
            let before = (stores.len(), passes.len(), params.len());
            stores.extend(found_stores.into_iter().filter(|s| seen_stores.insert(s.clone())));
            passes.extend(found_passes.into_iter().filter(|p| seen_passes.insert(*p)));
            params.extend(found_params.into_iter().filter(|p| seen_params.insert(*p)));
            if (stores.len(), passes.len(), params.len()) == before {
                break;
            }
            (new_stores, new_passes, new_params) =
                (before.0..stores.len(), before.1..passes.len(), before.2..params.len());
        }
        let mut stores_by_function: HashMap<Option<FuncId>, Vec<usize>> = HashMap::default();
        for (i, s) in stores.iter().enumerate() {
            stores_by_function.entry(s.in_function).or_default().push(i);
        }
        Registrations { stores, passes, stores_by_function }
    }

    /// (function, role) pairs the registrations establish, with details.
    fn matches(
        &self,
        facts: &ModuleFacts,
        rules: &RulePack,
        typed: &HashMap<(FuncId, u32), String>,
    ) -> Vec<((FuncId, RoleId), Option<String>)> {
        let mut out = Vec::new();
        // Defined functions by symbol (the first definition, as a linear
        // search would find it): one lookup per registration call.
        let mut defined: HashMap<&str, FuncId> = HashMap::default();
        for (i, f) in facts.functions.iter().enumerate() {
            if f.body.is_some() {
                defined.entry(f.symbol.as_str()).or_insert(i as FuncId);
            }
        }
        for (role_id, role) in rules.roles.iter().enumerate() {
            for registration in &role.registered_by {
                match registration {
                    Registration::Store(field) => {
                        for store in &self.stores {
                            // Debug info names the field wherever the pointer came
                            // from (`IoGetNextIrpStackLocation(Irp)->CompletionRoutine`);
                            // without it, the path from a typed parameter does.
                            let named = store
                                .field
                                .iter()
                                .chain(&store.nested)
                                .find_map(|f| field_at(rules, facts.pointer_bytes, f));
                            let Some((struct_name, field_name, element)) =
                                named.or_else(|| field_of(facts, rules, typed, store.dest))
                            else {
                                continue;
                            };
                            if struct_name != field.struct_name || field_name != field.field {
                                continue;
                            }
                            let spec = &rules.structs[&struct_name][&field_name];
                            // A store through a variable index (a loop over every
                            // MajorFunction slot) registers no one element.
                            let detail = spec.count.zip(element).map(|(_, element)| {
                                spec.index_names
                                    .get(element as usize)
                                    .cloned()
                                    .unwrap_or_else(|| format!("{field_name}[{element}]"))
                            });
                            out.push(((store.function, role_id), detail));
                        }
                    }
                    Registration::PassedTo { .. } | Registration::PassedToTable { .. } => {
                        let chosen = |p: &Pass| passes_through(registration, facts, rules, p.callee, p.index);
                        for f in self.passed_functions(facts, &defined, chosen) {
                            out.push(((f, role_id), None));
                        }
                    }
                }
            }
        }
        out
    }

    /// Functions whose address reaches a chosen external call: as the
    /// argument itself, or stored inside the object the argument points to.
    fn passed_functions(
        &self,
        facts: &ModuleFacts,
        defined: &HashMap<&str, FuncId>,
        chosen: impl Fn(&Pass) -> bool,
    ) -> Vec<FuncId> {
        let mut out = Vec::new();
        for pass in self.passes.iter().filter(|p| chosen(p)) {
            let arg = facts.paths.get(pass.arg);
            if let (Root::Global(g), true) = (arg.root, arg.steps.is_empty()) {
                let symbol = &facts.paths.globals[g as usize];
                if let Some(&f) = defined.get(symbol.as_str()) {
                    out.push(f);
                    continue;
                }
            }
            let local = self.stores_by_function.get(&Some(pass.in_function)).into_iter().flatten();
            let initialised = self.stores_by_function.get(&None).into_iter().flatten();
            let objects = with_referenced_globals(facts, pass.arg);
            for store in local.chain(initialised).map(|&i| &self.stores[i]) {
                if objects.iter().any(|&object| is_within(&facts.paths, store.dest, object)) {
                    out.push(store.function);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether argument `index` of a call to `callee` is one `registration`
/// registers a function through (never, for a store registration).
fn passes_through(
    registration: &Registration,
    facts: &ModuleFacts,
    rules: &RulePack,
    callee: ExternalCallee,
    index: u32,
) -> bool {
    match (registration, callee) {
        (Registration::PassedTo { function, arg }, ExternalCallee::Function(f)) => {
            facts.function(f).name == *function && arg.is_none_or(|a| a == index)
        }
        (Registration::PassedToTable { prefix }, ExternalCallee::Table { table, .. }) => {
            rules.function_tables[table].symbol_prefix.starts_with(prefix.as_str())
        }
        _ => false,
    }
}

/// The object a registration passes, and when it is a global, the globals
/// its initializer points to, a few levels deep (FLT_REGISTRATION and its
/// operation callback array).
fn with_referenced_globals(facts: &ModuleFacts, object: PathId) -> Vec<PathId> {
    const DEPTH: usize = 3;
    let mut out = vec![object];
    let mut frontier = vec![object];
    for _ in 0..DEPTH {
        let next: Vec<PathId> = facts
            .global_refs
            .iter()
            .filter(|(from, to)| frontier.contains(from) && !out.contains(to))
            .map(|&(_, to)| to)
            .collect();
        if next.is_empty() {
            break;
        }
        out.extend(&next);
        frontier = next;
    }
    out
}

/// Whether `dest` addresses memory inside the object `object` points to
/// (same root, `object`'s steps a prefix of `dest`'s, then offsets only).
fn is_within(paths: &Paths, dest: PathId, object: PathId) -> bool {
    let (d, o) = (paths.get(dest), paths.get(object));
    d.root == o.root
        && d.steps.len() >= o.steps.len()
        && d.steps[..o.steps.len()] == o.steps[..]
        && d.steps[o.steps.len()..].iter().all(|s| matches!(s, Step::Offset(_)))
}

/// Parameter struct types implied by the routines found so far.
fn typed_params(found: &BTreeMap<(FuncId, RoleId), Vec<String>>, rules: &RulePack) -> HashMap<(FuncId, u32), String> {
    let mut typed = HashMap::default();
    for (func, role) in found.keys() {
        for (n, ty) in rules.roles[*role].params.iter().enumerate() {
            typed.insert((*func, n as u32), ty.clone());
        }
    }
    typed
}

/// A struct field a registration store names: (struct, field, element),
/// the element unknown (`None`) when a variable index picks it.
type NamedField = (String, String, Option<u32>);

/// The pack's field at a byte offset of a struct, with the element index.
fn field_at(rules: &RulePack, pointer_bytes: u32, (struct_name, offset): &FieldId) -> Option<NamedField> {
    let fields = rules.structs.get(struct_name)?;
    fields.iter().find_map(|(name, f)| {
        f.element_at(*offset, pointer_bytes).map(|e| (struct_name.clone(), name.clone(), Some(e)))
    })
}

/// The access paths of a call's arguments (none for non-pointers).
type ArgPaths = Vec<Option<PathId>>;

/// The struct field a store destination names: `Param + offset` into a typed
/// parameter, following pointer fields through loads
/// (`DriverObject->DriverExtension->AddDevice`), or an array field at a
/// variable index (`DriverObject->MajorFunction[i]`).
fn field_of(
    facts: &ModuleFacts,
    rules: &RulePack,
    typed: &HashMap<(FuncId, u32), String>,
    dest: PathId,
) -> Option<NamedField> {
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
        let (name, field, element) =
            fields.iter().find_map(|(name, f)| f.element_at(offset, pointer).map(|e| (name, f, e)))?;
        match rest {
            [] => return Some((current, name.clone(), Some(element))),
            [Step::Index] if element == 0 && field.count.is_some() => return Some((current, name.clone(), None)),
            [Step::Load, more @ ..] => {
                current = field.points_to.clone()?;
                steps = more;
            }
            _ => return None,
        }
    }
}
