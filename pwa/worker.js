// Loader of Hearth's sync worker: the same wasm module as the page, started
// as the worker. Filled in by `cargo xtask dist`.
import init, { start_worker } from "/{{file:app.js}}";
await init({ module_or_path: "/{{file:app.wasm}}" });
start_worker();
