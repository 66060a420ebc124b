//! A thin, crate-private view of LLVM IR over the C API.
//!
//! Facts extraction walks every instruction of the module, so it works on raw
//! `LLVMValueRef`s: no allocation per value and no conversion that could panic
//! on an unexpected value kind. Every handle here is only valid while the
//! module it came from is alive; the `ir` layer guarantees that by dropping the
//! module only after facts extraction returns owned data.

use std::ffi::CStr;

use llvm_sys::LLVMOpcode;
use llvm_sys::core::*;
use llvm_sys::debuginfo::*;
use llvm_sys::prelude::*;
use llvm_sys::target::*;

pub use llvm_sys::LLVMIntPredicate as IntPredicate;
pub use llvm_sys::LLVMOpcode as Opcode;
pub use llvm_sys::LLVMTypeKind as TypeKind;

/// Reads a length-delimited C string owned by LLVM.
fn text(ptr: *const std::ffi::c_char, len: usize) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: LLVM returns `len` valid bytes at `ptr`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
    String::from_utf8_lossy(bytes).into_owned()
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Value(pub LLVMValueRef);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Block(pub LLVMBasicBlockRef);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Type(pub LLVMTypeRef);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Metadata(pub LLVMMetadataRef);

#[derive(Clone, Copy)]
pub struct Module(pub LLVMModuleRef);

macro_rules! iterate {
    ($first:expr, $next:path, $wrap:path) => {{
        let mut current = $first;
        std::iter::from_fn(move || {
            if current.is_null() {
                return None;
            }
            let item = current;
            // SAFETY: `item` is a live element of its parent list.
            current = unsafe { $next(item) };
            Some($wrap(item))
        })
    }};
}

impl Module {
    pub fn functions(self) -> impl Iterator<Item = Value> {
        iterate!(unsafe { LLVMGetFirstFunction(self.0) }, LLVMGetNextFunction, Value)
    }

    pub fn globals(self) -> impl Iterator<Item = Value> {
        iterate!(unsafe { LLVMGetFirstGlobal(self.0) }, LLVMGetNextGlobal, Value)
    }

    pub fn data_layout(self) -> LLVMTargetDataRef {
        unsafe { LLVMGetModuleDataLayout(self.0) }
    }

    pub fn pointer_bytes(self) -> u32 {
        unsafe { LLVMPointerSize(self.data_layout()) }
    }

    pub fn context(self) -> LLVMContextRef {
        unsafe { LLVMGetModuleContext(self.0) }
    }
}

impl Value {
    pub fn name(self) -> String {
        let mut len = 0;
        let ptr = unsafe { LLVMGetValueName2(self.0, &mut len) };
        text(ptr, len)
    }

    pub fn ty(self) -> Type {
        Type(unsafe { LLVMTypeOf(self.0) })
    }

    // ----- kinds -----
    pub fn as_function(self) -> Option<Value> {
        let v = unsafe { LLVMIsAFunction(self.0) };
        (!v.is_null()).then_some(Value(v))
    }
    pub fn is_global_variable(self) -> bool {
        !unsafe { LLVMIsAGlobalVariable(self.0) }.is_null()
    }
    pub fn is_global_alias(self) -> bool {
        !unsafe { LLVMIsAGlobalAlias(self.0) }.is_null()
    }
    pub fn is_argument(self) -> bool {
        !unsafe { LLVMIsAArgument(self.0) }.is_null()
    }
    pub fn is_instruction(self) -> bool {
        !unsafe { LLVMIsAInstruction(self.0) }.is_null()
    }
    pub fn is_constant_int(self) -> bool {
        !unsafe { LLVMIsAConstantInt(self.0) }.is_null()
    }
    pub fn is_null_pointer(self) -> bool {
        !unsafe { LLVMIsAConstantPointerNull(self.0) }.is_null()
    }
    pub fn is_constant_aggregate(self) -> bool {
        !unsafe { LLVMIsAConstantStruct(self.0) }.is_null() || !unsafe { LLVMIsAConstantArray(self.0) }.is_null()
    }
    pub fn is_constant_expr(self) -> bool {
        !unsafe { LLVMIsAConstantExpr(self.0) }.is_null()
    }
    pub fn is_undef(self) -> bool {
        !unsafe { LLVMIsAUndefValue(self.0) }.is_null() || !unsafe { LLVMIsAPoisonValue(self.0) }.is_null()
    }

