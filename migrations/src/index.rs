//! [`NoteIndex`]: the notes list as the notes screen shows it (live notes,
//! pinned first, then the most recently changed), kept in step with the
//! document one note at a time.
//!
//! Reading every note out of the document costs milliseconds per thousand
//! notes, so the list must not be rebuilt on each keystroke. The index
//! subscribes to the document's events: each commit or import names the
//! notes it changed, and [`NoteIndex::catch_up`] re-reads only those. A
//! search scans the index's folded text ([`crate::search`]), never the
//! document, and ranks what it finds: title matches first, then the latest
//! changed.
//!
//! Reading 10,000 notes out of a freshly loaded document takes most of a
//! second, so the index is also kept between starts: [`NoteIndex::to_cache`]
//! writes it with the document version it matches (JSON: `{"format": 2,
//! "frontiers": [bytes of Loro's encoded frontiers], "notes": [...]}`), and
//! [`NoteIndex::from_cache`] starts from it, re-reading only the notes that
//! changed since that version (a Loro diff). A cache that cannot be read
//! or compared is ignored and the index is read afresh.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use loro::event::{Diff, DiffEvent};
use loro::{ContainerID, Frontiers, Index, Subscription};
use serde::{Deserialize, Serialize};

use crate::notes::Note;
use crate::schema::NOTES_ROOT;
use crate::search::{Query, fold, fold_into};
use crate::workspace::Workspace;

/// Above this many changed notes in one go, the index is rebuilt instead.
const REBUILD_ABOVE: usize = 2_000;

/// One row of the notes list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSummary {
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub pinned: bool,
    pub updated_at: i64,
    /// The title, folded for search.
    title_words: String,
    /// The body and tags, folded for search.
    words: String,
}

impl NoteSummary {
    fn of(note: Note) -> Self {
        let mut words = fold(&note.body);
        for tag in &note.tags {
            fold_into(&mut words, tag);
        }
        Self {
            id: note.id,
            title_words: fold(&note.title),
            title: note.title,
            tags: note.tags,
            pinned: note.pinned,
            updated_at: note.updated_at,
            words,
        }
    }

    fn has_tag(&self, tag: Option<&str>) -> bool {
        tag.is_none_or(|tag| self.tags.iter().any(|t| t == tag))
    }
}

