//! Task lists: the accessors of [`Workspace`] over the `"task_lists"` root
//! map.
//!
//! Each list is a mergeable map under its id:
//!
//! ```text
//! id          string
//! title       text
//! created_at  i64, updated_at i64, deleted_at i64 (soft delete)
//! items       movable list of maps { id: string, text: text, done: bool,
//!                                    created_at: i64 }
//! ```
//!
//! Each item map is created by the one device that adds the item, so items
//! added concurrently on two devices both survive a merge.

use loro::{Container, LoroMap, LoroMovableList, ValueOrContainer};

use crate::error::SchemaError;
use crate::schema::TASK_LISTS_ROOT;
use crate::value::{boolean, child_map, child_movable_list, int, string, text_or_string};
use crate::workspace::Workspace;

/// One task of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub text: String,
    pub done: bool,
}

/// A task list as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskList {
    pub id: String,
    pub title: String,
    pub items: Vec<Task>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

fn item_maps(items: &LoroMovableList) -> Vec<(usize, LoroMap)> {
    let mut maps = Vec::new();
    for i in 0..items.len() {
        if let Some(ValueOrContainer::Container(Container::Map(m))) = items.get(i) {
            maps.push((i, m));
        }
    }
    maps
}

fn read_list(id: &str, list: &LoroMap) -> TaskList {
    let items = child_movable_list(list, "items")
        .map(|items| {
            item_maps(&items)
                .into_iter()
                .filter_map(|(_, m)| {
                    Some(Task {
                        id: string(&m, "id")?,
                        text: text_or_string(&m, "text"),
                        done: boolean(&m, "done").unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    TaskList {
        id: string(list, "id").unwrap_or_else(|| id.to_owned()),
        title: text_or_string(list, "title"),
        items,
        created_at: int(list, "created_at").unwrap_or(0),
        updated_at: int(list, "updated_at").unwrap_or(0),
        deleted_at: int(list, "deleted_at"),
    }
}

impl Workspace {
    fn lists_root(&self) -> LoroMap {
        self.doc().get_map(TASK_LISTS_ROOT)
    }

    fn list_map(&self, id: &str) -> Result<LoroMap, SchemaError> {
        child_map(&self.lists_root(), id).ok_or_else(|| SchemaError::NoSuchTaskList(id.to_owned()))
    }

    fn item_map(
        &self,
        list_id: &str,
        task_id: &str,
    ) -> Result<(LoroMovableList, usize, LoroMap), SchemaError> {
        let list = self.list_map(list_id)?;
        let items = child_movable_list(&list, "items")
            .ok_or_else(|| SchemaError::NoSuchTask(task_id.to_owned()))?;
        item_maps(&items)
            .into_iter()
            .find(|(_, m)| string(m, "id").as_deref() == Some(task_id))
            .map(|(i, m)| (items.clone(), i, m))
            .ok_or_else(|| SchemaError::NoSuchTask(task_id.to_owned()))
    }

    /// Adds an empty task list.
    pub fn add_task_list(&self, id: &str, title: &str, now: i64) -> Result<TaskList, SchemaError> {
        self.writable()?;
        if id.is_empty() {
            return Err(SchemaError::EmptyId);
        }
        let list = self.lists_root().ensure_mergeable_map(id)?;
        list.insert("id", id)?;
        list.ensure_mergeable_text("title")?.insert(0, title)?;
        list.ensure_mergeable_movable_list("items")?;
        list.insert("created_at", now)?;
        list.insert("updated_at", now)?;
        self.commit();
        Ok(read_list(id, &list))
    }

    /// The task lists not deleted, oldest first.
    pub fn list_task_lists(&self) -> Vec<TaskList> {
        let root = self.lists_root();
        let mut lists: Vec<TaskList> = root
            .keys()
            .filter_map(|k| child_map(&root, &k).map(|m| read_list(&k, &m)))
            .filter(|l| l.deleted_at.is_none())
            .collect();
        lists.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        lists
    }

    /// One task list, deleted or not.
    pub fn get_task_list(&self, id: &str) -> Option<TaskList> {
        child_map(&self.lists_root(), id).map(|m| read_list(id, &m))
    }

    /// Appends a task to a list.
    pub fn add_task(
        &self,
        list_id: &str,
        task_id: &str,
        text: &str,
        now: i64,
    ) -> Result<Task, SchemaError> {
        self.writable()?;
        if task_id.is_empty() {
            return Err(SchemaError::EmptyId);
        }
        let list = self.list_map(list_id)?;
        let items = list.ensure_mergeable_movable_list("items")?;
        let item = items.push_container(LoroMap::new())?;
        item.insert("id", task_id)?;
        item.ensure_mergeable_text("text")?.insert(0, text)?;
        item.insert("done", false)?;
        item.insert("created_at", now)?;
        list.insert("updated_at", now)?;
        self.commit();
        Ok(Task {
            id: task_id.to_owned(),
            text: text.to_owned(),
            done: false,
        })
    }

    /// Flips a task between done and not done; returns the new state.
    pub fn toggle_task(&self, list_id: &str, task_id: &str, now: i64) -> Result<bool, SchemaError> {
        self.writable()?;
        let (_, _, item) = self.item_map(list_id, task_id)?;
        let done = !boolean(&item, "done").unwrap_or(false);
        item.insert("done", done)?;
        self.list_map(list_id)?.insert("updated_at", now)?;
        self.commit();
        Ok(done)
    }

    /// Removes a task from its list.
    pub fn remove_task(&self, list_id: &str, task_id: &str, now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let (items, index, _) = self.item_map(list_id, task_id)?;
        items.delete(index, 1)?;
        self.list_map(list_id)?.insert("updated_at", now)?;
        self.commit();
        Ok(())
    }

    /// Replaces a task's text (diffed, character-level).
    pub fn set_task_text(
        &self,
        list_id: &str,
        task_id: &str,
        text: &str,
        now: i64,
    ) -> Result<(), SchemaError> {
        self.writable()?;
        let (_, _, item) = self.item_map(list_id, task_id)?;
        let field = match crate::value::child_text(&item, "text") {
            Some(t) => t,
            None => item.ensure_mergeable_text("text")?,
        };
        field
            .update(text, loro::UpdateOptions::default())
            .map_err(|e| SchemaError::Malformed(format!("text of task {task_id}: {e}")))?;
        self.list_map(list_id)?.insert("updated_at", now)?;
        self.commit();
        Ok(())
    }

    /// Renames a task list.
    pub fn rename_task_list(&self, id: &str, title: &str, now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let list = self.list_map(id)?;
        let field = match crate::value::child_text(&list, "title") {
            Some(t) => t,
            None => list.ensure_mergeable_text("title")?,
        };
        field
            .update(title, loro::UpdateOptions::default())
            .map_err(|e| SchemaError::Malformed(format!("title of list {id}: {e}")))?;
        list.insert("updated_at", now)?;
        self.commit();
        Ok(())
    }

    /// Takes a task list out of the bin.
    pub fn restore_task_list(&self, id: &str, now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let list = self.list_map(id)?;
        if list.get("deleted_at").is_some() {
            list.delete("deleted_at")?;
        }
        list.insert("updated_at", now)?;
        self.commit();
        Ok(())
    }

    /// Moves a task list to the bin.
    pub fn delete_task_list(&self, id: &str, now: i64) -> Result<(), SchemaError> {
        self.writable()?;
        let list = self.list_map(id)?;
        list.insert("deleted_at", now)?;
        list.insert("updated_at", now)?;
        self.commit();
        Ok(())
    }
}
