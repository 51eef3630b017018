//! The app lock on the page: the gate every start passes (with the lock
//! on, nothing of the workspaces is read until the passcode opens the lock
//! key), locking after the chosen idle time or at once (a reload: the
//! page's and the worker's memory go with it), and turning the lock on
//! and off. The screens are in [`crate::page::ui::lock`]; the keys in
//! [`crate::lock`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use dioxus::prelude::*;
use futures::channel::oneshot;
use hearth_shared::applock::LockKey;
use hearth_storage::lock::LockRecord;
use rexie::Rexie;
use wasm_bindgen::JsCast as _;
use wasm_bindgen::closure::Closure;

use crate::platform::now_ms;

/// The idle minutes after which the app locks, while the lock is on.
pub static IDLE_MINUTES: GlobalSignal<Option<u32>> = Signal::global(|| None);

/// The idle times offered, in minutes, and the default.
pub const IDLE_CHOICES: [(u32, &str); 4] = [
    (1, "1 minute"),
    (5, "5 minutes"),
    (15, "15 minutes"),
    (60, "1 hour"),
];
pub const DEFAULT_IDLE: u32 = 5;

thread_local! {
    /// Where the lock screen hands the opened key to the waiting start.
    static WAITING: RefCell<Option<oneshot::Sender<LockKey>>> = const { RefCell::new(None) };
    /// The lock key, while the lock is on and open.
    static KEY: RefCell<Option<LockKey>> = const { RefCell::new(None) };
    /// The line to the worker, whose unsaved edits a lock waits for.
    static LINK: RefCell<Option<Rc<crate::page::link::WorkerLink>>> = const { RefCell::new(None) };
}

/// Lets a lock wait for `link`'s edits to be durable before the page
/// starts again.
pub fn watch_saves(link: Rc<crate::page::link::WorkerLink>) {
    LINK.with(|l| *l.borrow_mut() = Some(link));
}

/// Waits (two seconds at most) until every edit sent to the worker is
/// durable: a reload would abort a save under way.
async fn saves_done() {
    for _ in 0..80 {
        let unsaved = LINK.with(|l| l.borrow().as_ref().map_or(0, |link| link.in_flight()));
        if unsaved == 0 {
            return;
        }
        crate::platform::sleep_ms(25).await;
    }
}

fn keep_key(key: Option<&LockKey>) {
    KEY.with(|k| *k.borrow_mut() = key.cloned());
}

/// Wraps the lock key for `record`'s recovery key as this device now
/// keeps it (a new one was just made), in place of the old one's; nothing
/// to do with the lock off. A failure leaves the passcode as the way in.
pub async fn rewrap_recovery(db: &Rexie, record: &crate::device::DeviceRecord) {
    let Some(key) = KEY.with(|k| k.borrow().clone()) else {
        return;
    };
    let Ok(Some(mut lock)) = hearth_storage::lock::load(db).await else {
        return;
    };
    lock.recovery.retain(|r| r.workspace != record.workspace_id);
    lock.recovery.extend(crate::lock::new_recovery_unlocks(
        &key,
        std::slice::from_ref(record),
    ));
    if let Err(e) = hearth_storage::lock::save(db, &lock).await {
        crate::platform::log(&format!("the app lock keeps the old recovery key: {e}"));
    }
}

/// Passes the app lock: `Ok(None)` if it is off; else shows the lock
/// screen (`show`, with `None` if the lock record is damaged) and waits
/// for it to open the lock key, which is then installed on the page.
pub async fn gate(
    db: &Rexie,
    show: impl FnOnce(Option<LockRecord>),
) -> Result<Option<LockKey>, String> {
    let lock = match hearth_storage::lock::load(db).await {
        Ok(None) => return Ok(None),
        Ok(Some(lock)) => Some(lock),
        Err(hearth_shared::store::StoreError::Corrupt(_)) => None,
        Err(e) => return Err(e.to_string()),
    };
    let (tx, rx) = oneshot::channel();
    WAITING.with(|w| *w.borrow_mut() = Some(tx));
    *IDLE_MINUTES.write() = lock.as_ref().map(idle_of);
    show(lock);
    let key = rx
        .await
        .map_err(|_| "the lock screen closed before unlocking".to_owned())?;
    crate::lock::install(&key);
    keep_key(Some(&key));
    Ok(Some(key))
}

