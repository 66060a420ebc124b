//! Tracked values: the SSA values branch conditions are made of.
//!
//! Only values a branch, a phi, a try-acquire or a return depends on are
//! tracked, each as a small expression over other tracked values and
//! constants. The dataflow keeps per-path facts about them (a flag is 1, a
//! status is negative) and decides branches with them.

use super::ValueId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    Const(i64),
    Value(ValueId),
    /// A value nothing is known about, ever (floats, aggregates, ...).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pred {
    Eq,
    Ne,
    Slt,
    Sle,
    Sgt,
    Sge,
    Ult,
    Ule,
    Ugt,
    Uge,
}

impl Pred {
    pub fn negate(self) -> Pred {
        match self {
            Pred::Eq => Pred::Ne,
            Pred::Ne => Pred::Eq,
            Pred::Slt => Pred::Sge,
            Pred::Sle => Pred::Sgt,
            Pred::Sgt => Pred::Sle,
            Pred::Sge => Pred::Slt,
            Pred::Ult => Pred::Uge,
            Pred::Ule => Pred::Ugt,
            Pred::Ugt => Pred::Ule,
            Pred::Uge => Pred::Ult,
        }
    }

    /// The predicate with its operands swapped (`a < b` is `b > a`).
    pub fn swap(self) -> Pred {
        match self {
            Pred::Eq | Pred::Ne => self,
            Pred::Slt => Pred::Sgt,
            Pred::Sle => Pred::Sge,
            Pred::Sgt => Pred::Slt,
            Pred::Sge => Pred::Sle,
            Pred::Ult => Pred::Ugt,
            Pred::Ule => Pred::Uge,
            Pred::Ugt => Pred::Ult,
            Pred::Uge => Pred::Ule,
        }
    }

    pub fn is_unsigned(self) -> bool {
        matches!(self, Pred::Ult | Pred::Ule | Pred::Ugt | Pred::Uge)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueDef {
    /// Known only through the branches that test it.
    Opaque,
    /// Parameter `n` of the function.
    Param(u32),
    /// The result of a call; facts come from the callee's summary.
    CallResult,
    /// A phi: its value is set on each incoming edge.
    Phi,
    Cmp {
        pred: Pred,
        lhs: Operand,
        rhs: Operand,
    },
    Not(Operand),
    And(Operand, Operand),
    Or(Operand, Operand),
    ZExt(Operand),
    SExt(Operand),
    /// Truncation to `ValueInfo::bits`.
    Trunc(Operand),
    /// `x & mask` on integers (-O2 folds `x == 1 || x == 5` into
    /// `(x & ~4) == 1`).
    Mask(Operand, i64),
    /// `x + k` (-O2 tests a range as `x - lo <u n`).
    Offset(Operand, i64),
    Select {
        condition: Operand,
        then_value: Operand,
        else_value: Operand,
    },
}

#[derive(Debug, Clone)]
pub struct ValueInfo {
    pub def: ValueDef,
    /// Integer width (1 for conditions); 64 for pointers.
    pub bits: u32,
    /// The source variable it holds, when debug info says (for traces).
    pub name: Option<String>,
}
