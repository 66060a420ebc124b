//! The IR layer: reads bitcode and textual IR, links several modules into one,
//! and prepares a module for analysis (optnone stripped, allocas promoted to
//! SSA by sroa/mem2reg). Everything above this layer works on owned facts,
//! never on LLVM objects.

pub(crate) mod llvm;
pub mod names;

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::path::Path;

use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::Module;
use llvm_sys::core::*;
use llvm_sys::prelude::*;

use crate::error::{Error, Result};

const BITCODE_MAGIC: [u8; 4] = [b'B', b'C', 0xC0, 0xDE];
const BITCODE_WRAPPER_MAGIC: [u8; 4] = [0xDE, 0xC0, 0x17, 0x0B];

/// Reads one .bc or .ll file into `context`.
pub fn load_file<'ctx>(context: &'ctx Context, path: &Path) -> Result<Module<'ctx>> {
    let name = path.display().to_string();
    let metadata = std::fs::metadata(path).map_err(|e| Error::new(format!("{name}: {}", io_reason(&e))))?;
    if metadata.is_dir() {
        return Err(Error::new(format!("{name}: is a directory, expected a .bc, .ll, .c or .rs file")));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::new(format!("{name}: {}", io_reason(&e))))?;
    load_bytes(context, &bytes, &name)
}

/// Parses bitcode or textual IR held in memory; `name` labels errors.
pub fn load_bytes<'ctx>(context: &'ctx Context, bytes: &[u8], name: &str) -> Result<Module<'ctx>> {
    if bytes.is_empty() {
        return Err(Error::new(format!("{name}: empty file, expected LLVM bitcode or IR")));
    }
    let is_bitcode = bytes.starts_with(&BITCODE_MAGIC) || bytes.starts_with(&BITCODE_WRAPPER_MAGIC);
    let buffer = MemoryBuffer::create_from_memory_range_copy(bytes, name);
    if is_bitcode {
        return Module::parse_bitcode_from_buffer(&buffer, context)
            .map_err(|e| Error::new(format!("{name}: invalid or truncated LLVM bitcode: {}", e.to_string_lossy())));
    }
    if std::str::from_utf8(bytes).is_err() || bytes.contains(&0) {
        return Err(Error::new(format!("{name}: not LLVM bitcode or textual IR (unrecognised file contents)")));
    }
    context
        .create_module_from_ir(buffer)
        .map_err(|e| Error::new(format!("{name}: invalid LLVM IR: {}", e.to_string_lossy())))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Links `modules` into the first one. A function or variable defined in
/// several inputs (header inline functions, mingw's static inline helpers
/// compiled into every unit) keeps its first definition, like
/// `llvm-link --override` semantics without failing the link.
pub fn link<'ctx>(mut modules: Vec<(Module<'ctx>, String)>) -> Result<Module<'ctx>> {
    if modules.is_empty() {
        return Err(Error::new("no input files"));
    }
    let (first, _) = modules.remove(0);
    let mut defined: HashSet<String> = defined_symbols(first.as_mut_ptr());
    for (module, name) in modules {
        demote_duplicates(module.as_mut_ptr(), &defined);
        defined.extend(defined_symbols(module.as_mut_ptr()));
        first
            .link_in_module(module)
            .map_err(|e| Error::new(format!("{name}: cannot link: {}", e.to_string_lossy())))?;
    }
    Ok(first)
}

fn is_linkable_definition(v: llvm::Value) -> bool {
    use llvm_sys::LLVMLinkage::*;
    let linkage = unsafe { LLVMGetLinkage(v.0) };
    !v.is_declaration() && !matches!(linkage, LLVMInternalLinkage | LLVMPrivateLinkage)
}

fn defined_symbols(module: LLVMModuleRef) -> HashSet<String> {
    let m = llvm::Module(module);
    m.functions().chain(m.globals()).filter(|v| is_linkable_definition(*v)).map(|v| v.name()).collect()
}

fn demote_duplicates(module: LLVMModuleRef, defined: &HashSet<String>) {
    let m = llvm::Module(module);
    for v in m.functions().chain(m.globals()) {
        if is_linkable_definition(v) && defined.contains(&v.name()) {
            // available_externally: the linker keeps the definition already present.
            unsafe { LLVMSetLinkage(v.0, llvm_sys::LLVMLinkage::LLVMAvailableExternallyLinkage) };
            unsafe { LLVMSetVisibility(v.0, llvm_sys::LLVMVisibility::LLVMDefaultVisibility) };
        }
    }
}

