//! Debug info: source locations of instructions and source-level names of
//! pointers (`&ext->ReadLock`, `g_QueueLock`), read from DILocations, debug
//! variable records and DI struct types.

use llvm_sys::debuginfo::LLVMMetadataKind as Kind;
use llvm_sys::prelude::LLVMContextRef;
use rustc_hash::FxHashMap as HashMap;

/// A location before interning: (file id, line, column).
pub(super) type LocKey = (u32, u32, u32);
use crate::ir::llvm::{Metadata, Module, Opcode, Value};

const DW_TAG_ARRAY_TYPE: u16 = 0x01;
const DW_TAG_MEMBER: u16 = 0x0d;
const DW_TAG_POINTER_TYPE: u16 = 0x0f;
const DW_TAG_REFERENCE_TYPE: u16 = 0x10;
const DW_TAG_STRUCTURE_TYPE: u16 = 0x13;
const DW_TAG_TYPEDEF: u16 = 0x16;
const DW_TAG_UNION_TYPE: u16 = 0x17;
const DW_TAG_CONST_TYPE: u16 = 0x26;
const DW_TAG_VOLATILE_TYPE: u16 = 0x35;
const DW_TAG_RESTRICT_TYPE: u16 = 0x37;
const DW_TAG_ATOMIC_TYPE: u16 = 0x47;

// Operand positions in LLVM 22's DI nodes (DebugInfoMetadata.h).
const SCOPE_OF_LEXICAL_BLOCK: u32 = 1;
const NAME_OF_SUBPROGRAM: u32 = 2;
const SCOPE_OF_VARIABLE: u32 = 0;
const NAME_OF_VARIABLE: u32 = 1;
const TYPE_OF_VARIABLE: u32 = 3;
const BASE_TYPE: u32 = 5;
const ELEMENTS: u32 = 6;
const MAX_DEPTH: usize = 32;

/// A source variable bound to an SSA value by a debug record.
#[derive(Clone)]
struct Variable {
    name: String,
    ty: Option<Metadata>,
    /// `#dbg_declare`: the value is the variable's address, not its value.
    is_address: bool,
}

#[derive(Clone)]
struct Member {
    name: String,
    offset_bits: u64,
    size_bits: u64,
    ty: Option<Metadata>,
}

/// A pointer under construction: a base expression plus a constant byte
/// offset not yet resolved into member names.
#[derive(Clone)]
pub(super) struct Named {
    /// C expression for the base pointer (`ext`, `DeviceObject->DeviceExtension`).
    text: String,
    /// When the base is the address of a named object, that object (`g_Lock`).
    object: Option<String>,
    /// DI type of what the base points to.
    pointee: Option<Metadata>,
    offset: i64,
    variable_index: bool,
}

pub(super) struct DebugInfo {
    context: LLVMContextRef,
    is_api: Box<dyn Fn(&str) -> bool>,
    scope_subprogram: HashMap<Metadata, Option<String>>,
    scope_files: HashMap<Metadata, Option<u32>>,
    files: Vec<(String, String)>,
    file_ids: HashMap<(String, String), u32>,
    variables: HashMap<Value, Variable>,
    global_types: HashMap<Value, Option<Metadata>>,
    structs_by_name: HashMap<String, Metadata>,
    members: HashMap<Metadata, Vec<Member>>,
    /// The module is rustc's: names are written the Rust way (`&ext.lock`,
    /// Rust auto-dereferences), not C's (`&ext->lock`).
    rust: bool,
}

impl DebugInfo {
    /// `is_api` tells which inlined subprograms are API wrappers (WDF's
    /// force-inlined WdfSpinLockAcquire): a location inside one is reported
    /// at the user's call of it.
    pub(super) fn new(module: Module, is_api: Box<dyn Fn(&str) -> bool>) -> DebugInfo {
        let mut di = DebugInfo {
            context: module.context(),
            is_api,
            scope_subprogram: HashMap::default(),
            scope_files: HashMap::default(),
            files: Vec::new(),
            file_ids: HashMap::default(),
            variables: HashMap::default(),
            global_types: HashMap::default(),
            structs_by_name: HashMap::default(),
            members: HashMap::default(),
            rust: crate::ir::produced_by_rustc(module.0),
        };
        for global in module.globals() {
            let ty = global_variable_type(global, di.context);
            if let Some(t) = ty {
                di.index_type(t, 0);
            }
            di.global_types.insert(global, ty);
        }
        di
    }

