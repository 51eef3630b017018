// Hearth's service worker. Everything it decides lives in Rust (hearth-sw,
// and the app's module for Background Sync);
// this shim only registers the listeners synchronously, as service workers
// require, and awaits the wasm module inside each event. Filled in by
// `cargo xtask dist`.
import init, * as sw from "/{{file:sw.js}}";
// The app's own module, loaded only when the browser fires a Background
// Sync: it holds the storage, keys and sender that the sync needs.
import initApp, * as app from "/{{file:app.js}}";

const BUILD = "{{BUILD_ID}}";
const PRECACHE = {{PRECACHE}};
const ready = init({ module_or_path: "/{{file:sw.wasm}}" });

self.addEventListener("install", (event) => {
  event.waitUntil(ready.then(() => sw.on_install(BUILD, PRECACHE)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(ready.then(() => sw.on_activate(BUILD)));
});

self.addEventListener("fetch", (event) => {
  // respondWith must be called now or never, possibly before the wasm module
  // has loaded, so this one check stays in JavaScript: same-origin GETs
  // outside the API. `/v1` is never answered from, or put in, a cache.
  const url = new URL(event.request.url);
  const api = url.pathname === "/v1" || url.pathname.startsWith("/v1/");
  if (event.request.method === "GET" && url.origin === self.location.origin && !api) {
    event.respondWith(ready.then(() => sw.on_fetch(event.request, BUILD)));
  }
});

const APP_WASM = "/{{file:app.wasm}}";
let appReady = null;
function appModule() {
  // From the shell's cache: this worker's own fetches bypass it.
  appReady ??= caches
    .match(APP_WASM)
    .then((cached) => initApp({ module_or_path: cached ?? APP_WASM }))
    .catch((e) => {
      appReady = null;
      throw e;
    });
  return appReady;
}

self.addEventListener("sync", (event) => {
  event.waitUntil(appModule().then(() => app.on_sync(event.tag)));
});

self.addEventListener("message", (event) => {
  event.waitUntil(ready.then(() => sw.on_message(event.data)));
});