    /// Sign-extended value of a constant integer.
    pub fn const_int(self) -> Option<i64> {
        if !self.is_constant_int() {
            return None;
        }
        let bits = self.ty().int_width();
        let v = unsafe { LLVMConstIntGetSExtValue(self.0) };
        Some(if bits == 1 { v & 1 } else { v })
    }

    // ----- functions -----
    pub fn is_declaration(self) -> bool {
        unsafe { LLVMIsDeclaration(self.0) != 0 }
    }
    pub fn param_count(self) -> u32 {
        unsafe { LLVMCountParams(self.0) }
    }
    pub fn params(self) -> impl Iterator<Item = Value> {
        iterate!(unsafe { LLVMGetFirstParam(self.0) }, LLVMGetNextParam, Value)
    }
    pub fn blocks(self) -> impl Iterator<Item = Block> {
        iterate!(unsafe { LLVMGetFirstBasicBlock(self.0) }, LLVMGetNextBasicBlock, Block)
    }
    pub fn subprogram(self) -> Option<Metadata> {
        let md = unsafe { LLVMGetSubprogram(self.0) };
        (!md.is_null()).then_some(Metadata(md))
    }
    pub fn initializer(self) -> Option<Value> {
        let v = unsafe { LLVMGetInitializer(self.0) };
        (!v.is_null()).then_some(Value(v))
    }
    pub fn intrinsic_id(self) -> u32 {
        unsafe { LLVMGetIntrinsicID(self.0) }
    }
    /// Index of an argument within its function.
    pub fn argument_index(self) -> Option<u32> {
        if !self.is_argument() {
            return None;
        }
        let parent = Value(unsafe { LLVMGetParamParent(self.0) });
        parent.params().position(|p| p == self).map(|i| i as u32)
    }

    // ----- instructions -----
    pub fn opcode(self) -> Opcode {
        unsafe { LLVMGetInstructionOpcode(self.0) }
    }
    pub fn const_opcode(self) -> Opcode {
        unsafe { LLVMGetConstOpcode(self.0) }
    }
    pub fn operand_count(self) -> u32 {
        let n = unsafe { LLVMGetNumOperands(self.0) };
        n.max(0) as u32
    }
    pub fn operand(self, i: u32) -> Value {
        Value(unsafe { LLVMGetOperand(self.0, i) })
    }
    /// The constant indices of an `extractvalue` or `insertvalue`.
    pub fn indices(self) -> Vec<u32> {
        let n = unsafe { LLVMGetNumIndices(self.0) } as usize;
        let ptr = unsafe { LLVMGetIndices(self.0) };
        if n == 0 || ptr.is_null() { Vec::new() } else { unsafe { std::slice::from_raw_parts(ptr, n) }.to_vec() }
    }
    /// The instructions (and constants) that use this value.
    pub fn users(self) -> impl Iterator<Item = Value> {
        let mut current = unsafe { LLVMGetFirstUse(self.0) };
        std::iter::from_fn(move || {
            if current.is_null() {
                return None;
            }
            let user = unsafe { LLVMGetUser(current) };
            current = unsafe { LLVMGetNextUse(current) };
            Some(Value(user))
        })
    }
    pub fn parent_block(self) -> Block {
        Block(unsafe { LLVMGetInstructionParent(self.0) })
    }
    pub fn icmp_predicate(self) -> IntPredicate {
        unsafe { LLVMGetICmpPredicate(self.0) }
    }
    pub fn called_value(self) -> Value {
        Value(unsafe { LLVMGetCalledValue(self.0) })
    }
    pub fn arg_count(self) -> u32 {
        unsafe { LLVMGetNumArgOperands(self.0) }
    }
    pub fn is_conditional(self) -> bool {
        unsafe { LLVMIsConditional(self.0) != 0 }
    }
    pub fn condition(self) -> Value {
        Value(unsafe { LLVMGetCondition(self.0) })
    }
    pub fn successor_count(self) -> u32 {
        unsafe { LLVMGetNumSuccessors(self.0) }
    }
    pub fn successor(self, i: u32) -> Block {
        Block(unsafe { LLVMGetSuccessor(self.0, i) })
    }
    pub fn switch_default(self) -> Block {
        Block(unsafe { LLVMGetSwitchDefaultDest(self.0) })
    }
    /// Case `i` (1-based, as LLVM numbers successors) of a switch.
    pub fn switch_case(self, i: u32) -> (Value, Block) {
        let value = Value(unsafe { LLVMGetSwitchCaseValue(self.0, i) });
        (value, self.successor(i))
    }
    pub fn incoming_count(self) -> u32 {
        unsafe { LLVMCountIncoming(self.0) }
    }
    pub fn incoming(self, i: u32) -> (Value, Block) {
        unsafe { (Value(LLVMGetIncomingValue(self.0, i)), Block(LLVMGetIncomingBlock(self.0, i))) }
    }
    pub fn gep_source_type(self) -> Type {
        Type(unsafe { LLVMGetGEPSourceElementType(self.0) })
    }
    pub fn atomic_rmw_is_xchg(self) -> bool {
        unsafe { LLVMGetAtomicRMWBinOp(self.0) == llvm_sys::LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpXchg }
    }
    pub fn normal_dest(self) -> Block {
        Block(unsafe { LLVMGetNormalDest(self.0) })
    }
    pub fn unwind_dest(self) -> Option<Block> {
        let b = unsafe { LLVMGetUnwindDest(self.0) };
        (!b.is_null()).then_some(Block(b))
    }