    /// Reads the debug variable records of one function (call before naming
    /// its values).
    pub(super) fn scan_function(&mut self, function: Value) {
        self.variables.clear();
        let own = function.subprogram();
        for block in function.blocks() {
            for inst in block.instructions() {
                for (value, variable, is_address) in inst.debug_variable_records() {
                    if !matches!(variable.kind(), Kind::LLVMDILocalVariableMetadataKind) {
                        continue;
                    }
                    // Variables of inlined callees (WdfSpinLockAcquire's `SpinLock`)
                    // are not what the source of this function calls the value.
                    let scope = variable.operand(self.context, SCOPE_OF_VARIABLE);
                    if own.is_some() && scope.and_then(|s| self.subprogram_of(s)) != own {
                        continue;
                    }
                    let Some(name) = variable.string_operand(self.context, NAME_OF_VARIABLE) else { continue };
                    let ty = variable.operand(self.context, TYPE_OF_VARIABLE);
                    if let Some(t) = ty {
                        self.index_type(t, 0);
                    }
                    // One value often holds several variables (`PVOID Context` and
                    // `PDEVICE_EXTENSION ext = Context`): keep the one whose type
                    // says what it points to.
                    let candidate = Variable { name, ty, is_address };
                    let better = match self.variables.get(&value) {
                        None => true,
                        Some(old) => !self.points_to_struct(old) && self.points_to_struct(&candidate),
                    };
                    if better {
                        self.variables.insert(value, candidate);
                    }
                }
            }
        }
    }

    /// The DISubprogram a local scope belongs to.
    fn subprogram_of(&self, scope: Metadata) -> Option<Metadata> {
        let mut current = scope;
        for _ in 0..MAX_DEPTH {
            match current.kind() {
                Kind::LLVMDISubprogramMetadataKind => return Some(current),
                Kind::LLVMDILexicalBlockMetadataKind | Kind::LLVMDILexicalBlockFileMetadataKind => {
                    current = current.operand(self.context, SCOPE_OF_LEXICAL_BLOCK)?;
                }
                _ => return None,
            }
        }
        None
    }

    fn points_to_struct(&self, variable: &Variable) -> bool {
        let target =
            if variable.is_address { variable.ty.and_then(|t| self.canonical(t)) } else { self.pointee(variable.ty) };
        target.is_some_and(|t| self.definition(t).is_some())
    }

    /// The typedef names the declared type of a function pointer goes
    /// through, outermost first (`PDRIVER_CANCEL`, then `DRIVER_CANCEL`
    /// behind the pointer): the variable the value holds, or at -O0 the
    /// variable whose stack slot it is loaded from.
    pub(super) fn pointer_typedefs(&self, value: Value) -> Vec<String> {
        let declared = match self.variables.get(&value) {
            Some(v) if !v.is_address => v.ty,
            _ if value.is_instruction() && value.opcode() == Opcode::LLVMLoad => {
                self.variables.get(&value.operand(0)).filter(|v| v.is_address).and_then(|v| v.ty)
            }
            _ => None,
        };
        let mut names = Vec::new();
        let mut current = declared;
        for _ in 0..MAX_DEPTH {
            let Some(t) = current.filter(|t| matches!(t.kind(), Kind::LLVMDIDerivedTypeMetadataKind)) else { break };
            match t.tag() {
                DW_TAG_TYPEDEF => names.push(t.type_name()),
                DW_TAG_POINTER_TYPE | DW_TAG_CONST_TYPE | DW_TAG_VOLATILE_TYPE => {}
                _ => break,
            }
            current = t.operand(self.context, BASE_TYPE);
        }
        names.retain(|n| !n.is_empty());
        names
    }

    /// The source name of the variable an SSA value holds, if any.
    pub(super) fn variable_name(&self, value: Value) -> Option<String> {
        self.variables.get(&value).filter(|v| !v.is_address).map(|v| v.name.clone())
    }

    // ----- locations -----

