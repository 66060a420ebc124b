//! Which tracked values a path's facts still matter for, per block.
//!
//! A fact about a value is worth keeping only while a branch, switch,
//! return, call argument or phi ahead may read it, directly or through the
//! definition of what it reads (`c = icmp eq taken, 0` reads `taken`).
//! Paths whose facts differ only in values nothing reads any more are one
//! path for the analysis: dropping those facts lets them merge, which keeps
//! the states per block few without losing a correlation that matters.
//! Parameters are always live: a summary's outcomes are conditioned on them.
//! Inside a loop a value stays live all the way round: the loop test
//! recomputed from unchanged inputs keeps its old fact (see `flow`).

use crate::facts::{Body, Event, Operand, Terminator, ValueDef, ValueId};

pub struct Liveness {
    /// Per block: the values live on entry, sorted.
    live_in: Vec<Vec<ValueId>>,
    is_param: Vec<bool>,
}

impl Liveness {
    /// `cycle`: each block's strongly connected component (its loop).
    pub fn compute(body: &Body, value_block: &[Option<u32>], cycle: &[u32]) -> Liveness {
        let n = body.blocks.len();
        let values = body.values.len();
        let is_param: Vec<bool> = body.values.iter().map(|v| matches!(v.def, ValueDef::Param(_))).collect();
        let mut predecessors: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (b, block) in body.blocks.iter().enumerate() {
            for s in block.terminator.successors() {
                if (s as usize) < n {
                    predecessors[s as usize].push(b as u32);
                }
            }
        }
        // Blocks where each value is read.
        let mut used_in: Vec<Vec<u32>> = vec![Vec::new(); values];
        let mut seen = vec![u32::MAX; values];
        for (b, block) in body.blocks.iter().enumerate() {
            let mut roots: Vec<Operand> = Vec::new();
            for event in &block.events {
                if let Event::Call(call) = event {
                    roots.extend(call.args.iter().map(|a| a.value));
                }
            }
            match &block.terminator {
                Terminator::Branch { condition, .. } => roots.push(*condition),
                Terminator::Switch { value, .. } => roots.push(*value),
                Terminator::Return { value: Some(v), .. } => roots.push(*v),
                _ => {}
            }
            for s in block.terminator.successors() {
                let Some(target) = body.blocks.get(s as usize) else { continue };
                for phi in &target.phis {
                    roots.extend(phi.incoming.iter().filter(|(from, _)| *from as usize == b).map(|(_, op)| *op));
                }
            }
            // The roots and what their definitions read.
            let mut pending: Vec<ValueId> =
                roots.into_iter().filter_map(|r| if let Operand::Value(v) = r { Some(v) } else { None }).collect();
            while let Some(v) = pending.pop() {
                let Some(info) = body.values.get(v as usize) else { continue };
                if seen[v as usize] == b as u32 {
                    continue;
                }
                seen[v as usize] = b as u32;
                used_in[v as usize].push(b as u32);
                let operands: &[Operand] = match &info.def {
                    ValueDef::Cmp { lhs, rhs, .. } | ValueDef::And(lhs, rhs) | ValueDef::Or(lhs, rhs) => &[*lhs, *rhs],
                    ValueDef::Not(a)
                    | ValueDef::ZExt(a)
                    | ValueDef::SExt(a)
                    | ValueDef::Trunc(a)
                    | ValueDef::Mask(a, _)
                    | ValueDef::Offset(a, _) => &[*a],
                    ValueDef::Select { condition, then_value, else_value } => &[*condition, *then_value, *else_value],
                    ValueDef::Opaque | ValueDef::Param(_) | ValueDef::CallResult | ValueDef::Phi => &[],
                };
                pending.extend(operands.iter().filter_map(|o| if let Operand::Value(x) = o { Some(*x) } else { None }));
            }
        }
        // Each value is live from its reads back to its definition.
        let mut live_in: Vec<Vec<ValueId>> = vec![Vec::new(); n];
        let mut marked = vec![u32::MAX; n];
        let mut work: Vec<u32> = Vec::new();
        for v in 0..values {
            if is_param[v] {
                continue;
            }
            let def = value_block.get(v).copied().flatten();
            work.clear();
            for &b in &used_in[v] {
                if marked[b as usize] != v as u32 {
                    marked[b as usize] = v as u32;
                    live_in[b as usize].push(v as ValueId);
                    work.push(b);
                }
            }
            while let Some(b) = work.pop() {
                let at_def = Some(b) == def;
                for &p in &predecessors[b as usize] {
                    // Above its definition a value is an older one. Only round
                    // its own loop does that older value still matter: the
                    // loop test recomputed from unchanged inputs keeps it.
                    if at_def && cycle[p as usize] != cycle[b as usize] {
                        continue;
                    }
                    if marked[p as usize] == v as u32 {
                        continue;
                    }
                    marked[p as usize] = v as u32;
                    live_in[p as usize].push(v as ValueId);
                    work.push(p);
                }
            }
        }
        Liveness { live_in, is_param }
    }

    /// Whether facts about `v` matter on entry to `block`.
    pub fn is_live(&self, block: usize, v: ValueId) -> bool {
        self.is_param.get(v as usize).copied().unwrap_or(false)
            || self.live_in.get(block).is_some_and(|live| live.binary_search(&v).is_ok())
    }
}
