use super::*;

#[test]
fn builtin_pack_is_valid() {
    let pack = RulePack::builtin().expect("rules.yaml validates");
    assert!(pack.rule_by_id("wdm.SpinLock").is_some());
    assert!(matches!(pack.api("KfAcquireSpinLock", |_| None), Some(Api::Lock(_))));
    assert!(matches!(pack.api("IofCompleteRequest", |_| None), Some(Api::Forbidden(_))));
    assert_eq!(pack.models[pack.default_model()].id, "wdm");
}

#[test]
fn apis_multiplexed_through_one_function_match_on_a_constant_argument() {
    let pack = RulePack::builtin().unwrap();
    let op = |notification: i64| match pack.api("StorPortNotification", |n| (n == 0).then_some(notification)) {
        Some(Api::Lock(i)) => Some(pack.lock_apis[i].op),
        _ => None,
    };
    assert_eq!(op(0x1003), Some(LockOp::Acquire));
    assert_eq!(op(0x1004), Some(LockOp::Release));
    assert_eq!(op(0), None, "RequestComplete is not a lock call");
    assert!(pack.api("StorPortNotification", |_| None).is_none());
}

#[test]
fn same_name_without_distinct_conditions_is_rejected() {
    let message = error_of(&edited("    when: {arg: 0, equals: 0x1004}\n", "    when: {arg: 0, equals: 0x1003}\n"));
    assert!(message.contains("`StorPortNotification` is listed twice"), "{message}");
}

#[test]
fn registrations_need_exactly_one_kind() {
    let message = error_of(&edited(
        "      - passed_to: StorPortInitialize\n",
        "      - passed_to: StorPortInitialize\n        store: _IRP.CancelRoutine\n",
    ));
    assert!(message.contains("give exactly one of store, passed_to"), "{message}");
}

#[test]
fn ownership_follows_file_order_and_models() {
    let pack = RulePack::builtin().unwrap();
    let spin = pack.kind_id("spin_lock").unwrap();
    let cancel = pack.kind_id("cancel_spin_lock").unwrap();
    let wdm = pack.model_id("wdm").unwrap();
    let kmdf = pack.model_id("kmdf").unwrap();
    let storport = pack.model_id("storport").unwrap();
    let id = |r: Option<RuleId>| r.map(|r| pack.rules[r].id.as_str());
    assert_eq!(id(pack.owner(Check::HeldAtExit, spin, wdm)), Some("wdm.SpinLock"));
    assert_eq!(id(pack.owner(Check::HeldAtExit, spin, kmdf)), Some("kmdf.SpinlockRelease"));
    assert_eq!(id(pack.owner(Check::HeldAtExit, spin, storport)), Some("storport.SpinLock"));
    assert_eq!(id(pack.owner(Check::ReleaseNotHeld, spin, kmdf)), Some("wdm.SpinLock"));
    assert_eq!(id(pack.owner(Check::HeldAtExit, cancel, wdm)), Some("wdm.CancelSpinLock"));
    assert_eq!(id(pack.owner(Check::CallWhileHeld, cancel, wdm)), Some("wdm.SpinLockSafe"));
}

fn error_of(text: &str) -> String {
    RulePack::parse(text, "my.yaml").unwrap_err().message().to_string()
}

/// The built-in pack with one textual replacement.
fn edited(from: &str, to: &str) -> String {
    assert!(BUILTIN_RULES.contains(from), "fixture text not found: {from}");
    BUILTIN_RULES.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = edited(
        "    lock_arg: 0\n  - names: [KeTryToAcquireSpinLockAtDpcLevel]",
        "    lok_arg: 0\n  - names: [KeTryToAcquireSpinLockAtDpcLevel]",
    );
    let message = error_of(&text);
    let line = line_of(&text, "lok_arg");
    assert!(message.starts_with(&format!("my.yaml:{line}:")), "{message}");
    assert!(message.contains("unknown field `lok_arg`"), "{message}");
}

#[test]
fn wrong_type_names_file_and_line() {
    let text = edited(
        "    lock_arg: 0\n  - names: [KeTryToAcquireSpinLockAtDpcLevel]",
        "    lock_arg: first\n  - names: [KeTryToAcquireSpinLockAtDpcLevel]",
    );
    let message = error_of(&text);
    let line = line_of(&text, "lock_arg: first");
    assert!(message.starts_with(&format!("my.yaml:{line}:")), "{message}");
    assert!(message.contains("lock_apis[0].lock_arg"), "{message}");
}

#[test]
fn dangling_lock_kind_is_an_error_with_line() {
    let text = edited("    kind: queued_spin_lock\n    lock_arg: 0", "    kind: queued_spinlock\n    lock_arg: 0");
    let message = error_of(&text);
    let line = line_of(&text, "kind: queued_spinlock");
    assert_eq!(
        message,
        format!("my.yaml:{line}: lock_apis[3].kind: unknown lock kind `queued_spinlock` (not in lock_kinds)")
    );
}

#[test]
fn dangling_model_and_struct_field_are_errors() {
    let message = error_of(&edited("    models: [storport]\n", "    models: [storprot]\n"));
    assert!(message.contains("rules[0].models: unknown model `storprot`"), "{message}");
    let message = error_of(&edited("- store: _DRIVER_OBJECT.MajorFunction", "- store: _DRIVER_OBJECT.MajorFunctions"));
    assert!(message.contains("unknown struct field `_DRIVER_OBJECT.MajorFunctions`"), "{message}");
}

#[test]
fn duplicate_api_names_are_rejected() {
    let message =
        error_of(&edited("  - names: [IoStartNextPacket]", "  - names: [IoStartNextPacket, KeReleaseSpinLock]"));
    assert!(message.contains("`KeReleaseSpinLock` is listed twice"), "{message}");
}

#[test]
fn not_yaml_at_all() {
    let message = error_of("\u{1}\u{2} garbage: [");
    assert!(message.starts_with("my.yaml:"), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        text.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
    }
    let message = error_of(&text);
    assert!(message.starts_with("my.yaml:"), "{message}");
}
