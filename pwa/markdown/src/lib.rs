//! `hearth-markdown`: a note's body, read as CommonMark (with task lists
//! and strikethrough), as a tree of [`Node`]s that the app renders with its
//! own elements.
//!
//! Nothing in a note ever runs, by construction: the tree has no node for
//! raw HTML (HTML in a note is kept as the text it is), a link keeps its
//! target only if it is `http:`, `https:`, `mailto:` or a `#fragment`
//! ([`safe_href`]), and an image becomes its description and address, never
//! a request. The app renders the tree with no `innerHTML`.
//!
//! A task checkbox carries the byte offset of its `[ ]` in the body, so that
//! ticking it in the rendered view is a one-character edit of the text
//! ([`toggle_task`]) that syncs like any other.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// A piece of a rendered note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An element and what is inside it.
    Element {
        kind: Kind,
        children: Vec<Node>,
    },
    /// Text, shown as it is (this includes any HTML the note holds).
    Text(String),
    /// Inline code.
    Code(String),
    /// A task checkbox; `offset` is where its `[` stands in the body.
    Checkbox {
        checked: bool,
        offset: usize,
    },
    SoftBreak,
    HardBreak,
    Rule,
}

/// What an element is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Paragraph,
    /// 1 to 6.
    Heading(u8),
    Quote,
    /// A fenced or indented code block, with its language if one was named.
    CodeBlock(Option<String>),
    /// `Some(first number)` for an ordered list.
    List(Option<u64>),
    Item,
    Emphasis,
    Strong,
    Strikethrough,
    /// A link; `href` is `None` when the target is not safe to follow (it
    /// is then shown as text, with the target beside it).
    Link {
        href: Option<String>,
        target: String,
    },
    /// An image, shown as its description (the children) and address,
    /// never loaded.
    Image {
        src: String,
    },
    Table,
    TableHead,
    TableRow,
    TableCell,
    /// Anything else CommonMark has (footnotes, definitions): its contents.
    Other,
}

/// Parses a note's body.
pub fn parse(body: &str) -> Vec<Node> {
    let options =
        Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES;
    // The root, then one entry per open element.
    let mut stack: Vec<(Kind, Vec<Node>)> = vec![(Kind::Other, Vec::new())];
    for (event, range) in Parser::new_ext(body, options).into_offset_iter() {
        match event {
            Event::Start(tag) => stack.push((kind_of(tag), Vec::new())),
            Event::End(end) => {
                // The root is never popped: an End always has its Start.
                if stack.len() > 1
                    && let Some((kind, children)) = stack.pop()
                {
                    let node = match (end, kind) {
                        (TagEnd::CodeBlock, kind) => Node::Element {
                            kind,
                            children: vec![Node::Text(text_of(&children))],
                        },
                        (_, kind) => Node::Element { kind, children },
                    };
                    push(&mut stack, node);
                }
            }
            Event::Text(text) => push_text(&mut stack, &text),
            // HTML is shown as the text it is: it never becomes markup.
            Event::Html(html) | Event::InlineHtml(html) => push_text(&mut stack, &html),
            Event::Code(code) => push(&mut stack, Node::Code(code.into_string())),
            Event::InlineMath(math) | Event::DisplayMath(math) => {
                push(&mut stack, Node::Code(math.into_string()))
            }
            Event::FootnoteReference(name) => push_text(&mut stack, &format!("[^{name}]")),
            Event::SoftBreak => push(&mut stack, Node::SoftBreak),
            Event::HardBreak => push(&mut stack, Node::HardBreak),
            Event::Rule => push(&mut stack, Node::Rule),
            Event::TaskListMarker(checked) => push(
                &mut stack,
                Node::Checkbox {
                    checked,
                    offset: range.start,
                },
            ),
        }
    }
    // Close whatever is open (a parser always closes; this is a guard).
    while stack.len() > 1 {
        if let Some((kind, children)) = stack.pop() {
            push(&mut stack, Node::Element { kind, children });
        }
    }
    stack
        .pop()
        .map(|(_, children)| children)
        .unwrap_or_default()
}

fn push(stack: &mut [(Kind, Vec<Node>)], node: Node) {
    if let Some((_, children)) = stack.last_mut() {
        children.push(node);
    }
}

