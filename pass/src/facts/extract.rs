//! IR -> facts: one walk over every defined function.

use llvm_sys::prelude::LLVMModuleRef;
use llvm_sys::target::LLVMTargetDataRef;
use rustc_hash::FxHashMap as HashMap;

use super::debuginfo::{DebugInfo, GepOffset, LocKey};
use super::*;
use crate::ir::llvm::{self, IntPredicate, Opcode, TypeKind, Value};
use crate::ir::names;
use crate::rules::{Api, LockOp, RulePack};

/// Longest chain of GEPs, loads and operands followed from one value.
const MAX_DEPTH: usize = 48;

/// Extracts the facts of a prepared module (see `ir::prepare`).
pub fn extract(module: LLVMModuleRef, rules: &RulePack) -> ModuleFacts {
    let module = llvm::Module(module);
    let api_names: std::collections::HashSet<String> = rules
        .lock_apis
        .iter()
        .flat_map(|a| a.names.iter())
        .chain(rules.forbidden_calls.iter().flat_map(|f| f.names.iter()))
        .chain(rules.function_tables.iter().flat_map(|t| t.entries.values()))
        .cloned()
        .collect();
    let mut ex = Extractor {
        rules,
        module,
        layout: module.data_layout(),
        facts: ModuleFacts { pointer_bytes: module.pointer_bytes(), ..Default::default() },
        func_ids: HashMap::default(),
        defined: Vec::new(),
        di: DebugInfo::new(module, Box::new(move |name| api_names.contains(name))),
        loc_index: HashMap::default(),
        sources: Default::default(),
    };
    ex.run();
    let mut facts = ex.facts;
    super::indirect::resolve(&mut facts, rules);
    facts
}

struct Extractor<'r> {
    rules: &'r RulePack,
    module: llvm::Module,
    /// Per function id: whether the module defines it.
    defined: Vec<bool>,
    layout: LLVMTargetDataRef,
    facts: ModuleFacts,
    func_ids: HashMap<Value, FuncId>,
    di: DebugInfo,
    loc_index: HashMap<(LocKey, Option<LocId>), LocId>,
    sources: super::source::Sources,
}

