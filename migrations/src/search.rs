//! Search as people expect it: case and accents do not matter ("cafe"
//! finds "Café", "lodz" finds "Łódź"), each word of a query matches the
//! start of a word in the text ("caf" finds "café", "fé" does not), every
//! word must match somewhere, and what matched can be shown highlighted.
//!
//! Text is *folded* once, when a note is indexed: lower-cased, its accents
//! dropped (see [`crate::fold_table`]), and cut into words, each kept
//! behind one space (`" cafe au lait"`). A query is folded the same way,
//! so a query word matches the start of a word exactly when the folded text
//! contains it with a space before it: one substring search per word.
//! Scripts written without spaces between words (Chinese, Japanese, Thai,
//! Korean syllables) have no word starts to match, so a query word in them
//! matches anywhere.

use std::ops::Range;

use crate::fold_table::{FOLDED, KEYS};
use crate::tasks::TaskList;

/// Whether a character belongs to a script written without spaces between
/// words, so that a query word in it matches anywhere, not only at a word's
/// start.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF // Thai, Lao
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK Extension A
        | 0x4E00..=0x9FFF // CJK Unified Ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F // CJK Extensions B–F and supplements
    )
}

/// Appends the folded form of one character to `out`; returns whether the
/// character belongs to a word (a letter, a digit, or a combining accent,
/// which folds to nothing).
fn fold_char(c: char, out: &mut String) -> bool {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            return true;
        }
        return false;
    }
    if ('\u{300}'..='\u{36f}').contains(&c) {
        return true;
    }
    if let Ok(key) = u16::try_from(c as u32)
        && let Ok(at) = KEYS.binary_search(&key)
        && let Some(folded) = FOLDED.get(at)
    {
        out.extend(
            folded
                .iter()
                .filter(|&&unit| unit != 0)
                .filter_map(|&unit| char::from_u32(u32::from(unit))),
        );
        return true;
    }
    if c.is_alphanumeric() {
        out.extend(c.to_lowercase());
        return true;
    }
    false
}

/// The folded words of a text, each behind one space: `"Café, au lait!"`
/// becomes `" cafe au lait"`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    fold_into(&mut out, text);
    out
}

/// [`fold`], appended to `out`.
pub fn fold_into(out: &mut String, text: &str) {
    let mut in_word = false;
    for c in text.chars() {
        if !in_word {
            out.push(' ');
        }
        if fold_char(c, out) {
            in_word = true;
        } else {
            if !in_word {
                out.pop();
            }
            in_word = false;
        }
    }
}

/// One word of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    /// The folded word, behind a space when it must match a word's start.
    needle: String,
    /// Whether it matches anywhere (a script without spaces).
    anywhere: bool,
}

impl Word {
    fn bare(&self) -> &str {
        if self.anywhere {
            &self.needle
        } else {
            self.needle.strip_prefix(' ').unwrap_or(&self.needle)
        }
    }
}

/// A search query, folded once and matched against folded texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    words: Vec<Word>,
}

/// A task list that a query found, for the list of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskListHit {
    pub id: String,
    pub title: String,
    /// The first item that matched, when the title alone did not.
    pub item: Option<String>,
}

impl Query {
    pub fn new(raw: &str) -> Self {
        let folded = fold(raw);
        let mut words: Vec<Word> = Vec::new();
        for word in folded.split(' ').filter(|w| !w.is_empty()) {
            let anywhere = word.chars().any(unspaced);
            let needle = if anywhere {
                word.to_owned()
            } else {
                format!(" {word}")
            };
            let word = Word { needle, anywhere };
            if !words.contains(&word) {
                words.push(word);
            }
        }
        Self { words }
    }

    /// Whether the query has no words (only spaces or punctuation).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether every word of the query is in a folded text.
    pub fn found_in(&self, folded: &str) -> bool {
        self.words.iter().all(|w| folded.contains(&w.needle))
    }

    /// Whether every word of the query is in one or the other of two
    /// folded texts.
    pub fn found_in_either(&self, first: &str, second: &str) -> bool {
        self.words
            .iter()
            .all(|w| first.contains(&w.needle) || second.contains(&w.needle))
    }

    /// The byte ranges of `text` that the query's words match, in order and
    /// not overlapping, for highlighting.
    pub fn highlights(&self, text: &str) -> Vec<Range<usize>> {
        let mut ranges = Vec::new();
        if self.words.is_empty() {
            return ranges;
        }
        // The word being read: where it starts in `text`, its folded form,
        // and for each of its characters the folded length after it and
        // where it ends in `text`.
        let mut start = None::<usize>;
        let mut folded = String::new();
        let mut ends: Vec<(usize, usize)> = Vec::new();
        for (at, c) in text.char_indices() {
            if fold_char(c, &mut folded) {
                start.get_or_insert(at);
                ends.push((folded.len(), at + c.len_utf8()));
            } else if let Some(word_start) = start.take() {
                self.mark_word(word_start, &folded, &ends, &mut ranges);
                folded.clear();
                ends.clear();
            }
        }
        if let Some(word_start) = start {
            self.mark_word(word_start, &folded, &ends, &mut ranges);
        }
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        merged
    }