/// Checks that a module is well formed before any pass runs on it.
pub(crate) fn verify(module: LLVMModuleRef, name: &str) -> Result<()> {
    let mut message = std::ptr::null_mut();
    let broken = unsafe {
        llvm_sys::analysis::LLVMVerifyModule(
            module,
            llvm_sys::analysis::LLVMVerifierFailureAction::LLVMReturnStatusAction,
            &mut message,
        )
    };
    let text = take_message(message);
    if broken != 0 {
        let first = text.lines().next().unwrap_or("verifier failed").to_string();
        return Err(Error::new(format!("{name}: invalid LLVM IR: {first}")));
    }
    Ok(())
}

fn take_message(message: *mut std::ffi::c_char) -> String {
    if message.is_null() {
        return String::new();
    }
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned();
    unsafe { LLVMDisposeMessage(message) };
    text
}

/// Makes a module ready for facts extraction, in place: strips `optnone`
/// (clang -O0 sets it, and it stops the promotion below), inlines
/// always-inline functions (the DDK's FORCEINLINE wrappers such as
/// WdfSpinLockAcquire or StorPortAcquireSpinLock, which clang's own pipelines
/// inline too, so a module looks the same before and after clang's
/// pipeline) and promotes allocas to SSA values with mem2reg, so that locals
/// holding lock pointers, flags and status codes become SSA values and phis.
pub(crate) fn prepare(module: LLVMModuleRef) -> Result<()> {
    let kind = |name: &str| unsafe { LLVMGetEnumAttributeKindForName(name.as_ptr() as *const _, name.len()) };
    let (optnone, always_inline) = (kind("optnone"), kind("alwaysinline"));
    let mut inline = false;
    for f in llvm::Module(module).functions() {
        unsafe { LLVMRemoveEnumAttributeAtIndex(f.0, llvm_sys::LLVMAttributeFunctionIndex, optnone) };
        let marked =
            !unsafe { LLVMGetEnumAttributeAtIndex(f.0, llvm_sys::LLVMAttributeFunctionIndex, always_inline) }.is_null();
        inline |= marked && !f.is_declaration();
    }
    // mem2reg promotes the scalars that matter (lock pointers, flags, status
    // codes); driver structs on the stack reach the APIs by address and stay
    // in memory anyway, so SROA would cost more than it adds. rustc's IR is
    // the exception: its locals (and the debug spills of its SSA values) are
    // byte arrays (`alloca [8 x i8]`) holding a `ptr` or an `i32`, which only
    // SROA turns into SSA values.
    let rustc = produced_by_rustc(module);
    if rustc {
        locate_returns(module);
    }
    let promote = if rustc { "function(sroa,mem2reg)" } else { "function(mem2reg)" };
    let pipeline = if inline { format!("always-inline,{promote}") } else { promote.to_string() };
    run_passes(module, &pipeline)
}

/// Gives each `return` of rustc's unoptimised IR the location of its
/// statement. rustc stores the returned value into the return slot (located
/// at the `return x` or `?` that returns it) and then branches to the shared
/// return block with the location of the function's closing brace, which is
/// all that is left once SROA has removed the store. The branch into the
/// return block (after the blocks that drop the scope's locals, such as a
/// guard, when they lead only there) takes the store's location instead, as
/// clang gives it: the facts layer then reports each `return` at its line.
fn locate_returns(module: LLVMModuleRef) {
    use llvm::Opcode;
    for function in llvm::Module(module).functions().filter(|f| !f.is_declaration()) {
        let blocks: Vec<llvm::Block> = function.blocks().collect();
        let mut predecessors: std::collections::HashMap<llvm::Block, usize> = Default::default();
        for block in &blocks {
            if let Some(t) = block.terminator() {
                for i in 0..t.successor_count() {
                    *predecessors.entry(t.successor(i)).or_default() += 1;
                }
            }
        }
        for block in &blocks {
            let Some(ret) = block.terminator().filter(|t| t.opcode() == Opcode::LLVMRet && t.operand_count() > 0)
            else {
                continue;
            };
            let loaded = ret.operand(0);
            if !loaded.is_instruction() || loaded.opcode() != Opcode::LLVMLoad || loaded.parent_block() != *block {
                continue;
            }
            let slot = loaded.operand(0);
            if !slot.is_instruction() || slot.opcode() != Opcode::LLVMAlloca {
                continue;
            }
            for store in slot.users() {
                if !store.is_instruction() || store.opcode() != Opcode::LLVMStore || store.operand(1) != slot {
                    continue;
                }
                let Some(loc) = store.debug_loc() else { continue };
                // Follow unconditional branches from the store's block, through
                // blocks that only it leads to, to the return block.
                let mut current = store.parent_block();
                for _ in 0..8 {
                    let Some(branch) =
                        current.terminator().filter(|t| t.opcode() == Opcode::LLVMBr && !t.is_conditional())
                    else {
                        break;
                    };
                    let next = branch.successor(0);
                    if next == *block {
                        let last_store = current
                            .instructions()
                            .filter(|i| i.opcode() == Opcode::LLVMStore && i.operand(1) == slot)
                            .last();
                        if current != store.parent_block() || last_store == Some(store) {
                            branch.set_debug_loc(loc);
                        }
                        break;
                    }
                    if predecessors.get(&next).copied().unwrap_or(0) != 1 {
                        break;
                    }
                    current = next;
                }
            }
        }
    }
}

