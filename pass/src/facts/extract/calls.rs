//! Calls: lock API calls, forbidden calls, calls to the module's functions
//! and through function tables, and stores of function addresses.

use super::access::{gep_offset_of, strip_casts};
use super::*;

impl FunctionWalk<'_, '_> {
    pub(super) fn call(&mut self, inst: Value) -> Option<Event> {
        let callee = inst.called_value();
        if callee.as_function().is_some_and(|f| f.name().starts_with("llvm.")) {
            return None;
        }
        let target = self.ex.function_of(callee);
        let table = if target.is_none() { self.table_slot(callee) } else { None };
        let name = match (target, table) {
            (Some(t), _) => Some(self.ex.facts.functions[t as usize].name.clone()),
            (None, Some((t, index))) => self.ex.rules.function_tables[t].entries.get(&index).cloned(),
            (None, None) => None,
        };
        if let Some(name) = &name {
            self.ex.facts.called_names.insert(name.clone());
        }
        // A function defined in the module is analysed through its body, even
        // when it is named like an API; declarations and table entries are
        // what the rule pack describes.
        let external = target.is_none_or(|t| self.ex.defined.get(t as usize).is_some_and(|d| !d));
        let args: Vec<Arg> = (0..inst.arg_count()).map(|i| self.arg(inst.operand(i))).collect();
        if external && (target.is_some() || table.is_some()) {
            let callee = match (target, table) {
                (Some(t), _) => ExternalCallee::Function(t),
                (None, Some((t, index))) => ExternalCallee::Table { table: t, index },
                (None, None) => unreachable!("checked above"),
            };
            let paths = args.iter().map(|a| a.path).collect();
            self.ex.facts.external_calls.push(ExternalCall { callee, args: paths, in_function: self.id });
        }
        if external && let Some(name) = &name {
            let constant = |n: u32| (n < inst.arg_count()).then(|| inst.operand(n).const_int()).flatten();
            match self.ex.rules.api(name, constant) {
                Some(Api::Lock(api)) => {
                    let loc = self.ex.location(inst);
                    return Some(self.lock_event(inst, api, loc));
                }
                Some(Api::Forbidden(call)) => {
                    let loc = self.ex.location(inst);
                    return Some(Event::Forbidden(ForbiddenEvent { call, loc }));
                }
                None => {}
            }
        }
        let (targets, indirect) = match target {
            Some(t) => (vec![t], None),
            None if table.is_some() => return None,
            None => {
                // Through a pointer: a choice of functions (phi/select), or one
                // loaded from memory, resolved once every store is known.
                let chosen = self.ex.functions_of(callee, 0);
                let pointer_types = self.ex.di.pointer_typedefs(callee);
                if !chosen.is_empty() {
                    (chosen, None)
                } else if llvm::is_opcode(callee, Opcode::LLVMLoad) {
                    let pointer = callee.operand(0);
                    let layout = self.ex.layout;
                    let field = self.ex.di.field_identity(pointer, &|g| gep_offset_of(g, layout));
                    let slot = self.path(pointer, 0);
                    (Vec::new(), Some(IndirectCallee { slot, field, pointer_types }))
                } else if !pointer_types.is_empty() {
                    // A parameter or a phi of one and a known routine: only
                    // its declared type says what it calls.
                    let slot = self.opaque();
                    (Vec::new(), Some(IndirectCallee { slot, field: None, pointer_types }))
                } else {
                    return None;
                }
            }
        };
        let result = self.call_result(inst);
        let loc = self.ex.location(inst);
        Some(Event::Call(CallEvent { targets, args, result, loc, indirect, hands_over: Vec::new() }))
    }