    /// The instruction's own `!dbg` location.
    pub fn debug_loc(self) -> Option<Metadata> {
        let md = unsafe { LLVMInstructionGetDebugLoc(self.0) };
        (!md.is_null()).then_some(Metadata(md))
    }

    pub fn set_debug_loc(self, loc: Metadata) {
        unsafe { LLVMInstructionSetDebugLoc(self.0, loc.0) }
    }

    /// Debug variable records (`#dbg_value` / `#dbg_declare`) attached before
    /// this instruction: (described value, variable, whether the value is the
    /// variable's address rather than its value).
    pub fn debug_variable_records(self) -> Vec<(Value, Metadata, bool)> {
        let mut out = Vec::new();
        let mut record = unsafe { llvm_sys::core::LLVMGetFirstDbgRecord(self.0) };
        while !record.is_null() {
            let kind = unsafe { llvm_sys::core::LLVMDbgRecordGetKind(record) };
            if kind != llvm_sys::LLVMDbgRecordKind::LLVMDbgRecordLabel {
                let value = unsafe { llvm_sys::core::LLVMDbgVariableRecordGetValue(record, 0) };
                let variable = unsafe { llvm_sys::core::LLVMDbgVariableRecordGetVariable(record) };
                if !value.is_null() && !variable.is_null() {
                    let is_address = kind == llvm_sys::LLVMDbgRecordKind::LLVMDbgRecordDeclare;
                    out.push((Value(value), Metadata(variable), is_address));
                }
            }
            record = unsafe { llvm_sys::core::LLVMGetNextDbgRecord(record) };
        }
        out
    }
}

impl Block {
    pub fn instructions(self) -> impl Iterator<Item = Value> {
        iterate!(unsafe { LLVMGetFirstInstruction(self.0) }, LLVMGetNextInstruction, Value)
    }
    pub fn terminator(self) -> Option<Value> {
        let v = unsafe { LLVMGetBasicBlockTerminator(self.0) };
        (!v.is_null()).then_some(Value(v))
    }
}

impl Type {
    pub fn kind(self) -> TypeKind {
        unsafe { LLVMGetTypeKind(self.0) }
    }
    pub fn int_width(self) -> u32 {
        if self.kind() == TypeKind::LLVMIntegerTypeKind { unsafe { LLVMGetIntTypeWidth(self.0) } } else { 0 }
    }
    pub fn is_pointer(self) -> bool {
        self.kind() == TypeKind::LLVMPointerTypeKind
    }
    pub fn is_integer(self) -> bool {
        self.kind() == TypeKind::LLVMIntegerTypeKind
    }
    pub fn struct_name(self) -> Option<String> {
        if self.kind() != TypeKind::LLVMStructTypeKind {
            return None;
        }
        let ptr = unsafe { LLVMGetStructName(self.0) };
        if ptr.is_null() {
            return None;
        }
        Some(unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned())
    }
    pub fn struct_field(self, i: u32) -> Type {
        Type(unsafe { LLVMStructGetTypeAtIndex(self.0, i) })
    }
    pub fn struct_field_count(self) -> u32 {
        unsafe { LLVMCountStructElementTypes(self.0) }
    }
    pub fn element(self) -> Type {
        Type(unsafe { LLVMGetElementType(self.0) })
    }
    pub fn alloc_size(self, layout: LLVMTargetDataRef) -> u64 {
        unsafe { LLVMABISizeOfType(layout, self.0) }
    }
    pub fn field_offset(self, layout: LLVMTargetDataRef, i: u32) -> u64 {
        unsafe { LLVMOffsetOfElement(layout, self.0, i) }
    }
    pub fn is_sized(self) -> bool {
        unsafe { LLVMTypeIsSized(self.0) != 0 }
    }
}

