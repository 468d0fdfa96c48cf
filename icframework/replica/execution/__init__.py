"""Canister execution: modules, the wasmtime engine, sandboxes, the System API.

* `wasm_module` — load, validate and instrument standard IC modules;
  `python_module` — the code-less module that carries a Python app.
* `engine` — the shared wasmtime engine and the compiled-module cache.
* `sandbox` — a standard module's live instance, run atomically, checkpointed by page.
* Python canisters: `component` — the sandbox, one instance of the shared runtime per
  canister; `component_imports` — the host functions that instance imports;
  `wit_values` — converting values across the component boundary; `runtime` — the
  shared runtime component and its process-wide loader; `kv_store` — the canister's
  durable key-value store.
* `system_api` — the ic0 System API of one execution; `page_map` — sparse 4 KiB paged
  memory (stable memory) with an undo log and a dirty set.

Only the replica's own modules import from here; the rest of the project uses
`icframework.replica`.
"""
