//! Driver model detection: KMDF, Storport or plain WDM, from what the module
//! references (rules.yaml `models`), unless the user forces one.

use crate::error::{Error, Result};
use crate::facts::ModuleFacts;
use crate::rules::{ModelId, RulePack};

pub fn select(facts: &ModuleFacts, rules: &RulePack, forced: Option<&str>) -> Result<ModelId> {
    if let Some(name) = forced {
        return rules.model_id(name).ok_or_else(|| {
            let known: Vec<&str> = rules.models.iter().map(|m| m.id.as_str()).collect();
            Error::new(format!("--model {name}: unknown driver model (expected one of: {})", known.join(", ")))
        });
    }
    for (id, model) in rules.models.iter().enumerate() {
        if model.is_default {
            continue;
        }
        let by_global = model
            .global_prefixes
            .iter()
            .any(|p| facts.global_names.iter().any(|g| crate::ir::names::normalize(g).starts_with(p)));
        let by_call = model.calls.iter().any(|c| facts.called_names.contains(c));
        if by_global || by_call {
            return Ok(id);
        }
    }
    Ok(rules.default_model())
}