    /// An instruction's location as frames, innermost first: each frame's
    /// (file id, line, column) (see `file`) and, when the frame was inlined,
    /// the name of the inlined function; the next frame is its call site.
    /// Frames inside API wrappers are left out: such a location is the
    /// user's call of the wrapper.
    pub(super) fn frames(&mut self, inst: Value) -> Vec<(LocKey, Option<String>)> {
        let mut frames = Vec::new();
        let Some(mut loc) = inst.debug_loc() else { return frames };
        if !matches!(loc.kind(), Kind::LLVMDILocationMetadataKind) {
            return frames;
        }
        let mut skipping_wrappers = true;
        for _ in 0..MAX_DEPTH {
            let Some(scope) = loc.location_scope() else { break };
            let outer = loc.location_inlined_at();
            let name = if outer.is_some() { self.subprogram_name(scope) } else { None };
            if let Some(o) = outer
                && skipping_wrappers
                && name.as_deref().is_some_and(|n| (self.is_api)(n))
            {
                loc = o;
                continue;
            }
            skipping_wrappers = false;
            let line = loc.location_line();
            let Some(file) = self.file_of(scope).filter(|_| line != 0) else {
                // A frame without a line: nothing to point at from here out.
                frames.clear();
                break;
            };
            frames.push(((file, line, loc.location_column()), name));
            match outer {
                Some(o) => loc = o,
                None => break,
            }
        }
        frames
    }

    /// (file name, compilation directory) of a file id.
    pub(super) fn file(&self, id: u32) -> &(String, String) {
        &self.files[id as usize]
    }

    pub(super) fn function_location(&mut self, function: Value) -> Option<LocKey> {
        let sp = function.subprogram()?;
        let file = self.file_of(sp)?;
        Some((file, sp.subprogram_line(), 0))
    }

    fn file_of(&mut self, scope: Metadata) -> Option<u32> {
        if let Some(cached) = self.scope_files.get(&scope) {
            return *cached;
        }
        let file = scope.scope_file().map(|f| match self.file_ids.get(&f) {
            Some(&id) => id,
            None => {
                let id = self.files.len() as u32;
                self.files.push(f.clone());
                self.file_ids.insert(f, id);
                id
            }
        });
        self.scope_files.insert(scope, file);
        file
    }

    fn subprogram_name(&mut self, scope: Metadata) -> Option<String> {
        if let Some(cached) = self.scope_subprogram.get(&scope) {
            return cached.clone();
        }
        let mut current = scope;
        let mut name = None;
        for _ in 0..MAX_DEPTH {
            match current.kind() {
                Kind::LLVMDISubprogramMetadataKind => {
                    name = current.string_operand(self.context, NAME_OF_SUBPROGRAM);
                    break;
                }
                Kind::LLVMDILexicalBlockMetadataKind | Kind::LLVMDILexicalBlockFileMetadataKind => {
                    match current.operand(self.context, SCOPE_OF_LEXICAL_BLOCK) {
                        Some(parent) => current = parent,
                        None => break,
                    }
                }
                _ => break,
            }
        }
        self.scope_subprogram.insert(scope, name.clone());
        name
    }

    // ----- types -----

    /// Strips typedefs and qualifiers.
    fn canonical(&self, ty: Metadata) -> Option<Metadata> {
        let mut current = ty;
        for _ in 0..MAX_DEPTH {
            if !matches!(current.kind(), Kind::LLVMDIDerivedTypeMetadataKind) {
                return Some(current);
            }
            match current.tag() {
                DW_TAG_TYPEDEF | DW_TAG_CONST_TYPE | DW_TAG_VOLATILE_TYPE | DW_TAG_RESTRICT_TYPE
                | DW_TAG_ATOMIC_TYPE | DW_TAG_MEMBER => current = current.operand(self.context, BASE_TYPE)?,
                _ => return Some(current),
            }
        }
        None
    }

    /// What a pointer type points to.
    fn pointee(&self, ty: Option<Metadata>) -> Option<Metadata> {
        let t = self.canonical(ty?)?;
        if matches!(t.kind(), Kind::LLVMDIDerivedTypeMetadataKind)
            && matches!(t.tag(), DW_TAG_POINTER_TYPE | DW_TAG_REFERENCE_TYPE)
        {
            return t.operand(self.context, BASE_TYPE).and_then(|b| self.canonical(b));
        }
        None
    }

