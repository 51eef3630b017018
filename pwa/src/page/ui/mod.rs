//! The Dioxus components of the app.
//!
//! - [`cache`]: attached files on this device: their size, its limit,
//!   clearing.
//! - [`connect`]: the Sync screen: status, connecting to a server, joining.
//! - [`data`]: export, import, and the browser's storage.
//! - [`device_keys`]: each device's key fingerprint and the warnings
//!   the device list shows (a key the server swapped, one not recorded).
//! - [`devices`]: pairing a device (link and QR code), the device list.
//! - [`encrypt`]: encrypting a workspace made before Hearth encrypted.
//! - [`files`]: a note's attached files (images inline, downloads).
//! - [`interchange`]: notes from other apps in, Markdown out.
//! - [`pair`]: joining from a pairing link.
//! - [`recovery`]: the recovery key: shown once, replaced, and used to get
//!   a workspace back on a new device.
//! - [`notes`]: the notes list with search and tag filter, and the editor;
//!   [`note_list`]: the list's rows, counts and search results.
//! - [`lock`]: the lock screen and Data → "App lock".
//! - [`keys`]: keyboard shortcuts of the notes screen and their list.
//! - [`markdown`]: a note's reading view (its Markdown, rendered inert).
//! - [`tasks`]: task lists with check boxes.
//! - [`toast`]: the undo toast and the error line.

pub mod cache;
pub mod connect;
pub mod data;
pub mod device_keys;
pub mod devices;
pub mod encrypt;
pub mod files;
pub mod interchange;
pub mod keys;
pub mod lock;
pub mod markdown;
pub mod note_list;
pub mod notes;
pub mod pair;
pub mod recovery;
pub mod share;
pub mod tasks;
pub mod toast;
