//! Turns a parsed `RawPack` into a `RulePack`: resolves every reference between
//! sections (lock kinds, structs, models) and rejects dangling or ambiguous
//! ones with the file, line and key at fault.

use std::collections::HashMap;

use super::schema::{RawPack, RawRole};
use super::*;

struct Validator<'a> {
    text: &'a str,
    source: &'a str,
}

impl Validator<'_> {
    /// An error at the line where `token` first appears as a whole word (the
    /// offending value; serde has no positions for values it accepted).
    fn error(&self, key: &str, token: &str, message: String) -> Error {
        match locate(self.text, token) {
            Some(line) => Error::new(format!("{}:{line}: {key}: {message}", self.source)),
            None => Error::new(format!("{}: {key}: {message}", self.source)),
        }
    }
}

/// 1-based line of the first whole-word occurrence of `token` in `text`.
pub(super) fn locate(text: &str, token: &str) -> Option<usize> {
    if token.is_empty() {
        return None;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    for (index, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        let mut start = 0;
        while let Some(found) = content[start..].find(token) {
            let at = start + found;
            let before = content[..at].chars().next_back();
            let after = content[at + token.len()..].chars().next();
            if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
                return Some(index + 1);
            }
            start = at + token.len();
        }
    }
    None
}

pub(super) fn validate(raw: RawPack, text: &str, source: &str) -> Result<RulePack> {
    let v = Validator { text, source };
    if raw.version != 1 {
        return Err(v.error(
            "version",
            "version",
            format!("unsupported rule pack version {} (expected 1)", raw.version),
        ));
    }

    let lock_kinds: Vec<LockKind> = raw
        .lock_kinds
        .iter()
        .map(|(id, k)| LockKind { id: id.clone(), display: k.display.clone(), global: k.global })
        .collect();
    let kind = |key: &str, name: &str| -> Result<KindId> {
        lock_kinds
            .iter()
            .position(|k| k.id == name)
            .ok_or_else(|| v.error(key, name, format!("unknown lock kind `{name}` (not in lock_kinds)")))
    };

    type ApiIndex = HashMap<String, Vec<(Option<When>, Api)>>;
    let mut api_by_name: ApiIndex = HashMap::new();
    let claim = |key: &str, name: &str, when: Option<When>, api: Api, api_by_name: &mut ApiIndex| -> Result<()> {
        if name.trim().is_empty() {
            return Err(v.error(key, key, "empty function name".into()));
        }
        let entries = api_by_name.entry(name.to_string()).or_default();
        if entries.iter().any(|(w, _)| w.is_none() || when.is_none() || *w == when) {
            return Err(v.error(
                key,
                name,
                format!("function `{name}` is listed twice (in lock_apis or forbidden_calls) without distinct `when` conditions"),
            ));
        }
        entries.push((when, api));
        Ok(())
    };

    let mut lock_apis = Vec::new();
    for (i, api) in raw.lock_apis.iter().enumerate() {
        let key = format!("lock_apis[{i}]");
        let kind_id = kind(&format!("{key}.kind"), &api.kind)?;
        let global = lock_kinds[kind_id].global;
        let anchor = api.names.first().map(String::as_str).unwrap_or("lock_apis");
        if api.names.is_empty() {
            return Err(v.error(&format!("{key}.names"), anchor, "needs at least one function name".into()));
        }
        match (global, api.op, api.lock_arg, api.handle_arg) {
            (true, _, None, None) => {}
            (true, ..) => {
                return Err(v.error(&key, anchor, "a global lock kind takes no lock_arg or handle_arg".into()));
            }
            (false, LockOp::Release, None, None) => {
                return Err(v.error(&key, anchor, "a release needs lock_arg or handle_arg".into()));
            }
            (false, LockOp::Acquire | LockOp::TryAcquire, None, _) => {
                return Err(v.error(&key, anchor, "an acquire needs lock_arg".into()));
            }
            _ => {}
        }
        let when = api.when.map(|w| When { arg: w.arg, equals: w.equals });
        for name in &api.names {
            claim(&format!("{key}.names"), name, when, Api::Lock(lock_apis.len()), &mut api_by_name)?;
        }
        lock_apis.push(LockApi {
            names: api.names.clone(),
            when,
            op: api.op,
            kind: kind_id,
            lock_arg: api.lock_arg,
            handle_arg: api.handle_arg,
            lock_names: api.lock_names.iter().map(|(k, v)| (*k, v.clone())).collect(),
        });
    }

    let mut forbidden_calls = Vec::new();
    for (i, call) in raw.forbidden_calls.iter().enumerate() {
        let key = format!("forbidden_calls[{i}]");
        if call.names.is_empty() {
            return Err(v.error(&format!("{key}.names"), "forbidden_calls", "needs at least one function name".into()));
        }
        for name in &call.names {
            claim(&format!("{key}.names"), name, None, Api::Forbidden(forbidden_calls.len()), &mut api_by_name)?;
        }
        forbidden_calls.push(ForbiddenCall { names: call.names.clone(), display: call.display.clone() });
    }

    let function_tables = raw
        .function_tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.symbol_prefix.is_empty() {
                return Err(v.error(
                    &format!("function_tables[{i}].symbol_prefix"),
                    "symbol_prefix",
                    "must not be empty".into(),
                ));
            }
            let mut entries = HashMap::new();
            for (name, index) in &t.entries {
                if let Some(previous) = entries.insert(*index, name.clone()) {
                    return Err(v.error(
                        &format!("function_tables[{i}].entries.{name}"),
                        name,
                        format!("index {index} is also given to `{previous}`"),
                    ));
                }
            }
            Ok(FunctionTable { symbol_prefix: t.symbol_prefix.clone(), entries })
        })
        .collect::<Result<Vec<_>>>()?;

    let mut structs = IndexMap::new();
    for (struct_name, fields) in &raw.structs {
        let mut out = IndexMap::new();
        for (field_name, f) in fields {
            if f.index_names.len() > f.count.unwrap_or(1) as usize {
                return Err(v.error(
                    &format!("structs.{struct_name}.{field_name}.index_names"),
                    field_name,
                    format!("{} names for {} elements", f.index_names.len(), f.count.unwrap_or(1)),
                ));
            }
            if let Some(target) = &f.points_to
                && !raw.structs.contains_key(target)
            {
                return Err(v.error(
                    &format!("structs.{struct_name}.{field_name}.points_to"),
                    target,
                    format!("unknown struct `{target}` (not in structs)"),
                ));
            }
            out.insert(
                field_name.clone(),
                Field {
                    offset: f.offset,
                    count: f.count,
                    index_names: f.index_names.clone(),
                    points_to: f.points_to.clone(),
                },
            );
        }
        structs.insert(struct_name.clone(), out);
    }

    let roles = raw
        .routines
        .iter()
        .map(|(id, role)| validate_role(&v, id, role, &structs, &kind, &lock_kinds))
        .collect::<Result<Vec<_>>>()?;

    let mut models = Vec::new();
    for (id, model) in &raw.models {
        let detect = model.detect.as_ref();
        models.push(Model {
            id: id.clone(),
            global_prefixes: detect.map(|d| d.global_prefixes.clone()).unwrap_or_default(),
            calls: detect.map(|d| d.calls.clone()).unwrap_or_default(),
            is_default: detect.is_none(),
        });
    }
    if !roles.iter().any(|r| r.id == "entry") {
        return Err(v.error(
            "routines",
            "routines",
            "missing the `entry` role (the role of functions named with --entry)".into(),
        ));
    }
    match models.iter().filter(|m| m.is_default).count() {
        1 => {}
        0 => {
            return Err(v.error("models", "models", "one model must have no `detect` (the default)".into()));
        }
        _ => {
            return Err(v.error("models", "models", "only one model may have no `detect` (the default)".into()));
        }
    }

    let mut rules: Vec<Rule> = Vec::new();
    let mut owner = HashMap::new();
    for (i, rule) in raw.rules.iter().enumerate() {
        let key = format!("rules[{i}]");
        if rule.id.trim().is_empty() {
            return Err(v.error(&format!("{key}.id"), "id", "must not be empty".into()));
        }
        if rules.iter().any(|r| r.id == rule.id) {
            return Err(v.error(&format!("{key}.id"), &rule.id, format!("rule id `{}` is defined twice", rule.id)));
        }
        let rule_models =
            rule.models
                .iter()
                .map(|m| {
                    models.iter().position(|x| &x.id == m).ok_or_else(|| {
                        v.error(&format!("{key}.models"), m, format!("unknown model `{m}` (not in models)"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        let mut owns = Vec::new();
        for (j, o) in rule.owns.iter().enumerate() {
            let kinds =
                o.kinds.iter().map(|k| kind(&format!("{key}.owns[{j}].kinds"), k)).collect::<Result<Vec<_>>>()?;
            for &check in &o.checks {
                for &k in &kinds {
                    for &m in &rule_models {
                        owner.entry((check, k, m)).or_insert(rules.len());
                    }
                }
            }
            owns.push(Ownership { checks: o.checks.clone(), kinds });
        }
        rules.push(Rule {
            id: rule.id.clone(),
            sdv_name: rule.sdv_name.clone(),
            summary: rule.summary.clone(),
            severity: rule.severity,
            models: rule_models,
            owns,
            doc: rule.doc.clone(),
        });
    }

    Ok(RulePack {
        source: source.to_string(),
        lock_kinds,
        lock_apis,
        forbidden_calls,
        function_tables,
        structs,
        roles,
        entries: raw.entries,
        models,
        rules,
        api_by_name,
        owner,
    })
}

fn validate_role(
    v: &Validator,
    id: &str,
    role: &RawRole,
    structs: &IndexMap<String, IndexMap<String, Field>>,
    kind: &dyn Fn(&str, &str) -> Result<KindId>,
    lock_kinds: &[LockKind],
) -> Result<Role> {
    let key = format!("routines.{id}");
    let mut registered_by = Vec::new();
    for (i, reg) in role.registered_by.iter().enumerate() {
        let reg_key = format!("{key}.registered_by[{i}]");
        let registration = match (&reg.store, &reg.passed_to, &reg.passed_to_table) {
            (Some(store), None, None) if reg.arg.is_none() => {
                let (struct_name, field) = store.split_once('.').ok_or_else(|| {
                    v.error(&format!("{reg_key}.store"), store, format!("`{store}` is not Struct.Field"))
                })?;
                let known = structs.get(struct_name).is_some_and(|fields| fields.contains_key(field));
                if !known {
                    return Err(v.error(
                        &format!("{reg_key}.store"),
                        store,
                        format!("unknown struct field `{store}` (not in structs)"),
                    ));
                }
                Registration::Store(FieldRef { struct_name: struct_name.to_string(), field: field.to_string() })
            }
            (None, Some(function), None) => Registration::PassedTo { function: function.clone(), arg: reg.arg },
            (None, None, Some(prefix)) if reg.arg.is_none() => Registration::PassedToTable { prefix: prefix.clone() },
            _ => {
                return Err(v.error(
                    &reg_key,
                    id,
                    "give exactly one of store, passed_to (with an optional arg) or passed_to_table".into(),
                ));
            }
        };
        registered_by.push(registration);
    }
    for (i, p) in role.params.iter().enumerate() {
        if !structs.contains_key(p) {
            return Err(v.error(&format!("{key}.params[{i}]"), p, format!("unknown struct `{p}` (not in structs)")));
        }
    }
    let mut holds_on_entry = Vec::new();
    for (i, k) in role.holds_on_entry.iter().enumerate() {
        let k_id = kind(&format!("{key}.holds_on_entry[{i}]"), k)?;
        if !lock_kinds[k_id].global {
            return Err(v.error(
                &format!("{key}.holds_on_entry[{i}]"),
                k,
                format!("`{k}` is not a global lock kind: a routine can only be entered holding a global lock"),
            ));
        }
        holds_on_entry.push(k_id);
    }
    Ok(Role {
        id: id.to_string(),
        display: role.display.clone(),
        names: role.names.clone(),
        registered_by,
        params: role.params.clone(),
        holds_on_entry,
        pointer_types: role.pointer_types.clone(),
    })
}