    fn mark_word(
        &self,
        word_start: usize,
        folded: &str,
        ends: &[(usize, usize)],
        out: &mut Vec<Range<usize>>,
    ) {
        for word in &self.words {
            let bare = word.bare();
            if word.anywhere {
                for (at, _) in folded.match_indices(bare) {
                    out.extend(original(word_start, ends, at, at + bare.len()));
                }
            } else if folded.starts_with(bare) {
                out.extend(original(word_start, ends, 0, bare.len()));
            }
        }
    }

    /// `text` cut into pieces, each marked whether the query matched it.
    pub fn pieces<'a>(&self, text: &'a str) -> Vec<(&'a str, bool)> {
        let mut pieces = Vec::new();
        let mut at = 0;
        for range in self.highlights(text) {
            if let Some(plain) = text.get(at..range.start).filter(|p| !p.is_empty()) {
                pieces.push((plain, false));
            }
            if let Some(hit) = text.get(range.clone()) {
                pieces.push((hit, true));
            }
            at = range.end;
        }
        if let Some(rest) = text.get(at..).filter(|p| !p.is_empty()) {
            pieces.push((rest, false));
        }
        pieces
    }

    /// A line of `text` around the first thing the query matched, at most
    /// `max` characters, on one line, with "…" where it was cut; `None`
    /// when nothing matched.
    pub fn snippet(&self, text: &str, max: usize) -> Option<String> {
        let hit = self.highlights(text).first()?.start;
        // A few words of context before the hit, starting at a word.
        let lead: Vec<(usize, char)> = text.get(..hit)?.char_indices().rev().take(30).collect();
        let mut from = lead.last().map_or(hit, |(at, _)| *at);
        if from > 0
            && let Some((at, c)) = lead.iter().rev().find(|(_, c)| c.is_whitespace())
        {
            from = at + c.len_utf8();
        }
        let mut line = String::new();
        if from > 0 {
            line.push('…');
        }
        let mut chars = text.get(from..)?.chars();
        for c in chars.by_ref().take(max) {
            line.push(if c.is_whitespace() { ' ' } else { c });
        }
        if chars.next().is_some() {
            line.push('…');
        }
        Some(line)
    }

    /// The live task lists the query finds (in their titles or items),
    /// title matches first, then the latest changed.
    pub fn task_lists(&self, lists: Vec<TaskList>) -> Vec<TaskListHit> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<(bool, i64, TaskListHit)> = Vec::new();
        for list in lists.into_iter().filter(|l| l.deleted_at.is_none()) {
            let title = fold(&list.title);
            let folded: Vec<String> = list.items.iter().map(|t| fold(&t.text)).collect();
            let in_title = self.found_in(&title);
            if !in_title && !self.found_in_either(&title, &folded.concat()) {
                continue;
            }
            let item = (!in_title)
                .then(|| {
                    let at = folded
                        .iter()
                        .position(|f| self.words.iter().any(|w| f.contains(&w.needle)))?;
                    list.items.get(at).map(|t| t.text.clone())
                })
                .flatten();
            hits.push((
                in_title,
                list.updated_at,
                TaskListHit {
                    id: list.id,
                    title: list.title,
                    item,
                },
            ));
        }
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        hits.into_iter().map(|(_, _, hit)| hit).collect()
    }
}

