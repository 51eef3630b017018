// Loader of Hearth's sync worker: the same wasm module as the page, started
// as the worker. Filled in by `cargo xtask dist`. The module's bytes are
// asked for at once, beside the glue's import rather than after it.
const wasm = fetch("/{{file:app.wasm}}");
const { default: init, start_worker } = await import("/{{file:app.js}}");
await init({ module_or_path: wasm });
start_worker();