/// Whether rustc produced (part of) the module: its `llvm.ident` says
/// `rustc version ...` (clang's says `clang version ...`).
pub(crate) fn produced_by_rustc(module: LLVMModuleRef) -> bool {
    let name = c"llvm.ident";
    let count = unsafe { LLVMGetNamedMetadataNumOperands(module, name.as_ptr()) } as usize;
    let mut nodes: Vec<LLVMValueRef> = vec![std::ptr::null_mut(); count];
    if count > 0 {
        unsafe { LLVMGetNamedMetadataOperands(module, name.as_ptr(), nodes.as_mut_ptr()) };
    }
    nodes.into_iter().any(|node| {
        let operands = unsafe { LLVMGetMDNodeNumOperands(node) } as usize;
        let mut values: Vec<LLVMValueRef> = vec![std::ptr::null_mut(); operands];
        unsafe { LLVMGetMDNodeOperands(node, values.as_mut_ptr()) };
        values.into_iter().filter(|v| !v.is_null()).any(|v| {
            let mut len = 0u32;
            let text = unsafe { LLVMGetMDString(v, &mut len) };
            !text.is_null()
                && unsafe { std::slice::from_raw_parts(text as *const u8, len as usize) }.starts_with(b"rustc version")
        })
    })
}

fn run_passes(module: LLVMModuleRef, pipeline: &str) -> Result<()> {
    use llvm_sys::transforms::pass_builder::*;
    let pipeline = CString::new(pipeline).map_err(|_| Error::new("invalid pass pipeline"))?;
    unsafe {
        let options = LLVMCreatePassBuilderOptions();
        let error = LLVMRunPasses(module, pipeline.as_ptr(), std::ptr::null_mut(), options);
        LLVMDisposePassBuilderOptions(options);
        if !error.is_null() {
            let message = llvm_sys::error::LLVMGetErrorMessage(error);
            return Err(Error::new(format!("preparing the module failed: {}", take_message(message))));
        }
    }
    Ok(())
}

unsafe extern "C" {
    /// Defined in shim/plugin.cpp: `LLVMCloneModule`, but sharing the
    /// original's metadata (debug info) instead of cloning it.
    fn lockcheck_clone_module(module: LLVMModuleRef) -> LLVMModuleRef;
}

/// An owned copy of a module that is disposed of when dropped. The plugin
/// analyses a copy so that the module clang or opt is compiling never changes.
/// The copy shares the original's debug-info metadata (cloning and then
/// freeing every location and subprogram was most of the plugin's time on
/// large modules), so it is only for preparing and reading, and must be
/// dropped before the original changes.
pub struct ModuleCopy(LLVMModuleRef);

impl ModuleCopy {
    /// # Safety
    /// `module` must be a valid module for the duration of the call.
    pub unsafe fn of(module: LLVMModuleRef) -> ModuleCopy {
        ModuleCopy(unsafe { lockcheck_clone_module(module) })
    }

    pub fn as_raw(&self) -> LLVMModuleRef {
        self.0
    }
}

impl Drop for ModuleCopy {
    fn drop(&mut self) {
        unsafe { LLVMDisposeModule(self.0) };
    }
}
