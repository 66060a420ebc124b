//! Facts: what the analysis needs to know about a module, extracted from LLVM
//! IR once and owned (no LLVM handles survive extraction).
//!
//! Per function, a control-flow graph whose blocks carry only lock-relevant
//! events (lock API calls, forbidden calls, calls to other functions), the
//! branch conditions as small expressions over tracked SSA values, and every
//! pointer the events name as an interned access path. Module-wide: source
//! locations, function-pointer stores (routine registrations) and what the
//! driver model detection looks at.

mod debuginfo;
mod extract;
mod indirect;
pub mod paths;
mod source;
pub mod values;

use std::collections::HashSet;

pub(crate) use extract::extract;
pub use paths::{PathId, Paths, Root, Step};
pub use values::{Operand, Pred, ValueDef, ValueInfo};

pub type FuncId = u32;
pub type BlockId = u32;
pub type ValueId = u32;
pub type LocId = u32;

/// A position in a source file, as debug info records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceLoc {
    pub file: String,
    pub directory: String,
    pub line: u32,
    pub column: u32,
    /// Set when the position lies in a function the compiler inlined.
    pub inlined: Option<Inlined>,
}

/// A location's inline context: the source function it belongs to and the
/// call that function was inlined at (itself possibly inlined further).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inlined {
    pub function: String,
    pub call: LocId,
}

impl SourceLoc {
    /// The file as a path: relative names are resolved against the
    /// compilation directory recorded in debug info.
    pub fn path(&self) -> std::path::PathBuf {
        let file = std::path::Path::new(&self.file);
        if file.is_absolute() || self.directory.is_empty() {
            file.to_path_buf()
        } else {
            std::path::Path::new(&self.directory).join(file)
        }
    }
}

#[derive(Debug, Default)]
pub struct ModuleFacts {
    /// Bytes per pointer on the target (8 on x86_64, 4 on i686).
    pub pointer_bytes: u32,
    pub functions: Vec<Function>,
    pub paths: Paths,
    pub locs: Vec<SourceLoc>,
    /// Names of all global variables (driver model detection).
    pub global_names: Vec<String>,
    /// Normalised names of every function called directly or through a
    /// function table (driver model detection).
    pub called_names: HashSet<String>,
    /// Stores of a function's address into memory (routine registrations,
    /// function-pointer tables).
    pub fn_stores: Vec<FnPtrStore>,
    /// Stores of a pointer parameter into memory: a caller passing a
    /// function there registers it (WDF_DRIVER_CONFIG_INIT, helpers).
    pub param_stores: Vec<ParamStore>,
    /// Calls to functions outside the module (declarations, function-table
    /// entries) with their pointer arguments: routines are registered by
    /// passing them (or objects holding them) to such calls.
    pub external_calls: Vec<ExternalCall>,
    /// Global variables a global's initializer points to, by their roots
    /// (FLT_REGISTRATION.OperationRegistration = the callback array): a
    /// registration passing the first registers the functions in both.
    pub global_refs: Vec<(PathId, PathId)>,
}

impl ModuleFacts {
    pub fn loc(&self, id: LocId) -> &SourceLoc {
        &self.locs[id as usize]
    }

    pub fn function(&self, id: FuncId) -> &Function {
        &self.functions[id as usize]
    }

    /// A defined function by its name, its symbol or (Rust) its demangled
    /// path without the hash (`mydriver::queue::evt_io_read`).
    pub fn function_by_name(&self, name: &str) -> Option<FuncId> {
        self.functions
            .iter()
            .position(|f| f.body.is_some() && (f.name == name || f.symbol == name || f.display == name))
            .map(|i| i as FuncId)
    }
}

#[derive(Debug)]
pub struct Function {
    /// The LLVM symbol.
    pub symbol: String,
    /// The name rules and users match against (x86 decorations stripped).
    pub name: String,
    /// The name shown in reports (demangled).
    pub display: String,
    pub param_count: u32,
    pub body: Option<Body>,
    /// Where the function is defined.
    pub loc: Option<LocId>,
}

/// A defined function's control-flow graph. Block 0 is the entry.
#[derive(Debug, Default)]
pub struct Body {
    pub blocks: Vec<Block>,
    pub values: Vec<ValueInfo>,
}

#[derive(Debug)]
pub struct Block {
    /// Where the block starts in the source (for trace notes).
    pub loc: Option<LocId>,
    /// Tracked phis of this block, with their incoming operand per predecessor.
    pub phis: Vec<Phi>,
    /// Tracked values defined in this block (their old facts die on entry).
    pub defines: Vec<ValueId>,
    pub events: Vec<Event>,
    pub terminator: Terminator,
}

#[derive(Debug, Clone)]
pub struct Phi {
    pub value: ValueId,
    pub incoming: Vec<(BlockId, Operand)>,
}