/// Appends text, joining it to text just before (the parser splits text
/// at every special character).
fn push_text(stack: &mut [(Kind, Vec<Node>)], text: &str) {
    if let Some((_, children)) = stack.last_mut() {
        if let Some(Node::Text(last)) = children.last_mut() {
            last.push_str(text);
        } else {
            children.push(Node::Text(text.to_owned()));
        }
    }
}

fn text_of(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Text(t) | Node::Code(t) => out.push_str(t),
            Node::Element { children, .. } => out.push_str(&text_of(children)),
            Node::SoftBreak | Node::HardBreak => out.push('\n'),
            Node::Checkbox { .. } | Node::Rule => {}
        }
    }
    out
}

fn kind_of(tag: Tag<'_>) -> Kind {
    match tag {
        Tag::Paragraph => Kind::Paragraph,
        Tag::Heading { level, .. } => Kind::Heading(match level {
            HeadingLevel::H1 => 1,
            HeadingLevel::H2 => 2,
            HeadingLevel::H3 => 3,
            HeadingLevel::H4 => 4,
            HeadingLevel::H5 => 5,
            HeadingLevel::H6 => 6,
        }),
        Tag::BlockQuote(_) => Kind::Quote,
        Tag::CodeBlock(CodeBlockKind::Fenced(lang)) => {
            let lang = lang
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            Kind::CodeBlock((!lang.is_empty()).then_some(lang))
        }
        Tag::CodeBlock(CodeBlockKind::Indented) => Kind::CodeBlock(None),
        Tag::List(start) => Kind::List(start),
        Tag::Item => Kind::Item,
        Tag::Emphasis => Kind::Emphasis,
        Tag::Strong => Kind::Strong,
        Tag::Strikethrough => Kind::Strikethrough,
        Tag::Link { dest_url, .. } => Kind::Link {
            href: safe_href(&dest_url),
            target: dest_url.into_string(),
        },
        Tag::Image { dest_url, .. } => Kind::Image {
            src: dest_url.into_string(),
        },
        Tag::Table(_) => Kind::Table,
        Tag::TableHead => Kind::TableHead,
        Tag::TableRow => Kind::TableRow,
        Tag::TableCell => Kind::TableCell,
        _ => Kind::Other,
    }
}

/// The link target if it is safe to follow: `http:`, `https:` or `mailto:`
/// (however it is spelt: browsers ignore case, tabs and newlines in a
/// scheme), or a `#fragment`. Everything else (`javascript:`, `data:`,
/// `vbscript:`, paths into the app) is `None`.
pub fn safe_href(target: &str) -> Option<String> {
    let cleaned: String = target
        .trim()
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .collect();
    if cleaned.starts_with('#') {
        return Some(cleaned);
    }
    let scheme_end = cleaned.find(':')?;
    let (scheme, _) = cleaned.split_at(scheme_end);
    let scheme = scheme.to_ascii_lowercase();
    matches!(scheme.as_str(), "http" | "https" | "mailto").then_some(cleaned)
}

