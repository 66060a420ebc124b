//! Access paths: the memory a pointer names, from its GEPs, loads and
//! casts back to a parameter, a global or a stack slot.

use super::*;

/// What a GEP adds to its base: the access-path steps and, for naming, the
/// folded offset.
pub(super) fn gep_steps(gep: Value, layout: LLVMTargetDataRef) -> (Vec<Step>, GepOffset) {
    let mut ty = gep.gep_source_type();
    let source_struct = ty.struct_name().map(|n| n.strip_prefix("struct.").unwrap_or(&n).to_string());
    let mut steps = Vec::new();
    let mut pending = 0i64;
    let mut total = 0i64;
    let mut variable = false;
    let mut add = |constant: Option<i64>, size: u64, steps: &mut Vec<Step>, pending: &mut i64| match constant {
        Some(c) => {
            let delta = c.saturating_mul(size as i64);
            *pending = pending.saturating_add(delta);
            total = total.saturating_add(delta);
        }
        None => {
            if *pending != 0 {
                steps.push(Step::Offset(*pending));
                *pending = 0;
            }
            steps.push(Step::Index);
            variable = true;
        }
    };
    for k in 1..gep.operand_count() {
        let index = gep.operand(k).const_int();
        if k == 1 {
            let size = if ty.is_sized() { ty.alloc_size(layout) } else { 0 };
            add(index, size, &mut steps, &mut pending);
            continue;
        }
        match ty.kind() {
            TypeKind::LLVMStructTypeKind => {
                let Some(field) = index.filter(|&i| i >= 0 && (i as u32) < ty.struct_field_count()) else {
                    break;
                };
                add(Some(ty.field_offset(layout, field as u32) as i64), 1, &mut steps, &mut pending);
                ty = ty.struct_field(field as u32);
            }
            TypeKind::LLVMArrayTypeKind | TypeKind::LLVMVectorTypeKind => {
                let elem = ty.element();
                let size = if elem.is_sized() { elem.alloc_size(layout) } else { 0 };
                add(index, size, &mut steps, &mut pending);
                ty = elem;
            }
            _ => break,
        }
    }
    if pending != 0 {
        steps.push(Step::Offset(pending));
    }
    (steps, GepOffset { constant: total, variable, source_struct })
}

pub(super) fn gep_offset_of(value: Value, layout: LLVMTargetDataRef) -> Option<GepOffset> {
    let is_gep = (value.is_instruction() && value.opcode() == Opcode::LLVMGetElementPtr)
        || (value.is_constant_expr() && value.const_opcode() == Opcode::LLVMGetElementPtr);
    is_gep.then(|| gep_steps(value, layout).1)
}

/// Whether a stack slot's address escapes: anything but loads from it,
/// stores to it, and GEPs or casts of it. Collects (address, stored value)
/// of the stores into it.
pub(super) fn slot_escapes(slot: Value, stores: &mut Vec<(Value, Value)>) -> bool {
    let mut pending = vec![slot];
    let mut visited = 0;
    while let Some(address) = pending.pop() {
        visited += 1;
        if visited > 256 {
            return true;
        }
        for user in address.users() {
            if !user.is_instruction() {
                return true;
            }
            match user.opcode() {
                Opcode::LLVMLoad => {}
                Opcode::LLVMStore if user.operand(1) == address && user.operand(0) != address => {
                    stores.push((address, user.operand(0)));
                }
                Opcode::LLVMGetElementPtr | Opcode::LLVMBitCast | Opcode::LLVMAddrSpaceCast
                    if user.operand(0) == address =>
                {
                    pending.push(user)
                }
                // Lifetime markers bracket the slot; they capture nothing.
                Opcode::LLVMCall
                    if user.called_value().as_function().is_some_and(|f| f.name().starts_with("llvm.lifetime.")) => {}
                _ => return true,
            }
        }
    }
    false
}

/// An integer constant, or `offsetof` written as a constant expression
/// (`ptrtoint (gep T, null, 0, field)`), as CONTAINING_RECORD leaves it at -O0.
pub(super) fn constant_offset(v: Value, layout: LLVMTargetDataRef) -> Option<i64> {
    if let Some(c) = v.const_int() {
        return Some(c);
    }
    if !(v.is_constant_expr() && v.const_opcode() == Opcode::LLVMPtrToInt) {
        return None;
    }
    let gep = v.operand(0);
    if !(gep.is_constant_expr() && gep.const_opcode() == Opcode::LLVMGetElementPtr && gep.operand(0).is_null_pointer())
    {
        return None;
    }
    let (steps, offset) = gep_steps(gep, layout);
    (!offset.variable && !steps.contains(&Step::Index)).then_some(offset.constant)
}