/// Debug-info metadata. DI node operands are read through the generic MDNode
/// interface; the operand positions are LLVM 22's (see `DebugInfoMetadata.h`).
impl Metadata {
    pub fn kind(self) -> LLVMMetadataKind {
        unsafe { LLVMGetMetadataKind(self.0) }
    }
    pub fn location_line(self) -> u32 {
        unsafe { LLVMDILocationGetLine(self.0) }
    }
    pub fn location_column(self) -> u32 {
        unsafe { LLVMDILocationGetColumn(self.0) }
    }
    pub fn location_scope(self) -> Option<Metadata> {
        let md = unsafe { LLVMDILocationGetScope(self.0) };
        (!md.is_null()).then_some(Metadata(md))
    }
    pub fn location_inlined_at(self) -> Option<Metadata> {
        let md = unsafe { LLVMDILocationGetInlinedAt(self.0) };
        (!md.is_null()).then_some(Metadata(md))
    }
    /// (filename, directory) of a scope.
    pub fn scope_file(self) -> Option<(String, String)> {
        let file = unsafe { LLVMDIScopeGetFile(self.0) };
        if file.is_null() {
            return None;
        }
        let mut len = 0u32;
        let name = unsafe { LLVMDIFileGetFilename(file, &mut len) };
        let name = text(name, len as usize);
        let mut dlen = 0u32;
        let dir = unsafe { LLVMDIFileGetDirectory(file, &mut dlen) };
        Some((name, text(dir, dlen as usize)))
    }
    pub fn subprogram_line(self) -> u32 {
        unsafe { LLVMDISubprogramGetLine(self.0) }
    }
    pub fn tag(self) -> u16 {
        unsafe { LLVMGetDINodeTag(self.0) }
    }
    pub fn type_name(self) -> String {
        let mut len = 0usize;
        let ptr = unsafe { LLVMDITypeGetName(self.0, &mut len) };
        text(ptr, len)
    }
    pub fn type_offset_bits(self) -> u64 {
        unsafe { LLVMDITypeGetOffsetInBits(self.0) }
    }
    pub fn type_size_bits(self) -> u64 {
        unsafe { LLVMDITypeGetSizeInBits(self.0) }
    }

    /// Operand `i` of a metadata node (null when absent).
    pub fn operand(self, context: LLVMContextRef, i: u32) -> Option<Metadata> {
        let count = self.operand_count(context);
        if i >= count {
            return None;
        }
        let value = unsafe { LLVMMetadataAsValue(context, self.0) };
        // DI nodes have a dozen operands at most: no heap for the common case.
        let mut small = [std::ptr::null_mut(); 32];
        let mut large = Vec::new();
        let operands: &mut [LLVMValueRef] = if count as usize <= small.len() {
            &mut small[..count as usize]
        } else {
            large.resize(count as usize, std::ptr::null_mut());
            &mut large
        };
        unsafe { LLVMGetMDNodeOperands(value, operands.as_mut_ptr()) };
        let op = operands[i as usize];
        if op.is_null() {
            return None;
        }
        let md = unsafe { LLVMValueAsMetadata(op) };
        (!md.is_null()).then_some(Metadata(md))
    }

    pub fn operand_count(self, context: LLVMContextRef) -> u32 {
        let value = unsafe { LLVMMetadataAsValue(context, self.0) };
        if unsafe { LLVMIsAMDNode(value) }.is_null() {
            return 0;
        }
        unsafe { LLVMGetMDNodeNumOperands(value) }
    }

    /// The string of an MDString operand.
    pub fn string_operand(self, context: LLVMContextRef, i: u32) -> Option<String> {
        let md = self.operand(context, i)?;
        if !matches!(md.kind(), LLVMMetadataKind::LLVMMDStringMetadataKind) {
            return None;
        }
        let value = unsafe { LLVMMetadataAsValue(context, md.0) };
        let mut len = 0u32;
        let ptr = unsafe { LLVMGetMDString(value, &mut len) };
        Some(text(ptr, len as usize))
    }
}

pub fn is_opcode(v: Value, op: LLVMOpcode) -> bool {
    v.is_instruction() && v.opcode() == op
}