impl Extractor<'_> {
    fn run(&mut self) {
        let functions: Vec<Value> = self.module.functions().filter(|f| !f.name().starts_with("llvm.")).collect();
        for f in &functions {
            let symbol = f.name();
            let name = names::normalize(&symbol).to_string();
            let loc = self.di.function_location(*f).map(|l| self.intern_loc(l, None));
            self.func_ids.insert(*f, self.facts.functions.len() as FuncId);
            self.defined.push(!f.is_declaration());
            self.facts.functions.push(Function {
                display: names::display(&symbol),
                name,
                symbol,
                param_count: f.param_count(),
                body: None,
                loc,
            });
        }
        self.facts.global_names = self.module.globals().map(|g| g.name()).collect();
        self.initializer_stores();
        for f in functions {
            if f.is_declaration() {
                continue;
            }
            let id = self.func_ids[&f];
            self.di.scan_function(f);
            let body = FunctionWalk::new(self, f, id).run();
            self.facts.functions[id as usize].body = Some(body);
        }
    }

    /// One id per (position, inline context): the same line inlined at two
    /// call sites is two locations, each knowing the call it sits in.
    fn intern_loc(&mut self, key: LocKey, inlined: Option<(String, LocId)>) -> LocId {
        let call = inlined.as_ref().map(|(_, c)| *c);
        if let Some(&id) = self.loc_index.get(&(key, call)) {
            return id;
        }
        let id = self.facts.locs.len() as LocId;
        let (file, directory) = self.di.file(key.0).clone();
        let inlined = inlined.map(|(function, call)| Inlined { function: names::display(&function), call });
        self.facts.locs.push(SourceLoc { file, directory, line: key.1, column: key.2, inlined });
        self.loc_index.insert((key, call), id);
        id
    }

    fn location(&mut self, inst: Value) -> Option<LocId> {
        let frames = self.di.frames(inst);
        let mut call: Option<LocId> = None;
        // Outermost first: each frame's call site is interned before it.
        for (key, inlined_function) in frames.into_iter().rev() {
            let context = call.zip(inlined_function).map(|(c, f)| (f, c));
            call = Some(self.intern_loc(key, context));
        }
        call
    }

    /// The functions a pointer may hold when it is a phi or select of
    /// function addresses (`Handler = Fast ? FastPath : SlowPath`).
    fn functions_of(&self, v: Value, depth: usize) -> Vec<FuncId> {
        if depth > 8 {
            return Vec::new();
        }
        if let Some(f) = self.function_of(v) {
            return vec![f];
        }
        let inputs: Vec<Value> = match opcode_of(v) {
            Some(Opcode::LLVMPHI) => (0..v.incoming_count()).map(|i| v.incoming(i).0).collect(),
            Some(Opcode::LLVMSelect) => vec![v.operand(1), v.operand(2)],
            _ => return Vec::new(),
        };
        let mut out = Vec::new();
        for input in inputs {
            if input == v {
                continue;
            }
            let found = self.functions_of(input, depth + 1);
            if found.is_empty() {
                return Vec::new();
            }
            out.extend(found);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Function addresses in global initializers (static dispatch tables,
    /// statically initialised config structs) are stores no function makes.
    fn initializer_stores(&mut self) {
        let layout = self.layout;
        for global in self.module.globals() {
            let Some(init) = global.initializer() else { continue };
            let mut slots = Vec::new();
            self.function_slots(init, 0, &mut slots, 0);
            if slots.is_empty() {
                continue;
            }
            let base = self.facts.paths.global(&global.name());
            for (offset, function) in slots {
                let dest = self.facts.paths.append(base, Step::Offset(offset));
                let field = self.di.global_field(global, offset);
                self.facts.fn_stores.push(FnPtrStore { function, dest, in_function: None, field });
            }
        }
        let _ = layout;
    }

    fn function_slots(&self, constant: Value, offset: i64, out: &mut Vec<(i64, FuncId)>, depth: usize) {
        if depth > 8 || out.len() > 4096 {
            return;
        }
        if let Some(f) = self.function_of(constant) {
            out.push((offset, f));
            return;
        }
        let ty = constant.ty();
        let kind = ty.kind();
        if !matches!(kind, TypeKind::LLVMStructTypeKind | TypeKind::LLVMArrayTypeKind)
            || !constant.is_constant_aggregate()
        {
            return;
        }
        for i in 0..constant.operand_count() {
            let element_offset = match kind {
                TypeKind::LLVMStructTypeKind => ty.field_offset(self.layout, i) as i64,
                _ => {
                    let elem = ty.element();
                    if !elem.is_sized() {
                        return;
                    }
                    i as i64 * elem.alloc_size(self.layout) as i64
                }
            };
            self.function_slots(constant.operand(i), offset + element_offset, out, depth + 1);
        }
    }

    /// The function whose address `v` is, through casts (IoSetCancelRoutine
    /// round-trips it through ptrtoint/inttoptr, as constants or instructions).
    fn function_of(&self, v: Value) -> Option<FuncId> {
        let mut current = v;
        for _ in 0..8 {
            if let Some(f) = current.as_function() {
                return self.func_ids.get(&f).copied();
            }
            let cast = matches!(
                opcode_of(current),
                Some(Opcode::LLVMBitCast | Opcode::LLVMPtrToInt | Opcode::LLVMIntToPtr | Opcode::LLVMAddrSpaceCast)
            );
            if !cast {
                return None;
            }
            current = current.operand(0);
        }
        None
    }
}

/// What a GEP adds to its base: the access-path steps and, for naming, the
/// folded offset.
fn gep_steps(gep: Value, layout: LLVMTargetDataRef) -> (Vec<Step>, GepOffset) {
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

fn gep_offset_of(value: Value, layout: LLVMTargetDataRef) -> Option<GepOffset> {
    let is_gep = (value.is_instruction() && value.opcode() == Opcode::LLVMGetElementPtr)
        || (value.is_constant_expr() && value.const_opcode() == Opcode::LLVMGetElementPtr);
    is_gep.then(|| gep_steps(value, layout).1)
}

/// Whether a stack slot's address escapes: anything but loads from it,
/// stores to it, and GEPs or casts of it. Collects (address, stored value)
/// of the stores into it.
fn slot_escapes(slot: Value, stores: &mut Vec<(Value, Value)>) -> bool {
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

fn predicate(p: IntPredicate) -> Pred {
    match p {
        IntPredicate::LLVMIntEQ => Pred::Eq,
        IntPredicate::LLVMIntNE => Pred::Ne,
        IntPredicate::LLVMIntSLT => Pred::Slt,
        IntPredicate::LLVMIntSLE => Pred::Sle,
        IntPredicate::LLVMIntSGT => Pred::Sgt,
        IntPredicate::LLVMIntSGE => Pred::Sge,
        IntPredicate::LLVMIntULT => Pred::Ult,
        IntPredicate::LLVMIntULE => Pred::Ule,
        IntPredicate::LLVMIntUGT => Pred::Ugt,
        IntPredicate::LLVMIntUGE => Pred::Uge,
    }
}

/// An integer constant, or `offsetof` written as a constant expression
/// (`ptrtoint (gep T, null, 0, field)`), as CONTAINING_RECORD leaves it at -O0.
fn constant_offset(v: Value, layout: LLVMTargetDataRef) -> Option<i64> {
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
fn strip_casts(v: Value) -> Value {
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
fn forwarded_argument(call: Value, field: Option<u32>) -> Option<u32> {
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

fn opcode_of(v: Value) -> Option<Opcode> {
    if v.is_instruction() {
        Some(v.opcode())
    } else if v.is_constant_expr() {
        Some(v.const_opcode())
    } else {
        None
    }
}

struct FunctionWalk<'a, 'r> {
    ex: &'a mut Extractor<'r>,
    function: Value,
    id: FuncId,
    block_ids: HashMap<llvm::Block, BlockId>,
    exit_only: HashMap<llvm::Block, bool>,
    blocks: Vec<Option<Block>>,
    synthetic_returns: HashMap<(llvm::Block, llvm::Block), BlockId>,
    values: Vec<ValueInfo>,
    value_ids: HashMap<Value, ValueId>,
    phis: Vec<(BlockId, Phi)>,
    defines: Vec<(BlockId, ValueId)>,
    path_memo: HashMap<Value, PathId>,
    /// Stores into non-escaping stack slots, computed on first need.
    slot_stores: Option<HashMap<PathId, (u32, Value)>>,
    next_local: u32,
    next_opaque: u32,
}

impl<'a, 'r> FunctionWalk<'a, 'r> {
    fn new(ex: &'a mut Extractor<'r>, function: Value, id: FuncId) -> Self {
        let llvm_blocks: Vec<llvm::Block> = function.blocks().collect();
        let block_ids = llvm_blocks.iter().enumerate().map(|(i, b)| (*b, i as BlockId)).collect();
        let blocks = llvm_blocks.iter().map(|_| None).collect();
        FunctionWalk {
            ex,
            function,
            id,
            block_ids,
            exit_only: HashMap::default(),
            blocks,
            synthetic_returns: HashMap::default(),
            values: Vec::new(),
            value_ids: HashMap::default(),
            phis: Vec::new(),
            defines: Vec::new(),
            path_memo: HashMap::default(),
            slot_stores: None,
            next_local: 0,
            next_opaque: 0,
        }
    }

    fn run(mut self) -> Body {
        let llvm_blocks: Vec<llvm::Block> = self.function.blocks().collect();
        for (i, block) in llvm_blocks.iter().enumerate() {
            let built = self.block(*block);
            self.blocks[i] = Some(built);
        }
        let mut blocks: Vec<Block> = self.blocks.into_iter().map(|b| b.expect("every block is built")).collect();
        for (b, phi) in self.phis {
            blocks[b as usize].phis.push(phi);
        }
        for (b, v) in self.defines {
            blocks[b as usize].defines.push(v);
        }
        Body { blocks, values: self.values }
    }

    fn block(&mut self, block: llvm::Block) -> Block {
        let mut events = Vec::new();
        for inst in block.instructions() {
            match inst.opcode() {
                Opcode::LLVMCall | Opcode::LLVMInvoke | Opcode::LLVMCallBr => {
                    if let Some(event) = self.call(inst) {
                        events.push(event);
                    }
                }
                Opcode::LLVMStore => self.function_store(inst.operand(0), inst.operand(1), inst),
                Opcode::LLVMAtomicRMW if inst.atomic_rmw_is_xchg() => {
                    self.function_store(inst.operand(1), inst.operand(0), inst)
                }
                _ => {}
            }
        }
        let terminator = match block.terminator() {
            Some(t) => self.terminator(block, t),
            None => Terminator::Unreachable,
        };
        let loc = block.instructions().find_map(|i| self.ex.location(i));
        Block { loc, phis: Vec::new(), defines: Vec::new(), events, terminator }
    }

    // ----- control flow -----

    fn terminator(&mut self, block: llvm::Block, t: Value) -> Terminator {
        let loc = self.ex.location(t);
        match t.opcode() {
            Opcode::LLVMBr => {
                if t.is_conditional() {
                    let condition = self.operand(t.condition(), 0);
                    let then_block = self.successor(block, t.successor(0));
                    let else_block = self.successor(block, t.successor(1));
                    Terminator::Branch { condition, then_block, else_block, loc }
                } else {
                    Terminator::Goto { target: self.successor(block, t.successor(0)), loc }
                }
            }
            Opcode::LLVMSwitch => {
                let value = self.operand(t.operand(0), 0);
                let default = self.successor(block, t.switch_default());
                let mut cases = Vec::new();
                for i in 1..t.successor_count() {
                    let (case, target) = t.switch_case(i);
                    let target = self.successor(block, target);
                    if let Some(c) = case.const_int() {
                        cases.push((c, target));
                    }
                }
                Terminator::Switch { value, cases, default, loc }
            }
            Opcode::LLVMRet => {
                let value = (t.operand_count() > 0).then(|| self.operand(t.operand(0), 0));
                Terminator::Return { value, loc }
            }
            Opcode::LLVMResume => Terminator::Unwind { loc },
            Opcode::LLVMUnreachable => Terminator::Unreachable,
            Opcode::LLVMInvoke => {
                let mut targets = vec![self.successor(block, t.normal_dest())];
                if let Some(unwind) = t.unwind_dest() {
                    targets.push(self.successor(block, unwind));
                }
                Terminator::Fork { targets }
            }
            _ => {
                let targets: Vec<BlockId> =
                    (0..t.successor_count()).map(|i| self.successor(block, t.successor(i))).collect();
                if targets.is_empty() { Terminator::Unwind { loc } } else { Terminator::Fork { targets } }
            }
        }
    }

    /// The block an edge leads to. An edge into clang's exit funnel (the
    /// shared return block with a phi of the return values; from -O1 on, a
    /// cleanup block ending lifetimes that switches on where to go next) gets
    /// a return of its own, located at the branch that is the `return`
    /// statement: each `return` is then its own exit.
    fn successor(&mut self, from: llvm::Block, to: llvm::Block) -> BlockId {
        if let Some(&id) = self.synthetic_returns.get(&(from, to)) {
            return id;
        }
        let Some((value, ret)) = self.follow_exit(from, to) else {
            return self.block_ids[&to];
        };
        // The `return` statement is the unconditional branch into the exit,
        // unless that branch just leaves a block or loop (the `}` of an `if`,
        // a `break`) and control falls off the end: then the exit is the ret.
        let branch = from.terminator().filter(|t| t.opcode() == Opcode::LLVMBr && !t.is_conditional());
        let branch_loc = branch.and_then(|b| self.ex.location(b));
        let ex = &mut *self.ex;
        let falls_through =
            branch_loc.is_some_and(|l| ex.sources.falls_through(&ex.facts.locs[l as usize]) == Some(true));
        let loc = branch_loc.filter(|_| !falls_through).or_else(|| self.ex.location(ret));
        let id = self.blocks.len() as BlockId;
        self.blocks.push(Some(Block {
            loc,
            phis: Vec::new(),
            defines: Vec::new(),
            events: Vec::new(),
            terminator: Terminator::Return { value, loc },
        }));
        self.synthetic_returns.insert((from, to), id);
        id
    }

    /// Follows the exit funnel entered by edge `from -> to` down to its
    /// `ret`, through blocks holding only phis and intrinsic calls, whose
    /// branches those phis decide. Returns the returned operand (none for
    /// void) and the ret, or `None` when the edge does not enter a funnel.
    fn follow_exit(&mut self, from: llvm::Block, to: llvm::Block) -> Option<(Option<Operand>, Value)> {
        // A block that is only a branch is the `return` statement itself
        // (after mem2reg `return X;` leaves nothing else): its own edge out is
        // the one to split.
        let bare_branch = to.instructions().all(|i| i.opcode() == Opcode::LLVMBr);
        if bare_branch {
            return None;
        }
        let mut values: HashMap<Value, Value> = HashMap::default();
        let (mut pred, mut block) = (from, to);
        for _ in 0..8 {
            if !self.is_exit_only(block) {
                return None;
            }
            let resolve = |values: &HashMap<Value, Value>, v: Value| values.get(&v).copied().unwrap_or(v);
            let arriving: Vec<(Value, Value)> = block
                .instructions()
                .filter(|i| i.opcode() == Opcode::LLVMPHI)
                .filter_map(|phi| {
                    let incoming = (0..phi.incoming_count()).map(|i| phi.incoming(i)).find(|(_, b)| *b == pred)?;
                    Some((phi, resolve(&values, incoming.0)))
                })
                .collect();
            values.extend(arriving);
            let t = block.terminator()?;
            let next = match t.opcode() {
                Opcode::LLVMRet => {
                    let value = (t.operand_count() > 0).then(|| resolve(&values, t.operand(0)));
                    return Some((value.map(|v| self.operand(v, 0)), t));
                }
                Opcode::LLVMBr if !t.is_conditional() => t.successor(0),
                Opcode::LLVMBr => {
                    let taken = resolve(&values, t.condition()).const_int()?;
                    t.successor(if taken != 0 { 0 } else { 1 })
                }
                Opcode::LLVMSwitch => {
                    let selector = resolve(&values, t.operand(0)).const_int()?;
                    (1..t.successor_count())
                        .map(|i| t.switch_case(i))
                        .find(|(case, _)| case.const_int() == Some(selector))
                        .map(|(_, target)| target)
                        .unwrap_or_else(|| t.switch_default())
                }
                _ => return None,
            };
            pred = block;
            block = next;
        }
        None
    }

    /// A block of an exit funnel: phis, intrinsic calls (lifetime ends) and a
    /// terminator, nothing else.
    fn is_exit_only(&mut self, block: llvm::Block) -> bool {
        if let Some(&only) = self.exit_only.get(&block) {
            return only;
        }
        let only = block.instructions().all(|i| match i.opcode() {
            Opcode::LLVMPHI | Opcode::LLVMRet | Opcode::LLVMBr | Opcode::LLVMSwitch => true,
            Opcode::LLVMCall => i.called_value().as_function().is_some_and(|f| f.intrinsic_id() != 0),
            _ => false,
        });
        self.exit_only.insert(block, only);
        only
    }

    // ----- calls -----

    fn call(&mut self, inst: Value) -> Option<Event> {
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
                if !chosen.is_empty() {
                    (chosen, None)
                } else if llvm::is_opcode(callee, Opcode::LLVMLoad) {
                    let pointer = callee.operand(0);
                    let layout = self.ex.layout;
                    let field = self.ex.di.field_identity(pointer, &|g| gep_offset_of(g, layout));
                    let slot = self.path(pointer, 0);
                    (Vec::new(), Some(IndirectCallee { slot, field }))
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
    fn table_slot(&mut self, callee: Value) -> Option<(usize, u32)> {
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

    fn lock_event(&mut self, inst: Value, api: usize, loc: Option<LocId>) -> Event {
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
    fn integer_lock(&mut self, api: usize, kind: usize, value: Value) -> PathId {
        let Some(n) = value.const_int() else { return self.opaque() };
        let spec = &self.ex.rules.lock_apis[api];
        let name = spec.lock_names.get(&n).cloned().unwrap_or_else(|| format!("lock {n}"));
        let kind_id = &self.ex.rules.lock_kinds[kind].id;
        let path = self.ex.facts.paths.global(&format!("{kind_id}:{n}"));
        self.ex.facts.paths.set_name_if_unnamed(path, name);
        path
    }

    fn call_result(&mut self, inst: Value) -> Option<ValueId> {
        let ty = inst.ty();
        if !(ty.is_integer() || ty.is_pointer()) {
            return None;
        }
        match self.operand(inst, 0) {
            Operand::Value(id) => Some(id),
            _ => None,
        }
    }

    fn arg(&mut self, v: Value) -> Arg {
        let ty = v.ty();
        if ty.is_pointer() {
            Arg { path: Some(self.named_path(v)), value: Operand::Unknown }
        } else if ty.is_integer() {
            Arg { path: None, value: self.operand(v, 0) }
        } else {
            Arg { path: None, value: Operand::Unknown }
        }
    }

    /// A store of a function's address (a registration), or of a pointer
    /// parameter (which registers whatever function a caller passes).
    fn function_store(&mut self, stored: Value, dest: Value, _inst: Value) {
        if let Some(function) = self.ex.function_of(stored) {
            let layout = self.ex.layout;
            let field = self.ex.di.field_identity(dest, &|g| gep_offset_of(g, layout));
            let dest = self.path(dest, 0);
            self.ex.facts.fn_stores.push(FnPtrStore { function, dest, in_function: Some(self.id), field });
        } else if let Some(param) = strip_casts(stored).argument_index()
            && (stored.ty().is_pointer() || strip_casts(stored).ty().is_pointer())
        {
            let dest = self.path(dest, 0);
            self.ex.facts.param_stores.push(ParamStore { param, dest, in_function: self.id });
        }
    }

    // ----- access paths -----

    /// The access path of a pointer, named in source terms when debug info allows.
    fn named_path(&mut self, v: Value) -> PathId {
        let path = self.path(v, 0);
        if self.ex.facts.paths.name(path).is_none() {
            let layout = self.ex.layout;
            if let Some(name) = self.ex.di.name_pointer(v, &|g| gep_offset_of(g, layout)) {
                self.ex.facts.paths.set_name_if_unnamed(path, name);
            }
        }
        path
    }

    fn opaque(&mut self) -> PathId {
        let n = self.next_opaque;
        self.next_opaque += 1;
        self.ex.facts.paths.root(Root::Opaque(self.id, n))
    }

    fn path(&mut self, v: Value, depth: usize) -> PathId {
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

    fn compute_path(&mut self, v: Value, depth: usize) -> PathId {
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
    fn single_store(&mut self, location: PathId) -> Option<Value> {
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
    fn scan_slots(&mut self) -> HashMap<PathId, (u32, Value)> {
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
    fn integer_path(&mut self, v: Value, depth: usize) -> Option<PathId> {
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

    // ----- tracked values -----

    fn operand(&mut self, v: Value, depth: usize) -> Operand {
        if let Some(c) = v.const_int() {
            return Operand::Const(c);
        }
        if v.is_null_pointer() {
            return Operand::Const(0);
        }
        if v.is_undef() {
            return Operand::Unknown;
        }
        if let Some(&id) = self.value_ids.get(&v) {
            return Operand::Value(id);
        }
        let ty = v.ty();
        let bits = if ty.is_integer() {
            ty.int_width()
        } else if ty.is_pointer() {
            self.ex.facts.pointer_bytes * 8
        } else {
            return Operand::Unknown;
        };
        if !(v.is_instruction() || v.is_argument()) {
            return Operand::Unknown;
        }
        let id = self.values.len() as ValueId;
        self.values.push(ValueInfo { def: ValueDef::Opaque, bits, name: self.ex.di.variable_name(v) });
        self.value_ids.insert(v, id);
        let def = if let Some(n) = v.argument_index() {
            ValueDef::Param(n)
        } else if depth > MAX_DEPTH {
            ValueDef::Opaque
        } else {
            self.define(v, bits, depth)
        };
        self.values[id as usize].def = def;
        if v.is_instruction()
            && let Some(&b) = self.block_ids.get(&v.parent_block())
        {
            self.defines.push((b, id));
        }
        Operand::Value(id)
    }

    fn define(&mut self, v: Value, bits: u32, depth: usize) -> ValueDef {
        let d = depth + 1;
        match v.opcode() {
            Opcode::LLVMICmp => ValueDef::Cmp {
                pred: predicate(v.icmp_predicate()),
                lhs: self.operand(v.operand(0), d),
                rhs: self.operand(v.operand(1), d),
            },
            Opcode::LLVMXor if bits == 1 => match (v.operand(0).const_int(), v.operand(1).const_int()) {
                (_, Some(1)) => ValueDef::Not(self.operand(v.operand(0), d)),
                (Some(1), _) => ValueDef::Not(self.operand(v.operand(1), d)),
                _ => ValueDef::Opaque,
            },
            Opcode::LLVMAnd if bits == 1 => ValueDef::And(self.operand(v.operand(0), d), self.operand(v.operand(1), d)),
            Opcode::LLVMOr if bits == 1 => ValueDef::Or(self.operand(v.operand(0), d), self.operand(v.operand(1), d)),
            Opcode::LLVMAnd | Opcode::LLVMAdd | Opcode::LLVMSub if bits > 1 && bits <= 64 => {
                let (x, k) = match (v.operand(0).const_int(), v.operand(1).const_int()) {
                    (None, Some(k)) => (v.operand(0), k),
                    (Some(k), None) if v.opcode() != Opcode::LLVMSub => (v.operand(1), k),
                    _ => return ValueDef::Opaque,
                };
                let x = self.operand(x, d);
                match v.opcode() {
                    Opcode::LLVMAnd => ValueDef::Mask(x, k),
                    Opcode::LLVMAdd => ValueDef::Offset(x, k),
                    _ => k.checked_neg().map_or(ValueDef::Opaque, |k| ValueDef::Offset(x, k)),
                }
            }
            Opcode::LLVMZExt => ValueDef::ZExt(self.operand(v.operand(0), d)),
            Opcode::LLVMSExt => ValueDef::SExt(self.operand(v.operand(0), d)),
            Opcode::LLVMTrunc => ValueDef::Trunc(self.operand(v.operand(0), d)),
            Opcode::LLVMSelect => ValueDef::Select {
                condition: self.operand(v.operand(0), d),
                then_value: self.operand(v.operand(1), d),
                else_value: self.operand(v.operand(2), d),
            },
            Opcode::LLVMPHI => {
                let block = self.block_ids.get(&v.parent_block()).copied();
                let id = self.value_ids[&v];
                let mut incoming = Vec::new();
                for i in 0..v.incoming_count() {
                    let (value, from) = v.incoming(i);
                    if let Some(&from) = self.block_ids.get(&from) {
                        incoming.push((from, self.operand(value, d)));
                    }
                }
                if let Some(b) = block {
                    self.phis.push((b, Phi { value: id, incoming }));
                }
                ValueDef::Phi
            }
            Opcode::LLVMCall | Opcode::LLVMInvoke => ValueDef::CallResult,
            _ => ValueDef::Opaque,
        }
    }
}