    /// Records struct definitions reachable from `ty`, so a struct named only
    /// by an LLVM type (-O0 `%struct._DEVICE_EXTENSION`) can be found.
    /// `depth` counts pointers followed (a few: the types a driver reaches),
    /// not nesting (anonymous unions inside `_IRP` lie deep).
    fn index_type(&mut self, ty: Metadata, depth: usize) {
        if depth > 4 {
            return;
        }
        let Some(t) = self.canonical(ty) else { return };
        match t.kind() {
            Kind::LLVMDIDerivedTypeMetadataKind => {
                if let Some(base) = t.operand(self.context, BASE_TYPE) {
                    self.index_type(base, depth + 1);
                }
            }
            Kind::LLVMDICompositeTypeMetadataKind => {
                if self.members.contains_key(&t) {
                    return;
                }
                let members = self.read_members(t);
                let name = t.type_name();
                let has_members = !members.is_empty();
                let member_types: Vec<Metadata> = members.iter().filter_map(|m| m.ty).collect();
                self.members.insert(t, members);
                if has_members && !name.is_empty() {
                    self.structs_by_name.entry(name).or_insert(t);
                }
                if t.tag() == DW_TAG_ARRAY_TYPE
                    && let Some(base) = t.operand(self.context, BASE_TYPE)
                {
                    self.index_type(base, depth);
                }
                for m in member_types {
                    self.index_type(m, depth);
                }
            }
            _ => {}
        }
    }

    fn read_members(&self, composite: Metadata) -> Vec<Member> {
        if !matches!(composite.tag(), DW_TAG_STRUCTURE_TYPE | DW_TAG_UNION_TYPE) {
            return Vec::new();
        }
        let Some(elements) = composite.operand(self.context, ELEMENTS) else {
            return Vec::new();
        };
        let count = elements.operand_count(self.context);
        (0..count)
            .filter_map(|i| elements.operand(self.context, i))
            .filter(|m| matches!(m.kind(), Kind::LLVMDIDerivedTypeMetadataKind) && m.tag() == DW_TAG_MEMBER)
            .map(|m| Member {
                name: m.type_name(),
                offset_bits: m.type_offset_bits(),
                size_bits: m.type_size_bits(),
                ty: m.operand(self.context, BASE_TYPE),
            })
            .collect()
    }

    /// The definition of a struct type (a forward declaration's is elsewhere).
    fn definition(&self, ty: Metadata) -> Option<(Metadata, &Vec<Member>)> {
        if let Some(members) = self.members.get(&ty).filter(|m| !m.is_empty()) {
            return Some((ty, members));
        }
        let def = *self.structs_by_name.get(&ty.type_name())?;
        Some((def, self.members.get(&def)?))
    }

    /// Member names for `offset` bytes into an object of type `ty`,
    /// descending into nested structs and arrays down to a scalar member.
    /// Returns the access suffix (`Queue.Lock`, `Locks[2]`) and the type
    /// reached.
    fn member_chain(&self, ty: Option<Metadata>, offset: i64) -> Option<(String, Option<Metadata>)> {
        let mut chain = String::new();
        let mut current = ty.and_then(|t| self.canonical(t));
        let mut remaining = u64::try_from(offset).ok()? * 8;
        for _ in 0..MAX_DEPTH {
            let Some(t) = current else { break };
            if !matches!(t.kind(), Kind::LLVMDICompositeTypeMetadataKind) {
                break;
            }
            if t.tag() == DW_TAG_ARRAY_TYPE {
                let elem = t.operand(self.context, BASE_TYPE).and_then(|b| self.canonical(b));
                let elem_bits = elem.map(|e| e.type_size_bits()).unwrap_or(0);
                if elem_bits == 0 {
                    break;
                }
                chain.push_str(&format!("[{}]", remaining / elem_bits));
                remaining %= elem_bits;
                current = elem;
                continue;
            }
            let Some((_, members)) = self.definition(t) else {
                break;
            };
            let member = members.iter().find(|m| {
                m.offset_bits <= remaining && (m.size_bits == 0 || remaining < m.offset_bits + m.size_bits)
            })?;
            if member.name.is_empty() {
                // An anonymous struct or union member: its members are named directly.
            } else if chain.is_empty() {
                chain.push_str(&member.name);
            } else {
                chain.push('.');
                chain.push_str(&member.name);
            }
            remaining -= member.offset_bits;
            current = member.ty.and_then(|m| self.canonical(m));
        }
        if remaining != 0 || chain.is_empty() {
            return None;
        }
        Some((chain, current))
    }

    // ----- names of pointers -----