/// `v` without pointer/integer casts around it.
pub(super) fn strip_casts(v: Value) -> Value {
    let mut current = v;
    for _ in 0..8 {
        match opcode_of(current) {
            Some(Opcode::LLVMBitCast | Opcode::LLVMPtrToInt | Opcode::LLVMIntToPtr | Opcode::LLVMAddrSpaceCast) => {
                current = current.operand(0)
            }
            _ => break,
        }
    }
    current
}

/// The argument a direct call returns unchanged (or, with `field`, returns
/// as that field of a returned struct): the same one at every `ret` of the
/// callee's definition.
pub(super) fn forwarded_argument(call: Value, field: Option<u32>) -> Option<u32> {
    let callee = call.called_value().as_function().filter(|f| !f.is_declaration())?;
    let mut forwarded = None;
    for block in callee.blocks() {
        let Some(ret) = block.terminator().filter(|t| t.opcode() == Opcode::LLVMRet && t.operand_count() > 0) else {
            continue;
        };
        let mut value = ret.operand(0);
        if let Some(field) = field {
            let mut found = None;
            for _ in 0..8 {
                if opcode_of(value) != Some(Opcode::LLVMInsertValue) {
                    break;
                }
                if value.indices() == [field] {
                    found = Some(value.operand(1));
                    break;
                }
                value = value.operand(0);
            }
            value = found?;
        }
        let arg = strip_casts(value).argument_index()?;
        if forwarded.is_some_and(|f| f != arg) {
            return None;
        }
        forwarded = Some(arg);
    }
    forwarded.filter(|&arg| arg < call.arg_count())
}

impl FunctionWalk<'_, '_> {
    /// The access path of a pointer, named in source terms when debug info allows.
    pub(super) fn named_path(&mut self, v: Value) -> PathId {
        let path = self.path(v, 0);
        if self.ex.facts.paths.name(path).is_none() {
            let layout = self.ex.layout;
            if let Some(name) = self.ex.di.name_pointer(v, &|g| gep_offset_of(g, layout)) {
                self.ex.facts.paths.set_name_if_unnamed(path, name);
            }
        }
        path
    }

    pub(super) fn opaque(&mut self) -> PathId {
        let n = self.next_opaque;
        self.next_opaque += 1;
        self.ex.facts.paths.root(Root::Opaque(self.id, n))
    }

    pub(super) fn path(&mut self, v: Value, depth: usize) -> PathId {
        if let Some(&p) = self.path_memo.get(&v) {
            return p;
        }
        if depth > MAX_DEPTH {
            return self.opaque();
        }
        let path = self.compute_path(v, depth);
        self.path_memo.insert(v, path);
        path
    }