#[derive(Debug, Clone)]
pub enum Event {
    Lock(LockEvent),
    Forbidden(ForbiddenEvent),
    Call(CallEvent),
}

/// A call to a lock API of the rule pack.
#[derive(Debug, Clone)]
pub struct LockEvent {
    /// Index into `RulePack::lock_apis`.
    pub api: usize,
    /// The lock object; `None` for global lock kinds and handle-only releases.
    pub lock: Option<PathId>,
    pub handle: Option<PathId>,
    /// The call's result (what a try-acquire returns).
    pub result: Option<ValueId>,
    pub loc: Option<LocId>,
}

/// A call that must not happen while a spin lock is held.
#[derive(Debug, Clone)]
pub struct ForbiddenEvent {
    /// Index into `RulePack::forbidden_calls`.
    pub call: usize,
    pub loc: Option<LocId>,
}

/// A call to another function of the module (or to an external one).
#[derive(Debug, Clone)]
pub struct CallEvent {
    /// The functions called: one for a direct call; for a call through a
    /// pointer, the functions the driver stored where the pointer comes from.
    pub targets: Vec<FuncId>,
    pub args: Vec<Arg>,
    pub result: Option<ValueId>,
    pub loc: Option<LocId>,
    /// For a call through a function pointer loaded from memory: where from.
    pub indirect: Option<IndirectCallee>,
    /// Locks the callee takes over (a call through the IRP's cancel-routine
    /// pointer hands the cancel spin lock to the cancel routine).
    pub hands_over: Vec<crate::rules::KindId>,
}

#[derive(Debug, Clone)]
pub struct IndirectCallee {
    /// The memory the function pointer is loaded from.
    pub slot: PathId,
    pub field: Option<FieldId>,
    /// The typedefs the pointer's declared type goes through
    /// (`PDRIVER_CANCEL`, `DRIVER_CANCEL`), from debug info.
    pub pointer_types: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Arg {
    /// Access path of a pointer argument.
    pub path: Option<PathId>,
    /// Value of an integer or pointer argument.
    pub value: Operand,
}

#[derive(Debug, Clone)]
pub enum Terminator {
    Goto {
        target: BlockId,
        loc: Option<LocId>,
    },
    Branch {
        condition: Operand,
        then_block: BlockId,
        else_block: BlockId,
        loc: Option<LocId>,
    },
    Switch {
        value: Operand,
        cases: Vec<(i64, BlockId)>,
        default: BlockId,
        loc: Option<LocId>,
    },
    /// Control goes to any of the targets (invoke's normal and unwind edges,
    /// indirectbr): no condition to learn from.
    Fork {
        targets: Vec<BlockId>,
    },
    /// A return; `loc` is the `return` statement the path took.
    Return {
        value: Option<Operand>,
        loc: Option<LocId>,
    },
    /// Leaves the function by unwinding (`resume`).
    Unwind {
        loc: Option<LocId>,
    },
    Unreachable,
}

impl Terminator {
    pub fn successors(&self) -> Vec<BlockId> {
        match self {
            Terminator::Goto { target, .. } => vec![*target],
            Terminator::Branch { then_block, else_block, .. } => vec![*then_block, *else_block],
            Terminator::Switch { cases, default, .. } => {
                let mut out: Vec<BlockId> = cases.iter().map(|(_, b)| *b).collect();
                out.push(*default);
                out
            }
            Terminator::Fork { targets } => targets.clone(),
            Terminator::Return { .. } | Terminator::Unwind { .. } | Terminator::Unreachable => Vec::new(),
        }
    }
}

/// `store %param, <path>`: parameter `param` of `in_function` stored to `dest`.
#[derive(Debug, Clone)]
pub struct ParamStore {
    pub param: u32,
    pub dest: PathId,
    pub in_function: FuncId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExternalCallee {
    Function(FuncId),
    /// Entry `index` of function table `table` (RulePack::function_tables).
    Table {
        table: usize,
        index: u32,
    },
}

#[derive(Debug, Clone)]
pub struct ExternalCall {
    pub callee: ExternalCallee,
    /// Access paths of the pointer arguments.
    pub args: Vec<Option<PathId>>,
    pub in_function: FuncId,
}

/// `store @F, <path>` (or an atomic exchange): the address of function `function`
/// written to the memory `dest` names, in function `in_function`.
#[derive(Debug, Clone)]
pub struct FnPtrStore {
    pub function: FuncId,
    pub dest: PathId,
    /// The function that stores; `None` for a global's initializer.
    pub in_function: Option<FuncId>,
    /// The struct field written, when known.
    pub field: Option<FieldId>,
    /// The same field in the structs nested in `field`'s that contain it,
    /// outermost first (`ext->WorkItem.WorkerRoutine`: _WORK_QUEUE_ITEM's).
    pub nested: Vec<FieldId>,
}

/// A struct field: (struct name, byte offset), from debug info or the
/// struct type a -O0 GEP names.
pub type FieldId = (String, i64);