    /// The field a pointer addresses, as (struct name, byte offset in it):
    /// `&DriverObject->MajorFunction[3]` is ("_DRIVER_OBJECT", 136). An
    /// offset outside the struct is taken modulo its size: pointer
    /// arithmetic over an array of it (`IoGetNextIrpStackLocation(Irp)` is
    /// the current stack location minus one).
    pub(super) fn field_identity(
        &mut self,
        value: Value,
        layout: &dyn Fn(Value) -> Option<GepOffset>,
    ) -> Option<(String, i64)> {
        let named = self.named(value, layout, 0)?;
        let ty = self.canonical(named.pointee?)?;
        let (def, _) = self.definition(ty)?;
        let name = def.type_name();
        let size = (def.type_size_bits() / 8) as i64;
        if name.is_empty() || named.variable_index {
            return None;
        }
        let offset = if size > 0 { named.offset.rem_euclid(size) } else { named.offset };
        Some((name, offset))
    }

    /// The structs nested inside the one `field_identity` names that also
    /// contain the field, outermost first, each with the field's offset in
    /// it: `&ext->WorkItem.WorkerRoutine` is in _WORK_QUEUE_ITEM at 16.
    pub(super) fn nested_fields(&self, (name, offset): &(String, i64)) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        let Some(&outer) = self.structs_by_name.get(name) else { return out };
        let mut current = Some(outer);
        let mut remaining = u64::try_from(*offset).unwrap_or(u64::MAX).saturating_mul(8);
        for _ in 0..MAX_DEPTH {
            let Some((_, members)) = current.and_then(|t| self.definition(t)) else { break };
            let Some(member) = members
                .iter()
                .find(|m| m.offset_bits <= remaining && (m.size_bits == 0 || remaining < m.offset_bits + m.size_bits))
            else {
                break;
            };
            remaining -= member.offset_bits;
            current = member.ty.and_then(|m| self.canonical(m));
            match current {
                Some(t) if t.tag() == DW_TAG_STRUCTURE_TYPE => {
                    let inner_name = t.type_name();
                    if !inner_name.is_empty() {
                        out.push((inner_name, (remaining / 8) as i64));
                    }
                }
                // An anonymous union's members lie at its own offset.
                Some(t) if t.tag() == DW_TAG_UNION_TYPE => {}
                _ => break,
            }
        }
        out
    }

    /// The field at `offset` in a global of struct type.
    pub(super) fn global_field(&self, global: Value, offset: i64) -> Option<(String, i64)> {
        let ty = self.canonical((*self.global_types.get(&global)?)?)?;
        let (def, _) = self.definition(ty)?;
        let name = def.type_name();
        (!name.is_empty()).then_some((name, offset))
    }

    /// A C-like name for pointer `value`, for reports.
    pub(super) fn name_pointer(&mut self, value: Value, layout: &dyn Fn(Value) -> Option<GepOffset>) -> Option<String> {
        let named = self.named(value, layout, 0)?;
        let name = self.render(&named)?;
        Some(if self.rust { name.replace("->", ".") } else { name })
    }

    fn named(&mut self, value: Value, layout: &dyn Fn(Value) -> Option<GepOffset>, depth: usize) -> Option<Named> {
        if depth > MAX_DEPTH {
            return None;
        }
        if let Some(var) = self.variables.get(&value).cloned() {
            return Some(if var.is_address {
                Named {
                    text: format!("&{}", var.name),
                    object: Some(var.name),
                    pointee: var.ty,
                    offset: 0,
                    variable_index: false,
                }
            } else {
                Named { text: var.name, object: None, pointee: self.pointee(var.ty), offset: 0, variable_index: false }
            });
        }
        if value.is_global_variable() {
            let name = value.name();
            let pointee = self.global_types.get(&value).copied().flatten().and_then(|t| self.canonical(t));
            return Some(Named {
                text: format!("&{name}"),
                object: Some(name),
                pointee,
                offset: 0,
                variable_index: false,
            });
        }
        let opcode = if value.is_instruction() {
            value.opcode()
        } else if value.is_constant_expr() {
            value.const_opcode()
        } else {
            return None;
        };
        match opcode {
            Opcode::LLVMBitCast | Opcode::LLVMAddrSpaceCast => self.named(value.operand(0), layout, depth + 1),
            Opcode::LLVMGetElementPtr => {
                let mut base = self.named(value.operand(0), layout, depth + 1)?;
                let gep = layout(value)?;
                if (base.pointee.is_none() || base.pointee.is_some_and(|p| self.definition(p).is_none()))
                    && let Some(def) = gep.source_struct.as_deref().and_then(|s| self.structs_by_name.get(s))
                {
                    base.pointee = Some(*def);
                    base.offset = 0;
                }
                base.offset += gep.constant;
                base.variable_index |= gep.variable;
                Some(base)
            }
            Opcode::LLVMLoad => {
                let from = self.named(value.operand(0), layout, depth + 1)?;
                let (object, ty) = self.object(&from)?;
                Some(Named { text: object, object: None, pointee: self.pointee(ty), offset: 0, variable_index: false })
            }
            _ => None,
        }
    }

    /// The object a `Named` pointer points to, as a C expression, and its type.
    /// A value is loaded from it, so it is a scalar: at offset 0 of a struct
    /// that is the first scalar member (`ctx->Lock`, not `*ctx`).
    fn object(&self, named: &Named) -> Option<(String, Option<Metadata>)> {
        if named.offset == 0 && !named.variable_index && !self.is_struct(named.pointee) {
            return Some(match &named.object {
                Some(object) => (object.clone(), named.pointee),
                None => (format!("*{}", parenthesize(&named.text)), named.pointee),
            });
        }
        let (chain, ty) = self.member_chain(named.pointee, named.offset)?;
        let chain = if named.variable_index { replace_last_index(&chain) } else { chain };
        let object = match &named.object {
            Some(object) => format!("{object}.{chain}"),
            None => format!("{}->{chain}", parenthesize(&named.text)),
        };
        Some((object, ty))
    }

    fn render(&self, named: &Named) -> Option<String> {
        if named.offset == 0 && !named.variable_index {
            // Descend to the first scalar member: `&ext->Queue.Lock` and `&ext->Queue`
            // are the same address, and a lock is a scalar.
            if let Some((chain, _)) = self.member_chain(named.pointee, 0).filter(|_| named.pointee.is_some())
                && self.is_struct(named.pointee)
            {
                let object = match &named.object {
                    Some(object) => format!("{object}.{chain}"),
                    None => format!("{}->{chain}", parenthesize(&named.text)),
                };
                return Some(format!("&{object}"));
            }
            return Some(named.object.clone().unwrap_or_else(|| named.text.clone()));
        }
        match self.object(named) {
            Some((object, _)) => Some(format!("&{object}")),
            None => Some(format!("({} + {})", named.text, named.offset)),
        }
    }

    fn is_struct(&self, ty: Option<Metadata>) -> bool {
        ty.and_then(|t| self.canonical(t))
            .is_some_and(|t| matches!(t.kind(), Kind::LLVMDICompositeTypeMetadataKind) && t.tag() != DW_TAG_ARRAY_TYPE)
    }
}

