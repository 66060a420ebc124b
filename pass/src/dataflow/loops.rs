//! Loops in a function's control flow, as the dataflow needs them: which
//! blocks form a cycle, and which phis count around one.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::facts::{Body, Operand, Phi, ValueDef, ValueId};

/// The strongly connected component of every block (iterative Tarjan):
/// blocks in one component form a loop.
pub fn block_cycles(body: &Body) -> Vec<u32> {
    let successors: Vec<Vec<u32>> = body
        .blocks
        .iter()
        .map(|b| b.terminator.successors().into_iter().filter(|&s| (s as usize) < body.blocks.len()).collect())
        .collect();
    let components = crate::dataflow::strongly_connected_components(&successors);
    let mut out = vec![0u32; body.blocks.len()];
    for (id, component) in components.iter().enumerate() {
        for &b in component {
            out[b as usize] = id as u32;
        }
    }
    out
}

/// Per block: whether it lies on a cycle (a loop, or a block branching to
/// itself), given the components `block_cycles` computed.
pub fn on_cycle(body: &Body, cycle: &[u32]) -> Vec<bool> {
    let mut size: HashMap<u32, usize> = HashMap::default();
    for &c in cycle {
        *size.entry(c).or_default() += 1;
    }
    body.blocks
        .iter()
        .enumerate()
        .map(|(b, block)| size[&cycle[b]] > 1 || block.terminator.successors().contains(&(b as u32)))
        .collect()
}

/// Phi edges (phi, predecessor block) whose incoming value is arithmetic on
/// the phi itself (`i = phi [0, entry], [i + 1, latch]`, also through other
/// phis). Facts along such an edge would take a new value on every trip
/// round the loop; flags and status codes set from constants are not
/// counters and keep their facts.
pub fn counters(body: &Body) -> HashSet<(ValueId, u32)> {
    let mut out = HashSet::default();
    let phis: HashMap<ValueId, &Phi> = body.blocks.iter().flat_map(|b| b.phis.iter()).map(|p| (p.value, p)).collect();
    let incoming_of = |v: ValueId| phis.get(&v).copied();
    for block in &body.blocks {
        for phi in &block.phis {
            for &(from, operand) in &phi.incoming {
                if reaches_with_arithmetic(body, operand, phi.value, &incoming_of) {
                    out.insert((phi.value, from));
                }
            }
        }
    }
    out
}

/// Whether `operand` is computed from `target` through at least one
/// arithmetic step (following definitions and phi inputs).
fn reaches_with_arithmetic<'b>(
    body: &'b Body,
    operand: Operand,
    target: ValueId,
    incoming_of: &dyn Fn(ValueId) -> Option<&'b Phi>,
) -> bool {
    const MAX_VISITS: usize = 256;
    let Operand::Value(start) = operand else { return false };
    let mut seen: HashSet<(ValueId, bool)> = HashSet::default();
    let mut pending = vec![(start, false)];
    while let Some((v, arithmetic)) = pending.pop() {
        if v == target && arithmetic {
            return true;
        }
        if !seen.insert((v, arithmetic)) || seen.len() > MAX_VISITS {
            continue;
        }
        let Some(info) = body.values.get(v as usize) else { continue };
        let (operands, step): (Vec<Operand>, bool) = match &info.def {
            ValueDef::Offset(a, _) | ValueDef::Mask(a, _) => (vec![*a], true),
            ValueDef::Not(a) | ValueDef::ZExt(a) | ValueDef::SExt(a) | ValueDef::Trunc(a) => (vec![*a], false),
            ValueDef::Cmp { lhs, rhs, .. } | ValueDef::And(lhs, rhs) | ValueDef::Or(lhs, rhs) => {
                (vec![*lhs, *rhs], false)
            }
            ValueDef::Select { condition, then_value, else_value } => {
                (vec![*condition, *then_value, *else_value], false)
            }
            ValueDef::Phi if v != target => {
                (incoming_of(v).map(|p| p.incoming.iter().map(|(_, o)| *o).collect()).unwrap_or_default(), false)
            }
            _ => (Vec::new(), false),
        };
        for o in operands {
            if let Operand::Value(x) = o {
                pending.push((x, arithmetic || step));
            }
        }
    }
    false
}
