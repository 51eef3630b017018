//! Small readers over Loro map fields that never panic on a document that
//! holds something unexpected: a wrong type reads as absent.

use loro::{Container, LoroMap, LoroMovableList, LoroText, LoroValue, ValueOrContainer};

pub(crate) fn plain(map: &LoroMap, key: &str) -> Option<LoroValue> {
    match map.get(key)? {
        ValueOrContainer::Value(v) => Some(v),
        ValueOrContainer::Container(_) => None,
    }
}

pub(crate) fn string(map: &LoroMap, key: &str) -> Option<String> {
    match plain(map, key)? {
        LoroValue::String(s) => Some(s.to_string()),
        _ => None,
    }
}

pub(crate) fn int(map: &LoroMap, key: &str) -> Option<i64> {
    match plain(map, key)? {
        LoroValue::I64(i) => Some(i),
        LoroValue::Double(d) if d.is_finite() => Some(d as i64),
        _ => None,
    }
}

pub(crate) fn boolean(map: &LoroMap, key: &str) -> Option<bool> {
    match plain(map, key)? {
        LoroValue::Bool(b) => Some(b),
        _ => None,
    }
}

pub(crate) fn child_map(map: &LoroMap, key: &str) -> Option<LoroMap> {
    match map.get(key)? {
        ValueOrContainer::Container(Container::Map(m)) => Some(m),
        _ => None,
    }
}

pub(crate) fn child_text(map: &LoroMap, key: &str) -> Option<LoroText> {
    match map.get(key)? {
        ValueOrContainer::Container(Container::Text(t)) => Some(t),
        _ => None,
    }
}

pub(crate) fn child_movable_list(map: &LoroMap, key: &str) -> Option<LoroMovableList> {
    match map.get(key)? {
        ValueOrContainer::Container(Container::MovableList(l)) => Some(l),
        _ => None,
    }
}

/// The text of a text field, or of a plain string field (as a document
/// might hold after a foreign writer), or empty.
pub(crate) fn text_or_string(map: &LoroMap, key: &str) -> String {
    child_text(map, key)
        .map(|t| t.to_string())
        .or_else(|| string(map, key))
        .unwrap_or_default()
}

/// The keys of a map whose value is `true` (a set), sorted.
pub(crate) fn set_keys(map: &LoroMap) -> Vec<String> {
    let mut keys = Vec::new();
    map.for_each(|k, v| {
        if matches!(v, ValueOrContainer::Value(LoroValue::Bool(true))) {
            keys.push(k.to_owned());
        }
    });
    keys.sort();
    keys
}
