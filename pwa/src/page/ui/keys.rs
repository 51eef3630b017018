//! Keyboard shortcuts of the notes screen (desktop): `n` new note, `/`
//! search, `j`/`k` next and previous note, `Escape` out of a field and back
//! to the list, `?` this list. Keys typed into a field are the field's,
//! except `Escape`.

use std::cell::RefCell;
use std::rc::Rc;

use dioxus::prelude::*;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    NewNote,
    Search,
    Next,
    Previous,
    Escape,
    Help,
}

/// The list the help overlay shows.
pub const HELP: [(&str, &str); 6] = [
    ("n", "New note"),
    ("/", "Search"),
    ("j", "Next note"),
    ("k", "Previous note"),
    ("Esc", "Leave a field; back to the list"),
    ("?", "Show or hide this list"),
];

/// The shortcut of a key press, if any. `in_field`: focus is in a text
/// field; `modified`: Ctrl, Alt or Meta is held (the browser's own keys).
pub fn shortcut(key: &str, in_field: bool, modified: bool) -> Option<Shortcut> {
    if modified {
        return None;
    }
    match key {
        "Escape" => Some(Shortcut::Escape),
        _ if in_field => None,
        "n" => Some(Shortcut::NewNote),
        "/" => Some(Shortcut::Search),
        "j" => Some(Shortcut::Next),
        "k" => Some(Shortcut::Previous),
        "?" => Some(Shortcut::Help),
        _ => None,
    }
}

/// Listens for shortcuts on the document while the calling component is
/// mounted; they arrive on the returned channel.
pub fn use_shortcuts() -> Rc<RefCell<Option<UnboundedReceiver<Shortcut>>>> {
    let receiver = use_hook(|| Rc::new(RefCell::new(None)));
    let listener = use_hook(|| {
        let (tx, rx) = unbounded::<Shortcut>();
        *receiver.borrow_mut() = Some(rx);
        install(tx)
    });
    use_drop(move || {
        if let (Some(document), Some(listener)) = (
            web_sys::window().and_then(|w| w.document()),
            listener.as_ref(),
        ) {
            let callback: &wasm_bindgen::JsValue = listener.as_ref().as_ref();
            let _ =
                document.remove_event_listener_with_callback("keydown", callback.unchecked_ref());
        }
    });
    receiver
}

type Listener = Rc<Closure<dyn FnMut(web_sys::KeyboardEvent)>>;

fn install(tx: UnboundedSender<Shortcut>) -> Option<Listener> {
    let document = web_sys::window()?.document()?;
    let listener: Closure<dyn FnMut(web_sys::KeyboardEvent)> =
        Closure::new(move |event: web_sys::KeyboardEvent| {
            let in_field = event
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|e| {
                    matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                        || e.has_attribute("contenteditable")
                });
            let modified = event.ctrl_key() || event.alt_key() || event.meta_key();
            if let Some(found) = shortcut(&event.key(), in_field, modified) {
                if found != Shortcut::Escape {
                    // `/` would also type itself into the search field.
                    event.prevent_default();
                }
                let _ = tx.unbounded_send(found);
            }
        });
    document
        .add_event_listener_with_callback("keydown", listener.as_ref().unchecked_ref())
        .ok()?;
    Some(Rc::new(listener))
}

/// Moves focus out of a text field; whether it was in one.
pub fn leave_field() -> bool {
    let active = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    match active {
        Some(e) if matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT") => {
            let _ = e.blur();
            true
        }
        _ => false,
    }
}

/// Focuses the element with `id`.
pub fn focus(id: &str) {
    if let Some(e) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = e.focus();
    }
}

/// The overlay that lists the shortcuts.
#[component]
pub fn ShortcutHelp(on_close: EventHandler<()>) -> Element {
    rsx! {
        div { class: "overlay", id: "shortcuts", role: "dialog", "aria-modal": "true", "aria-label": "Keyboard shortcuts",
            div { class: "card",
                h2 { "Keyboard shortcuts" }
                dl { class: "facts",
                    for (key, what) in HELP {
                        dt { kbd { "{key}" } }
                        dd { "{what}" }
                    }
                }
                button { id: "shortcuts-close", onclick: move |_| on_close.call(()), "Close" }
            }
        }
    }
}
