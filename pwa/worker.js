// Loader of Hearth's sync worker: the same wasm module as the page, started
// as the worker. Filled in by `cargo xtask dist`. The module's bytes are
// asked for at once, beside the glue's import rather than after it. The
// times of its steps (on the clock the page's marks share) become the
// page's `hearth-worker-*` marks.
const at = () => performance.timeOrigin + performance.now();
const marks = [["loader", at()]];
const wasm = fetch("/{{file:app.wasm}}");
wasm.then(() => marks.push(["wasm-answered", at()]), () => {});
const { default: init, start_worker } = await import("/{{file:app.js}}");
marks.push(["glue", at()]);
await init({ module_or_path: wasm });
marks.push(["instantiated", at()]);
globalThis.hearthLoaderMarks = marks;
start_worker();