/// The lock screen opened the lock key: the start goes on.
pub fn opened(key: LockKey) {
    if let Some(tx) = WAITING.with(|w| w.borrow_mut().take()) {
        let _ = tx.send(key);
    }
}

/// The idle time a lock record asks for, within what the app offers.
fn idle_of(lock: &LockRecord) -> u32 {
    lock.idle_minutes.clamp(1, 24 * 60)
}

/// Locks now: once the last edits are saved, the page starts again, at
/// the lock screen, and nothing of what it and the sync worker held in
/// memory survives; so do the app's other tabs.
pub fn lock_now() {
    wasm_bindgen_futures::spawn_local(async {
        saves_done().await;
        tell_other_tabs();
        start_again();
    });
}

fn start_again() {
    hearth_storage::lock::forget_key();
    keep_key(None);
    crate::platform::reload();
}

/// For a forgotten passcode: removes the lock with every workspace this
/// device holds (see `hearth_storage::lock::forget`), and starts every
/// tab again.
pub async fn remove_with_everything(db: &Rexie) -> Result<(), String> {
    // The tab that syncs starts again (at the lock screen) and lets go of
    // the workspace first, so no worker writes under the deletion.
    tell_other_tabs();
    if !crate::tabs::acquire(5_000, || {}).await {
        return Err("Another tab of Hearth is still busy: close it, then try again.".into());
    }
    hearth_storage::lock::forget(db)
        .await
        .map_err(|e| e.to_string())
}

/// The lock record as stored now (another tab may have changed its
/// passcode or device unlock since this screen read it), else `shown`.
pub async fn current_record(shown: &LockRecord) -> LockRecord {
    match crate::idb::open(crate::idb::DB_NAME).await {
        Ok(db) => match hearth_storage::lock::load(&db).await {
            Ok(Some(lock)) => lock,
            _ => shown.clone(),
        },
        Err(_) => shown.clone(),
    }
}

/// The channel on which a tab tells the others to start again (the lock
/// was used, or turned on or off).
const CHANNEL: &str = "hearth-lock";

thread_local! {
    static TABS: RefCell<Option<web_sys::BroadcastChannel>> = const { RefCell::new(None) };
}

fn tell_other_tabs() {
    TABS.with(|t| {
        if let Some(channel) = t.borrow().as_ref() {
            let _ = channel.post_message(&"again".into());
        }
    });
}

