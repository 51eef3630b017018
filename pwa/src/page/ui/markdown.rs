//! A note's reading view: its Markdown ([`hearth_markdown`]) rendered with
//! the app's own elements. No HTML of the note ever reaches the page as
//! markup, links open only safe targets (in a new tab, without a referrer),
//! and images are shown as their description, never fetched. Ticking a
//! task checkbox edits one character of the note, which syncs like typing.

use dioxus::prelude::*;
use hearth_markdown::{Kind, Node};

/// The rendered body; `on_toggle` gets a checkbox's offset in the body.
#[component]
pub fn Rendered(body: String, read_only: bool, on_toggle: EventHandler<usize>) -> Element {
    let tree = hearth_markdown::parse(&body);
    rsx! {
        div { class: "rendered", id: "note-rendered",
            if tree.is_empty() { p { class: "muted", "Nothing written yet." } }
            {tree.iter().map(|node| render(node, read_only, on_toggle))}
        }
    }
}

fn children(nodes: &[Node], read_only: bool, on_toggle: EventHandler<usize>) -> Element {
    rsx! { {nodes.iter().map(|node| render(node, read_only, on_toggle))} }
}

fn render(node: &Node, read_only: bool, on_toggle: EventHandler<usize>) -> Element {
    match node {
        Node::Text(text) => rsx! { "{text}" },
        Node::Code(code) => rsx! { code { "{code}" } },
        Node::SoftBreak => rsx! { " " },
        Node::HardBreak => rsx! { br {} },
        Node::Rule => rsx! { hr {} },
        Node::Checkbox { checked, offset } => {
            let offset = *offset;
            rsx! {
                input {
                    r#type: "checkbox",
                    class: "task-box",
                    checked: *checked,
                    disabled: read_only,
                    "aria-label": if *checked { "Done: untick" } else { "To do: tick" },
                    onclick: move |e| {
                        // The note's text decides what is ticked.
                        e.prevent_default();
                        on_toggle.call(offset);
                    },
                }
            }
        }
        Node::Element {
            kind,
            children: inner,
        } => {
            let inside = children(inner, read_only, on_toggle);
            match kind {
                Kind::Paragraph => rsx! { p { {inside} } },
                Kind::Heading(1) => rsx! { h1 { {inside} } },
                Kind::Heading(2) => rsx! { h2 { {inside} } },
                Kind::Heading(3) => rsx! { h3 { {inside} } },
                Kind::Heading(4) => rsx! { h4 { {inside} } },
                Kind::Heading(5) => rsx! { h5 { {inside} } },
                Kind::Heading(_) => rsx! { h6 { {inside} } },
                Kind::Quote => rsx! { blockquote { {inside} } },
                Kind::CodeBlock(lang) => {
                    let lang = lang.clone().unwrap_or_default();
                    rsx! { pre { "data-lang": "{lang}", code { {inside} } } }
                }
                Kind::List(Some(start)) => rsx! { ol { start: "{start}", {inside} } },
                Kind::List(None) => rsx! { ul { {inside} } },
                Kind::Item => {
                    let task = inner.iter().any(|n| matches!(n, Node::Checkbox { .. }));
                    rsx! { li { class: if task { "task" } else { "" }, {inside} } }
                }
                Kind::Emphasis => rsx! { em { {inside} } },
                Kind::Strong => rsx! { strong { {inside} } },
                Kind::Strikethrough => rsx! { del { {inside} } },
                Kind::Link {
                    href: Some(href),
                    target,
                } => rsx! {
                    a { href: "{href}", title: "{target}", target: "_blank", rel: "noopener noreferrer nofollow", {inside} }
                },
                Kind::Link { href: None, target } => rsx! {
                    span { class: "unsafe-link", title: "Not opened: {target}", {inside} }
                },
                Kind::Image { src } => rsx! {
                    span { class: "image-ref", title: "{src}", "Image: " {inside} }
                },
                Kind::Table => rsx! { table { {inside} } },
                Kind::TableHead => rsx! { thead { tr { {inside} } } },
                Kind::TableRow => rsx! { tr { {inside} } },
                Kind::TableCell => rsx! { td { {inside} } },
                Kind::Other => rsx! { div { {inside} } },
            }
        }
    }
}