/// The edit that ticks or unticks the checkbox at `offset` (from
/// [`Node::Checkbox`]): the character position of the mark in `body` and
/// the character to put there. `None` if `body` changed so that no
/// checkbox stands at `offset` any more.
pub fn toggle_task(body: &str, offset: usize) -> Option<(usize, char)> {
    let marker = body.get(offset..offset.checked_add(3)?)?;
    let next = match marker {
        "[ ]" => 'x',
        "[x]" | "[X]" => ' ',
        _ => return None,
    };
    let position = body.get(..offset)?.chars().count() + 1;
    Some((position, next))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn all_text(nodes: &[Node]) -> String {
        text_of(nodes)
    }

    /// Every link target in the tree that would be followed.
    fn hrefs(nodes: &[Node], out: &mut Vec<String>) {
        for node in nodes {
            if let Node::Element { kind, children } = node {
                if let Kind::Link { href: Some(h), .. } = kind {
                    out.push(h.clone());
                }
                hrefs(children, out);
            }
        }
    }

    #[test]
    fn headings_lists_links_and_code() {
        let tree = parse(
            "# Title\n\n- one\n- **two** [site](https://example.org)\n\n`x` and\n\n```rust\nfn main() {}\n```\n",
        );
        assert!(matches!(
            &tree[0],
            Node::Element {
                kind: Kind::Heading(1),
                ..
            }
        ));
        assert!(
            matches!(&tree[1], Node::Element { kind: Kind::List(None), children } if children.len() == 2)
        );
        let mut links = Vec::new();
        hrefs(&tree, &mut links);
        assert_eq!(links, ["https://example.org"]);
        assert!(tree.iter().any(
            |n| matches!(n, Node::Element { kind: Kind::CodeBlock(Some(l)), children }
            if l == "rust" && children == &vec![Node::Text("fn main() {}\n".into())])
        ));
    }

    #[test]
    fn html_in_a_note_is_only_text() {
        for body in [
            "<script>window.pwned = 1</script>",
            "<img src=x onerror=\"window.pwned = 1\">",
            "hello <b onclick=\"x()\">bold</b>",
            "<iframe src=\"https://example.org\"></iframe>",
            "<div>\n\n*inside*\n\n</div>",
        ] {
            let tree = parse(body);
            let text = all_text(&tree);
            // The markup is still there, as characters to read.
            assert!(text.contains('<'), "{body:?} lost its text: {text:?}");
            let mut links = Vec::new();
            hrefs(&tree, &mut links);
            assert!(links.is_empty());
        }
    }

    #[test]
    fn only_safe_links_are_followed() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "/v1/workspaces",
            "file:///etc/passwd",
            "",
        ] {
            assert_eq!(safe_href(bad), None, "{bad:?}");
        }
        for good in [
            "https://example.org/a?b#c",
            "http://x",
            "mailto:me@example.org",
            "#top",
            "HTTPS://X",
        ] {
            assert!(safe_href(good).is_some(), "{good:?}");
        }
        let tree = parse("[click](javascript:alert(1)) and <javascript:alert(2)>");
        let mut links = Vec::new();
        hrefs(&tree, &mut links);
        assert!(links.is_empty(), "{links:?}");
    }

    #[test]
    fn images_are_never_loaded() {
        let tree = parse("![a cat](https://example.org/cat.png)");
        let Node::Element { children, .. } = &tree[0] else {
            panic!("{tree:?}")
        };
        assert_eq!(
            children,
            &vec![Node::Element {
                kind: Kind::Image {
                    src: "https://example.org/cat.png".into()
                },
                children: vec![Node::Text("a cat".into())]
            }]
        );
    }

    #[test]
    fn ticking_a_checkbox_is_a_one_character_edit() {
        let body = "Shopping ✓\n- [ ] milk\n- [x] bread\n";
        let tree = parse(body);
        let mut boxes = Vec::new();
        fn find(nodes: &[Node], out: &mut Vec<(bool, usize)>) {
            for node in nodes {
                match node {
                    Node::Checkbox { checked, offset } => out.push((*checked, *offset)),
                    Node::Element { children, .. } => find(children, out),
                    _ => {}
                }
            }
        }
        find(&tree, &mut boxes);
        assert_eq!(boxes.len(), 2);
        assert!(!boxes[0].0);
        assert!(boxes[1].0);
        // Positions count characters (the ✓ is one), as the text type does.
        let (pos, mark) = toggle_task(body, boxes[0].1).unwrap();
        assert_eq!(mark, 'x');
        let mut chars: Vec<char> = body.chars().collect();
        chars[pos] = mark;
        let ticked: String = chars.into_iter().collect();
        assert!(ticked.contains("- [x] milk"));
        assert_eq!(toggle_task(body, boxes[1].1).map(|(_, m)| m), Some(' '));
        // A stale offset, or one inside a character, is no edit.
        assert_eq!(toggle_task(body, 1), None);
        assert_eq!(toggle_task(body, 10), None);
        assert_eq!(toggle_task(body, usize::MAX), None);
        assert_eq!(toggle_task("", 0), None);
    }

    #[test]
    fn any_text_parses_without_panicking() {
        let mut seed = 7u64;
        let alphabet = [
            '[', ']', ' ', 'x', '-', '*', '#', '<', '>', '`', '\n', '|', 'é', '!', '(', ')', ':',
        ];
        for _ in 0..2_000 {
            let body: String = (0..40)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            let tree = parse(&body);
            let mut stack = tree;
            while let Some(node) = stack.pop() {
                match node {
                    Node::Checkbox { offset, .. } => {
                        assert!(toggle_task(&body, offset).is_some(), "{body:?}")
                    }
                    Node::Element { children, .. } => stack.extend(children),
                    _ => {}
                }
            }
        }
    }
}