/// Listens for the other tabs: when one locks, or turns the lock on or
/// off, this one starts again too (at the lock screen if it is on).
pub fn use_other_tabs() {
    use_hook(|| {
        let Ok(channel) = web_sys::BroadcastChannel::new(CHANNEL) else {
            return;
        };
        let on_message = Closure::<dyn FnMut()>::new(|| {
            wasm_bindgen_futures::spawn_local(async {
                saves_done().await;
                start_again();
            });
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        TABS.with(|t| *t.borrow_mut() = Some(channel));
    });
}

/// Whether `idle_ms` of no touch or key is past `minutes`.
pub fn is_idle(idle_ms: i64, minutes: u32) -> bool {
    idle_ms >= i64::from(minutes) * 60_000
}

/// Where the tabs keep the time of the last touch or key in any of them
/// (`localStorage`, shared by the tabs): one tab left alone does not lock
/// the one in use.
const TOUCHED: &str = "hearth-lock-touched";

fn shared_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The last touch or key in any tab.
fn last_touch(here: i64) -> i64 {
    let elsewhere = shared_storage()
        .and_then(|s| s.get_item(TOUCHED).ok()?)
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    // A time ahead of the clock (set back since) counts as now.
    here.max(elsewhere.min(now_ms()))
}

/// Locks the app once it has been left alone for the chosen time, in
/// every tab (checked every few seconds, and as the page comes back into
/// view).
pub fn use_idle_lock() {
    use_hook(|| {
        let last = Rc::new(Cell::new(now_ms()));
        let Some(window) = web_sys::window() else {
            return;
        };
        let touched = {
            let last = last.clone();
            let shared = Cell::new(0i64);
            Closure::<dyn FnMut()>::new(move || {
                let now = now_ms();
                // Shared at most every two seconds.
                if now - shared.get() > 2_000
                    && let Some(storage) = shared_storage()
                {
                    let _ = storage.set_item(TOUCHED, &now.to_string());
                    shared.set(now);
                }
                last.set(now);
            })
        };
        for event in ["pointerdown", "keydown", "wheel", "touchstart", "input"] {
            let _ = window.add_event_listener_with_callback_and_bool(
                event,
                touched.as_ref().unchecked_ref(),
                true,
            );
        }
        touched.forget();
        let check = move || {
            if let Some(minutes) = *IDLE_MINUTES.peek()
                && is_idle(now_ms() - last_touch(last.get()), minutes)
            {
                lock_now();
            }
        };
        let on_visible = Closure::<dyn FnMut()>::new(check.clone());
        if let Some(document) = window.document() {
            let _ = document.add_event_listener_with_callback(
                "visibilitychange",
                on_visible.as_ref().unchecked_ref(),
            );
        }
        on_visible.forget();
        spawn(async move {
            loop {
                crate::platform::sleep_ms(5_000).await;
                check();
            }
        });
    });
}

/// Turns the lock on with `passcode`, locking after `idle_minutes`: a new
/// lock key seals every workspace's token and keys on this device, and the
/// sync worker (`send`) gets the key for what it writes from now on.
pub async fn turn_on(
    db: &Rexie,
    passcode: &str,
    idle_minutes: u32,
    send: impl FnOnce(&LockKey),
) -> Result<(), String> {
    let key = LockKey::new(crate::platform::secure_random()?);
    let (records, _) = crate::device::all(db).await.map_err(|e| e.to_string())?;
    let lock = crate::lock::new_record(passcode, idle_minutes, &key, &records).await?;
    // The worker seals what it writes before the records are sealed.
    send(&key);
    hearth_storage::lock::turn_on(db, &lock, crate::lock::sealer(&key))
        .await
        .map_err(|e| e.to_string())?;
    keep_key(Some(&key));
    *IDLE_MINUTES.write() = Some(idle_minutes);
    tell_other_tabs();
    Ok(())
}

/// Sets up the device's own unlock (WebAuthn with PRF) beside the
/// passcode, the lock being on and open.
pub async fn add_device_unlock(db: &Rexie) -> Result<(), String> {
    let key = KEY
        .with(|k| k.borrow().clone())
        .ok_or("Lock and unlock the app once, then set this up.")?;
    let unlock = crate::page::device_unlock::register(&key).await?;
    let mut lock = hearth_storage::lock::load(db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("The app lock is off.")?;
    lock.device = Some(unlock);
    hearth_storage::lock::save(db, &lock)
        .await
        .map_err(|e| e.to_string())
}

/// Gives the lock the passcode `new`, if `current` is its passcode (the
/// lock key and what it seals stay as they are).
pub async fn change_passcode(db: &Rexie, current: &str, new: &str) -> Result<(), String> {
    let lock = hearth_storage::lock::load(db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("The app lock is off.")?;
    let key = crate::lock::open_with_passcode(&lock, current)
        .await
        .map_err(|_| "That is not the current passcode; nothing changed.".to_owned())?;
    let changed = crate::lock::with_new_passcode(&lock, &key, new).await?;
    hearth_storage::lock::save(db, &changed)
        .await
        .map_err(|e| e.to_string())
}

/// Stops the device's own unlock: only the passcode opens the lock.
pub async fn remove_device_unlock(db: &Rexie) -> Result<(), String> {
    let mut lock = hearth_storage::lock::load(db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("The app lock is off.")?;
    lock.device = None;
    hearth_storage::lock::save(db, &lock)
        .await
        .map_err(|e| e.to_string())
}

/// Turns the lock off, if `passcode` is its passcode: the tokens and keys
/// are kept in the clear again.
pub async fn turn_off(db: &Rexie, passcode: &str) -> Result<(), String> {
    let lock = hearth_storage::lock::load(db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("The app lock is already off.")?;
    let key = crate::lock::open_with_passcode(&lock, passcode).await?;
    crate::lock::install(&key);
    hearth_storage::lock::turn_off(db)
        .await
        .map_err(|e| e.to_string())?;
    keep_key(None);
    *IDLE_MINUTES.write() = None;
    tell_other_tabs();
    Ok(())
}
