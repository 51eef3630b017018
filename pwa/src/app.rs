//! The Dioxus UI.

use dioxus::prelude::*;

use crate::update;

/// The root component.
#[component]
pub fn App() -> Element {
    let update_ready = update::use_update_available();
    let logo = use_hook(icon_href);
    rsx! {
        div { class: "shell", id: "app",
            header { class: "topbar",
                img { class: "logo", src: "{logo}", alt: "" }
                h1 { "Hearth" }
                span { class: "sync", id: "sync-status", "Saved on this device" }
            }
            if update_ready() {
                div { class: "banner", id: "update-banner", role: "status",
                    "A new version of Hearth is ready. "
                    button { id: "update-apply", onclick: move |_| update::apply_update(), "Update now" }
                }
            }
            section { class: "card", id: "welcome",
                h2 { "Your notes, on every device" }
                p { "Hearth keeps your workspace on this device first and syncs it through your own home server." }
            }
        }
    }
}

/// The app icon's (content-hashed) URL, read from the page's `<link rel=icon>`.
fn icon_href() -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("link[rel=icon]").ok().flatten())
        .and_then(|link| link.get_attribute("href"))
        .unwrap_or_default()
}
