//! Tracked values: the integers branch conditions, switches and lock APIs
//! read, as constants, parameters, call results and comparisons.

use super::*;

pub(super) fn predicate(p: IntPredicate) -> Pred {
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

impl FunctionWalk<'_, '_> {
    pub(super) fn operand(&mut self, v: Value, depth: usize) -> Operand {
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

    pub(super) fn define(&mut self, v: Value, bits: u32, depth: usize) -> ValueDef {
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