/// The bytes of the original text that a folded range of one word came
/// from: from the start of the character holding the range's first folded
/// byte to the end of the one holding its last (and any accents after it).
fn original(
    word_start: usize,
    ends: &[(usize, usize)],
    from: usize,
    to: usize,
) -> Option<Range<usize>> {
    let first = ends.iter().position(|(folded, _)| *folded > from)?;
    let start = match first.checked_sub(1) {
        Some(before) => ends.get(before)?.1,
        None => word_start,
    };
    let mut last = ends.iter().position(|(folded, _)| *folded >= to)?;
    while let Some(next) = ends.get(last + 1)
        && ends.get(last).map(|e| e.0) == Some(next.0)
    {
        last += 1;
    }
    Some(start..ends.get(last)?.1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;

    use super::*;
    use crate::tasks::Task;

    fn marked(query: &str, text: &str) -> String {
        Query::new(query)
            .pieces(text)
            .into_iter()
            .map(|(piece, hit)| {
                if hit {
                    format!("[{piece}]")
                } else {
                    piece.to_owned()
                }
            })
            .collect()
    }

    #[test]
    fn folds_case_accents_and_punctuation() {
        assert_eq!(fold("Café, au LAIT!"), " cafe au lait");
        assert_eq!(fold("Łódź Straße"), " lodz strasse");
        assert_eq!(fold("Ærø — Ἀθῆναι"), " aero αθηναι");
        // Typed with combining accents (NFD), the same as precomposed.
        assert_eq!(fold("Cafe\u{301}"), fold("Café"));
        assert_eq!(fold("Việt Nam"), " viet nam");
        assert_eq!(fold("  "), "");
        assert_eq!(fold("ΣΟΦΟΣ σοφός"), " σοφοσ σοφοσ");
    }

    #[test]
    fn every_query_word_matches_the_start_of_a_word() {
        let text = fold("Café au lait, and croissants");
        let found = |q: &str| Query::new(q).found_in(&text);
        assert!(found("cafe"));
        assert!(found("CAF"));
        assert!(found("lait café"));
        assert!(found("cro"));
        assert!(!found("afe"), "not inside a word");
        assert!(!found("cafe tea"), "every word must match");
        assert!(Query::new(" ,. ").is_empty());
        // Scripts without spaces match anywhere.
        let chinese = fold("我喜欢喝咖啡");
        assert!(Query::new("咖啡").found_in(&chinese));
        assert!(!Query::new("茶").found_in(&chinese));
    }

    #[test]
    fn highlights_what_matched_in_the_original_text() {
        assert_eq!(marked("cafe", "Le Café, cafés"), "Le [Café], [café]s");
        assert_eq!(marked("caf lo", "CAFÉ in Łódź"), "[CAF]É in [Łó]dź");
        assert_eq!(
            marked("cafe", "Cafe\u{301} noir"),
            "[Cafe\u{301}] noir",
            "the accent stays with its letter"
        );
        assert_eq!(marked("stra", "Straße"), "[Stra]ße");
        assert_eq!(marked("strass", "Straße"), "[Straß]e");
        assert_eq!(marked("咖啡", "喝咖啡吧"), "喝[咖啡]吧");
        assert_eq!(marked("a ab", "abc"), "[ab]c", "overlaps merge");
        assert_eq!(marked("", "abc"), "abc");
    }

    #[test]
    fn a_snippet_shows_the_first_hit_with_some_context() {
        let query = Query::new("butter");
        let body = "Shopping\n\nfirst the eggs and the milk, then some flour and sugar, and butter for the cake that we are baking on Sunday";
        let snippet = query.snippet(body, 60).unwrap();
        assert!(snippet.starts_with('…'), "{snippet}");
        assert!(snippet.contains("butter"), "{snippet}");
        assert!(snippet.ends_with('…'), "{snippet}");
        assert!(!snippet.contains('\n'));
        assert_eq!(query.snippet("butter", 60).unwrap(), "butter");
        assert_eq!(query.snippet("no hit here", 60), None);
    }

    #[test]
    fn task_lists_are_found_by_title_then_item() {
        let list = |id: &str, title: &str, items: &[&str], at: i64| TaskList {
            id: id.into(),
            title: title.into(),
            items: items
                .iter()
                .map(|t| Task {
                    id: (*t).into(),
                    text: (*t).into(),
                    done: false,
                })
                .collect(),
            created_at: at,
            updated_at: at,
            deleted_at: None,
        };
        let lists = vec![
            list("a", "Weekend", &["Buy crème fraîche", "Call mum"], 3),
            list("b", "Crèmerie order", &[], 1),
            list("c", "Chores", &["sweep"], 5),
        ];
        let hits = Query::new("creme").task_lists(lists);
        assert_eq!(
            hits,
            [
                TaskListHit {
                    id: "b".into(),
                    title: "Crèmerie order".into(),
                    item: None
                },
                TaskListHit {
                    id: "a".into(),
                    title: "Weekend".into(),
                    item: Some("Buy crème fraîche".into())
                },
            ]
        );
        assert!(Query::new("").task_lists(Vec::new()).is_empty());
    }

    /// The generated table says what Unicode's decompositions say, for
    /// every letter of the ranges it covers.
    #[test]
    fn the_fold_table_matches_unicode() {
        assert!(KEYS.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert_eq!(KEYS.len(), FOLDED.len());
        let ranges = [
            '\u{c0}'..='\u{24f}',
            '\u{370}'..='\u{3ff}',
            '\u{1e00}'..='\u{1eff}',
            '\u{1f00}'..='\u{1fff}',
        ];
        let by_hand = "ßẞæÆœŒøØđĐðÐłŁþÞıħĦŧŦŀĿƀɨƗſς";
        let mut checked = 0;
        for c in ranges.into_iter().flatten().filter(|c| c.is_alphabetic()) {
            let decomposed: String = c
                .nfd()
                .filter(|m| !is_combining_mark(*m))
                .flat_map(char::to_lowercase)
                .collect();
            if decomposed.chars().any(|d| by_hand.contains(d)) || by_hand.contains(c) {
                continue;
            }
            let lower: String = c.to_lowercase().collect();
            let mut folded = String::new();
            fold_char(c, &mut folded);
            if decomposed == lower {
                assert_eq!(folded, lower, "{c} ({:04x}) has no accent", c as u32);
            } else {
                assert_eq!(folded, decomposed, "{c} ({:04x})", c as u32);
                checked += 1;
            }
        }
        assert!(checked > 400, "{checked}");
    }
}
