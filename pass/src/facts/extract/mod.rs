//! IR -> facts: one walk over every defined function.
//!
//! `mod.rs` walks the module (functions, globals, locations) and each
//! function's control flow; `calls.rs` turns calls into events, `access.rs`
//! names the memory they touch as access paths, and `operands.rs` tracks the
//! integers branches and lock APIs read.

mod access;
mod calls;
mod operands;

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
            let base = self.facts.paths.global(&global.name());
            let mut referenced = Vec::new();
            global_pointers(init, &mut referenced, 0);
            for target in referenced {
                let target = self.facts.paths.global(&target.name());
                if target != base {
                    self.facts.global_refs.push((base, target));
                }
            }
            for (offset, function) in slots {
                let dest = self.facts.paths.append(base, Step::Offset(offset));
                let field = self.di.global_field(global, offset);
                let nested = field.as_ref().map(|f| self.di.nested_fields(f)).unwrap_or_default();
                self.facts.fn_stores.push(FnPtrStore { function, dest, in_function: None, field, nested });
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
}

/// Global variables a constant points to (directly or through a constant
/// GEP or cast), inside aggregates a few levels deep.
fn global_pointers(constant: Value, out: &mut Vec<Value>, depth: usize) {
    if depth > 8 || out.len() > 64 {
        return;
    }
    if constant.is_global_variable() {
        out.push(constant);
        return;
    }
    let is_address = constant.is_constant_expr()
        && matches!(
            constant.const_opcode(),
            Opcode::LLVMGetElementPtr | Opcode::LLVMBitCast | Opcode::LLVMAddrSpaceCast
        );
    if is_address {
        global_pointers(constant.operand(0), out, depth + 1);
    } else if constant.is_constant_aggregate() {
        for i in 0..constant.operand_count() {
            global_pointers(constant.operand(i), out, depth + 1);
        }
    }
}