/// What a GEP adds to its base pointer.
pub(super) struct GepOffset {
    pub constant: i64,
    pub variable: bool,
    /// The LLVM struct type it indexes, without the `struct.` prefix.
    pub source_struct: Option<String>,
}

fn parenthesize(text: &str) -> String {
    if text.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '>' || c == '.' || c == '[' || c == ']')
    {
        text.to_string()
    } else {
        format!("({text})")
    }
}

/// `Locks[0]` reached with a variable index is `Locks[i]`.
fn replace_last_index(chain: &str) -> String {
    match chain.rfind('[') {
        Some(open) if chain.ends_with(']') => format!("{}[i]", &chain[..open]),
        _ => format!("{chain}[i]"),
    }
}

/// The DI type of a global variable, from its `!dbg` attachment.
fn global_variable_type(global: Value, context: LLVMContextRef) -> Option<Metadata> {
    use llvm_sys::core::*;
    let mut count = 0usize;
    let entries = unsafe { LLVMGlobalCopyAllMetadata(global.0, &mut count) };
    if entries.is_null() {
        return None;
    }
    let mut result = None;
    for i in 0..count as u32 {
        let md = Metadata(unsafe { LLVMValueMetadataEntriesGetMetadata(entries, i) });
        if matches!(md.kind(), Kind::LLVMDIGlobalVariableExpressionMetadataKind)
            && let Some(var) = md.operand(context, 0)
            && matches!(var.kind(), Kind::LLVMDIGlobalVariableMetadataKind)
        {
            result = var.operand(context, TYPE_OF_VARIABLE);
            break;
        }
    }
    unsafe { LLVMDisposeValueMetadataEntries(entries) };
    result
}