    pub(super) fn compute_path(&mut self, v: Value, depth: usize) -> PathId {
        if v.is_global_variable() || v.is_global_alias() || v.as_function().is_some() {
            return self.ex.facts.paths.global(&v.name());
        }
        if let Some(n) = v.argument_index() {
            return self.ex.facts.paths.root(Root::Param(self.id, n));
        }
        let Some(opcode) = opcode_of(v) else {
            return self.opaque();
        };
        match opcode {
            Opcode::LLVMGetElementPtr => {
                let base = self.path(v.operand(0), depth + 1);
                let (steps, _) = gep_steps(v, self.ex.layout);
                self.ex.facts.paths.extend(base, &steps)
            }
            Opcode::LLVMBitCast | Opcode::LLVMAddrSpaceCast => self.path(v.operand(0), depth + 1),
            // CONTAINING_RECORD computes on integers: inttoptr(ptrtoint(p) - offset).
            Opcode::LLVMIntToPtr => match self.integer_path(v.operand(0), depth + 1) {
                Some(path) => path,
                None => self.opaque(),
            },
            Opcode::LLVMLoad if v.is_instruction() => {
                let from = self.path(v.operand(0), depth + 1);
                // A local slot stored once holds that value: the load is in its class.
                if let Some(stored) = self.single_store(from) {
                    return self.path(stored, depth + 1);
                }
                self.ex.facts.paths.append(from, Step::Load)
            }
            Opcode::LLVMAlloca if v.is_instruction() => {
                let n = self.next_local;
                self.next_local += 1;
                self.ex.facts.paths.root(Root::Local(self.id, n))
            }
            Opcode::LLVMPHI | Opcode::LLVMSelect if v.is_instruction() => {
                // A phi or select of one path is that path; break cycles first.
                let placeholder = self.opaque();
                self.path_memo.insert(v, placeholder);
                let inputs: Vec<Value> = if opcode == Opcode::LLVMPHI {
                    (0..v.incoming_count()).map(|i| v.incoming(i).0).collect()
                } else {
                    vec![v.operand(1), v.operand(2)]
                };
                let mut common = None;
                for input in inputs {
                    if input == v {
                        continue;
                    }
                    let p = self.path(input, depth + 1);
                    if p == placeholder {
                        continue;
                    }
                    match common {
                        None => common = Some(p),
                        Some(c) if c == p => {}
                        Some(_) => return placeholder,
                    }
                }
                common.unwrap_or(placeholder)
            }
            // A call to a function that returns one of its pointer arguments
            // as it got it (rustc -O0 keeps such helpers out of line:
            // `slice::from_raw_parts` returns `{ data, len }`, an accessor
            // returns `&self.lock`) is that argument.
            Opcode::LLVMCall | Opcode::LLVMInvoke if v.is_instruction() => match forwarded_argument(v, None) {
                Some(arg) => self.path(v.operand(arg), depth + 1),
                None => self.opaque(),
            },
            Opcode::LLVMExtractValue if v.is_instruction() => {
                let aggregate = v.operand(0);
                let forwarded = match (opcode_of(aggregate), v.indices().as_slice()) {
                    (Some(Opcode::LLVMCall | Opcode::LLVMInvoke), [field]) => {
                        forwarded_argument(aggregate, Some(*field))
                    }
                    _ => None,
                };
                match forwarded {
                    Some(arg) => self.path(aggregate.operand(arg), depth + 1),
                    None => self.opaque(),
                }
            }
            _ => self.opaque(),
        }
    }

    /// The value stored to a location in one of this function's stack slots,
    /// when the slot does not escape (only loaded and stored, directly or
    /// through GEPs and casts) and that location is stored exactly once.
    pub(super) fn single_store(&mut self, location: PathId) -> Option<Value> {
        if !matches!(self.ex.facts.paths.get(location).root, Root::Local(..)) {
            return None;
        }
        if self.slot_stores.is_none() {
            self.slot_stores = Some(self.scan_slots());
        }
        match self.slot_stores.as_ref()?.get(&location) {
            Some(&(1, value)) => Some(value),
            _ => None,
        }
    }

    /// Stores into the function's non-escaping stack slots: location ->
    /// (number of stores, a stored value).
    pub(super) fn scan_slots(&mut self) -> HashMap<PathId, (u32, Value)> {
        let mut stores: HashMap<PathId, (u32, Value)> = HashMap::default();
        let slots: Vec<Value> = self
            .function
            .blocks()
            .flat_map(|b| b.instructions())
            .filter(|i| i.opcode() == Opcode::LLVMAlloca)
            .collect();
        for slot in slots {
            let mut found = Vec::new();
            if slot_escapes(slot, &mut found) {
                continue;
            }
            for (address, value) in found {
                let location = self.path(address, 0);
                let entry = stores.entry(location).or_insert((0, value));
                entry.0 += 1;
            }
        }
        stores
    }

    /// The pointer an integer holds when it is a pointer plus or minus a
    /// constant: `ptrtoint(p)`, `x + C`, `x - C`.
    pub(super) fn integer_path(&mut self, v: Value, depth: usize) -> Option<PathId> {
        if depth > MAX_DEPTH {
            return None;
        }
        let offset_by = |walk: &mut Self, base: Value, delta: i64| {
            let path = walk.integer_path(base, depth + 1)?;
            Some(walk.ex.facts.paths.append(path, Step::Offset(delta)))
        };
        match opcode_of(v)? {
            Opcode::LLVMPtrToInt => Some(self.path(v.operand(0), depth + 1)),
            Opcode::LLVMAdd => {
                match (constant_offset(v.operand(0), self.ex.layout), constant_offset(v.operand(1), self.ex.layout)) {
                    (_, Some(c)) => offset_by(self, v.operand(0), c),
                    (Some(c), _) => offset_by(self, v.operand(1), c),
                    _ => None,
                }
            }
            Opcode::LLVMSub => {
                offset_by(self, v.operand(0), constant_offset(v.operand(1), self.ex.layout)?.checked_neg()?)
            }
            _ => None,
        }
    }
}