/// Display order: pinned first, then the latest change first, then by id
/// (so that the order is total and the same on every device).
fn before(a: &NoteSummary, b: &NoteSummary) -> std::cmp::Ordering {
    b.pinned
        .cmp(&a.pinned)
        .then(b.updated_at.cmp(&a.updated_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// The index as kept between starts.
#[derive(Serialize, Deserialize)]
struct Cache {
    format: u32,
    frontiers: Vec<u8>,
    notes: Vec<NoteSummary>,
}

/// 2: notes' text folded for search (accents, word starts).
const CACHE_FORMAT: u32 = 2;

/// A kept notes list, read (its JSON parsed, its rows in display order)
/// but not yet compared with a document. Reading 10,000 rows takes
/// milliseconds, so an app can read it while it waits for its document,
/// then start the index with [`NoteIndex::from_kept`].
pub struct KeptList(Cache);

impl KeptList {
    /// `None` if `cache` is not a kept list of this format.
    pub fn read(cache: &[u8]) -> Option<KeptList> {
        let mut cache = serde_json::from_slice::<Cache>(cache)
            .ok()
            .filter(|c| c.format == CACHE_FORMAT)?;
        cache.notes.sort_by(before);
        Some(KeptList(cache))
    }
}

/// What the document's events have changed since the index last caught up.
#[derive(Debug, Default)]
enum Pending {
    #[default]
    Nothing,
    Notes(BTreeSet<String>),
    Everything,
}

impl Pending {
    fn add(&mut self, id: &str) {
        match self {
            Pending::Everything => {}
            Pending::Nothing => *self = Pending::Notes(BTreeSet::from([id.to_owned()])),
            Pending::Notes(ids) => {
                ids.insert(id.to_owned());
                if ids.len() > REBUILD_ABOVE {
                    *self = Pending::Everything;
                }
            }
        }
    }
}

/// The live notes in display order, with their tags.
pub struct NoteIndex {
    notes: Vec<NoteSummary>,
    /// Tag -> how many live notes carry it.
    tags: BTreeMap<String, usize>,
    pending: Arc<Mutex<Pending>>,
    /// Whether notes were read since the index was last kept (or started
    /// from a cache that needed nothing re-read).
    unkept: bool,
    /// Held so that the document keeps reporting changes.
    _subscription: Subscription,
}

impl std::fmt::Debug for NoteIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteIndex")
            .field("notes", &self.notes.len())
            .field("tags", &self.tags.len())
            .finish()
    }
}

impl NoteIndex {
    /// Reads every live note once, and from then on follows the document.
    pub fn new(workspace: &Workspace) -> Self {
        let mut index = Self::following(workspace);
        index.rebuild(workspace);
        index
    }

    /// An empty index subscribed to the document.
    fn following(workspace: &Workspace) -> Self {
        let pending = Arc::new(Mutex::new(Pending::Nothing));
        let sink = pending.clone();
        let subscription = workspace
            .doc()
            .subscribe_root(Arc::new(move |event| record(&sink, &event)));
        Self {
            notes: Vec::new(),
            tags: BTreeMap::new(),
            pending,
            unkept: false,
            _subscription: subscription,
        }
    }

    /// Starts from a cache written by [`Self::to_cache`], re-reading only
    /// the notes changed since; reads everything if the cache is unusable.
    /// Returns whether the cache was used.
    pub fn from_cache(workspace: &Workspace, cache: &[u8]) -> (Self, bool) {
        Self::from_kept(workspace, KeptList::read(cache))
    }

    /// [`Self::from_cache`] with the cache already read (see [`KeptList`]).
    pub fn from_kept(workspace: &Workspace, kept: Option<KeptList>) -> (Self, bool) {
        let mut index = Self::following(workspace);
        let doc = workspace.doc();
        let usable = kept.and_then(|KeptList(c)| {
            let from = Frontiers::decode(&c.frontiers).ok()?;
            let touched = crate::touched::touched_between(doc, &from, &doc.oplog_frontiers())?;
            (touched.notes.len() <= REBUILD_ABOVE).then_some((c.notes, touched.notes))
        });
        let Some((notes, touched)) = usable else {
            index.rebuild(workspace);
            return (index, false);
        };
        index.notes = notes;
        index.count_tags();
        for id in touched {
            index.reread(workspace, &id);
        }
        (index, true)
    }

    /// Whether notes changed since the index was last kept: keeping it
    /// again would write what the cache already says.
    pub fn needs_keeping(&self) -> bool {
        self.unkept
    }

    /// The index with the document version it matches, for
    /// [`Self::from_cache`] at the next start; from here on it counts as
    /// kept. Catch up first.
    pub fn to_cache(&mut self, workspace: &Workspace) -> Vec<u8> {
        self.unkept = false;
        let cache = Cache {
            format: CACHE_FORMAT,
            frontiers: workspace.doc().oplog_frontiers().encode(),
            notes: self.notes.clone(),
        };
        serde_json::to_vec(&cache).unwrap_or_default()
    }

    fn count_tags(&mut self) {
        self.tags.clear();
        for note in &self.notes {
            for tag in &note.tags {
                *self.tags.entry(tag.clone()).or_default() += 1;
            }
        }
    }

    fn rebuild(&mut self, workspace: &Workspace) {
        self.notes = workspace
            .list_notes(crate::NoteFilter::Live)
            .into_iter()
            .map(NoteSummary::of)
            .collect();
        self.notes.sort_by(before);
        self.count_tags();
        self.unkept = true;
    }

    /// Re-reads the notes changed since the last call (a keystroke: one
    /// note). Returns whether anything was re-read.
    pub fn catch_up(&mut self, workspace: &Workspace) -> bool {
        let pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        match pending {
            Pending::Nothing => false,
            Pending::Everything => {
                self.rebuild(workspace);
                true
            }
            Pending::Notes(ids) => {
                for id in ids {
                    self.reread(workspace, &id);
                }
                true
            }
        }
    }

    fn reread(&mut self, workspace: &Workspace, id: &str) {
        self.unkept = true;
        if let Some(at) = self.notes.iter().position(|n| n.id == id) {
            let old = self.notes.remove(at);
            for tag in &old.tags {
                if let Some(count) = self.tags.get_mut(tag) {
                    *count -= 1;
                    if *count == 0 {
                        self.tags.remove(tag);
                    }
                }
            }
        }
        let Some(note) = workspace.get_note(id).filter(|n| n.deleted_at.is_none()) else {
            return;
        };
        let summary = NoteSummary::of(note);
        for tag in &summary.tags {
            *self.tags.entry(tag.clone()).or_default() += 1;
        }
        let at = self.notes.partition_point(|n| before(n, &summary).is_lt());
        self.notes.insert(at, summary);
    }

    /// How many live notes there are.
    pub fn len(&self) -> usize {
        self.notes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// Every tag in use, sorted.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.tags.keys().map(String::as_str)
    }

    /// The positions of the notes carrying a tag (any, for `None`) and
    /// matching a search over title, body and tags ([`Query`]): with no
    /// search, in display order; with one, ranked: notes whose title has
    /// every word first, then the latest changed.
    pub fn search(&self, query: &str, tag: Option<&str>) -> Vec<usize> {
        self.search_with(&Query::new(query), tag)
    }

    /// [`Self::search`] with a query already folded (the notes screen
    /// folds it once per keystroke for the list and its highlights).
    pub fn search_with(&self, query: &Query, tag: Option<&str>) -> Vec<usize> {
        let tagged = self
            .notes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.has_tag(tag));
        if query.is_empty() {
            return tagged.map(|(i, _)| i).collect();
        }
        // (title has every word, note, position), best first.
        let mut hits: Vec<(bool, &NoteSummary, usize)> = tagged
            .filter_map(|(i, note)| {
                if query.found_in(&note.title_words) {
                    Some((true, note, i))
                } else {
                    query
                        .found_in_either(&note.title_words, &note.words)
                        .then_some((false, note, i))
                }
            })
            .collect();
        hits.sort_by(|(a_title, a, _), (b_title, b, _)| {
            b_title
                .cmp(a_title)
                .then(b.updated_at.cmp(&a.updated_at))
                .then_with(|| a.id.cmp(&b.id))
        });
        hits.into_iter().map(|(_, _, i)| i).collect()
    }

    /// The note at a position of the display order.
    pub fn get(&self, at: usize) -> Option<&NoteSummary> {
        self.notes.get(at)
    }
}

/// Notes the event touched: a change inside a note (its title, body, tags)
/// has a path through `notes/{id}`; adding or removing notes is a change of
/// the notes root itself.
fn record(pending: &Mutex<Pending>, event: &DiffEvent<'_>) {
    let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
    for change in &event.events {
        let in_notes = matches!(
            change.path.first(),
            Some((ContainerID::Root { name, .. }, _)) if name.as_str() == NOTES_ROOT
        );
        if !in_notes {
            continue;
        }
        match change.path.get(1) {
            Some((_, Index::Key(id))) => pending.add(id),
            Some(_) => {}
            None => match &change.diff {
                Diff::Map(map) => {
                    for id in map.updated.keys() {
                        pending.add(id);
                    }
                }
                _ => *pending = Pending::Everything,
            },
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