    /// A call through a function table (KMDF's WdfFunctions_<version>[N]):
    /// the callee is `load (load @table + N * pointer size)`. Returns the
    /// table and the entry index.
    pub(super) fn table_slot(&mut self, callee: Value) -> Option<(usize, u32)> {
        if self.ex.rules.function_tables.is_empty() {
            return None;
        }
        let path = self.path(callee, 0);
        let path = self.ex.facts.paths.get(path).clone();
        let Root::Global(g) = path.root else {
            return None;
        };
        let offset = match path.steps.as_slice() {
            [Step::Load, Step::Load] => 0,
            [Step::Load, Step::Offset(o), Step::Load] => *o,
            _ => return None,
        };
        let global = &self.ex.facts.paths.globals[g as usize];
        let table = self.ex.rules.function_tables.iter().position(|t| global.starts_with(&t.symbol_prefix))?;
        let pointer = self.ex.facts.pointer_bytes as i64;
        if offset < 0 || pointer == 0 || offset % pointer != 0 {
            return None;
        }
        Some((table, (offset / pointer) as u32))
    }

    pub(super) fn lock_event(&mut self, inst: Value, api: usize, loc: Option<LocId>) -> Event {
        let spec = &self.ex.rules.lock_apis[api];
        let (lock_arg, handle_arg, op, kind) = (spec.lock_arg, spec.handle_arg, spec.op, spec.kind);
        let argument = |n: Option<u32>| n.filter(|&n| n < inst.arg_count()).map(|n| inst.operand(n));
        let lock = argument(lock_arg)
            .map(|v| if v.ty().is_integer() { self.integer_lock(api, kind, v) } else { self.named_path(v) });
        let handle = argument(handle_arg).map(|v| self.named_path(v));
        let result = if op == LockOp::TryAcquire { self.call_result(inst) } else { None };
        Event::Lock(LockEvent { api, lock, handle, result, loc })
    }

    /// A lock named by an integer (Storport's lock kinds: InterruptLock is 3):
    /// the value is the lock. A value not known at compile time is a lock
    /// equal only to itself.
    pub(super) fn integer_lock(&mut self, api: usize, kind: usize, value: Value) -> PathId {
        let Some(n) = value.const_int() else { return self.opaque() };
        let spec = &self.ex.rules.lock_apis[api];
        let name = spec.lock_names.get(&n).cloned().unwrap_or_else(|| format!("lock {n}"));
        let kind_id = &self.ex.rules.lock_kinds[kind].id;
        let path = self.ex.facts.paths.global(&format!("{kind_id}:{n}"));
        self.ex.facts.paths.set_name_if_unnamed(path, name);
        path
    }

    pub(super) fn call_result(&mut self, inst: Value) -> Option<ValueId> {
        let ty = inst.ty();
        if !(ty.is_integer() || ty.is_pointer()) {
            return None;
        }
        match self.operand(inst, 0) {
            Operand::Value(id) => Some(id),
            _ => None,
        }
    }

    pub(super) fn arg(&mut self, v: Value) -> Arg {
        let ty = v.ty();
        if ty.is_pointer() {
            // Its value too: a callee's branch on the pointer (`if
            // (DeviceObject)`) is decided by a caller passing NULL.
            Arg { path: Some(self.named_path(v)), value: self.operand(v, 0) }
        } else if ty.is_integer() {
            Arg { path: None, value: self.operand(v, 0) }
        } else {
            Arg { path: None, value: Operand::Unknown }
        }
    }

    /// A store of a function's address (a registration), or of a pointer
    /// parameter (which registers whatever function a caller passes).
    pub(super) fn function_store(&mut self, stored: Value, dest: Value, _inst: Value) {
        if let Some(function) = self.ex.function_of(stored) {
            let layout = self.ex.layout;
            let field = self.ex.di.field_identity(dest, &|g| gep_offset_of(g, layout));
            let dest = self.path(dest, 0);
            let nested = field.as_ref().map(|f| self.ex.di.nested_fields(f)).unwrap_or_default();
            self.ex.facts.fn_stores.push(FnPtrStore { function, dest, in_function: Some(self.id), field, nested });
        } else if let Some(param) = strip_casts(stored).argument_index()
            && (stored.ty().is_pointer() || strip_casts(stored).ty().is_pointer())
        {
            let dest = self.path(dest, 0);
            self.ex.facts.param_stores.push(ParamStore { param, dest, in_function: self.id });
        }
    }
}
