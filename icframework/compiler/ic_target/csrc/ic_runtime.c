/* The IC-target runtime's C side: the `_ic0` Python extension over the ic0 System API,
 * the interpreter's boot, and the entry points the module exports.
 *
 * How it works: the module is linked as a WASI reactor with a static CPython. At build
 * time `icf_boot` starts the interpreter and imports the runtime glue
 * (`icframework_ic_runtime`), and `icf_load_app` executes an app's sources; the memory
 * this leaves is snapshotted into the module, so at run time nothing is initialised.
 * Every IC entry point is one of the numbered `icf_entry_<i>` exports (generated beside
 * this file), renamed per app to `canister_update <name>` and so on; each calls the
 * glue's `_entries[i]`. Responses to inter-canister calls come back through
 * `icf_on_reply`, `icf_on_reject` and `icf_on_cleanup` (passed to ic0.call_new by
 * table index) and reach the glue's `_callback(env, which)`.
 *
 * A Python exception that leaves the glue becomes ic0.trap with its traceback, so the
 * IC rolls the message back and the caller reads what failed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IC0(name) __attribute__((import_module("ic0"), import_name(#name)))

IC0(msg_arg_data_size) uint32_t ic0_msg_arg_data_size(void);
IC0(msg_arg_data_copy) void ic0_msg_arg_data_copy(uint32_t dst, uint32_t off, uint32_t size);
IC0(msg_caller_size) uint32_t ic0_msg_caller_size(void);
IC0(msg_caller_copy) void ic0_msg_caller_copy(uint32_t dst, uint32_t off, uint32_t size);
IC0(msg_method_name_size) uint32_t ic0_msg_method_name_size(void);
IC0(msg_method_name_copy) void ic0_msg_method_name_copy(uint32_t dst, uint32_t off, uint32_t size);
IC0(msg_reject_code) uint32_t ic0_msg_reject_code(void);
IC0(msg_reject_msg_size) uint32_t ic0_msg_reject_msg_size(void);
IC0(msg_reject_msg_copy) void ic0_msg_reject_msg_copy(uint32_t dst, uint32_t off, uint32_t size);
IC0(msg_reply_data_append) void ic0_msg_reply_data_append(uint32_t src, uint32_t size);
IC0(msg_reply) void ic0_msg_reply(void);
IC0(msg_reject) void ic0_msg_reject(uint32_t src, uint32_t size);
IC0(msg_cycles_available128) void ic0_msg_cycles_available128(uint32_t dst);
IC0(msg_cycles_refunded128) void ic0_msg_cycles_refunded128(uint32_t dst);
IC0(msg_cycles_accept128) void ic0_msg_cycles_accept128(uint64_t high, uint64_t low, uint32_t dst);
IC0(cycles_burn128) void ic0_cycles_burn128(uint64_t high, uint64_t low, uint32_t dst);
IC0(accept_message) void ic0_accept_message(void);
IC0(canister_self_size) uint32_t ic0_canister_self_size(void);
IC0(canister_self_copy) void ic0_canister_self_copy(uint32_t dst, uint32_t off, uint32_t size);
IC0(canister_cycle_balance128) void ic0_canister_cycle_balance128(uint32_t dst);
IC0(call_new) void ic0_call_new(uint32_t callee_src, uint32_t callee_size, uint32_t name_src,
                                uint32_t name_size, uint32_t reply_fun, uint32_t reply_env,
                                uint32_t reject_fun, uint32_t reject_env);
IC0(call_on_cleanup) void ic0_call_on_cleanup(uint32_t fun, uint32_t env);
IC0(call_data_append) void ic0_call_data_append(uint32_t src, uint32_t size);
IC0(call_cycles_add128) void ic0_call_cycles_add128(uint64_t high, uint64_t low);
IC0(call_perform) uint32_t ic0_call_perform(void);
IC0(stable64_size) uint64_t ic0_stable64_size(void);
IC0(stable64_grow) uint64_t ic0_stable64_grow(uint64_t pages);
IC0(stable64_write) void ic0_stable64_write(uint64_t offset, uint64_t src, uint64_t size);
IC0(stable64_read) void ic0_stable64_read(uint64_t dst, uint64_t offset, uint64_t size);
IC0(certified_data_set) void ic0_certified_data_set(uint32_t src, uint32_t size);
IC0(data_certificate_present) uint32_t ic0_data_certificate_present(void);
IC0(data_certificate_size) uint32_t ic0_data_certificate_size(void);
IC0(data_certificate_copy) void ic0_data_certificate_copy(uint32_t dst, uint32_t off, uint32_t size);
IC0(time) uint64_t ic0_time(void);
IC0(global_timer_set) uint64_t ic0_global_timer_set(uint64_t timestamp);
IC0(performance_counter) uint64_t ic0_performance_counter(uint32_t type);
IC0(is_controller) uint32_t ic0_is_controller(uint32_t src, uint32_t size);
IC0(in_replicated_execution) uint32_t ic0_in_replicated_execution(void);
IC0(canister_version) uint64_t ic0_canister_version(void);
IC0(debug_print) void ic0_debug_print(uint32_t src, uint32_t size);
IC0(trap) void ic0_trap(uint32_t src, uint32_t size);

#define PTR(p) ((uint32_t)(uintptr_t)(p))

static PyObject *entries;        /* icframework_ic_runtime._entries (a list) */
static PyObject *callback_func;  /* icframework_ic_runtime._callback */
static PyObject *load_func;      /* icframework_ic_runtime._load_app */

/* ---- helpers ------------------------------------------------------------------------ */

typedef uint32_t (*size_fn)(void);
typedef void (*copy_fn)(uint32_t, uint32_t, uint32_t);

static PyObject *copy_blob(size_fn size, copy_fn copy) {
    uint32_t n = size();
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out != NULL && n > 0) copy(PTR(PyBytes_AS_STRING(out)), 0, n);
    return out;
}

static PyObject *from_u128(const uint8_t bytes[16]) {
    return _PyLong_FromByteArray(bytes, 16, 1, 0);
}

static int to_u128(PyObject *value, uint64_t *high, uint64_t *low) {
    uint8_t bytes[16];
    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "a cycle amount must be an int");
        return -1;
    }
    if (_PyLong_AsByteArray((PyLongObject *)value, bytes, 16, 1, 0) < 0) return -1;
    memcpy(low, bytes, 8);
    memcpy(high, bytes + 8, 8);
    return 0;
}

static void debug_flush_buffer(void);

static void trap_text(const char *text, size_t size) {
    debug_flush_buffer();
    ic0_trap(PTR(text), (uint32_t)size);
}

/* The pending Python exception as ic0.trap (its traceback, formatted by the glue). */
static void trap_with_python_error(void) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *text = NULL;
    PyObject *traceback = PyImport_ImportModule("traceback");
    if (traceback != NULL && value != NULL) {
        PyObject *lines = PyObject_CallMethod(traceback, "format_exception", "OOO",
                                              type, value, tb ? tb : Py_None);
        if (lines != NULL) {
            PyObject *empty = PyUnicode_FromString("");
            text = empty ? PyUnicode_Join(empty, lines) : NULL;
            Py_XDECREF(empty);
            Py_DECREF(lines);
        }
    }
    Py_ssize_t size = 0;
    const char *utf8 = text ? PyUnicode_AsUTF8AndSize(text, &size) : NULL;
    if (utf8 == NULL) {
        static const char fallback[] = "the Python runtime failed and its error cannot be shown";
        trap_text(fallback, sizeof fallback - 1);
    }
    trap_text(utf8, (size_t)size);
}

/* ---- the _ic0 module ------------------------------------------------------------------ */

static PyObject *py_msg_arg_data(PyObject *self, PyObject *unused) {
    return copy_blob(ic0_msg_arg_data_size, ic0_msg_arg_data_copy);
}

static PyObject *py_msg_caller(PyObject *self, PyObject *unused) {
    return copy_blob(ic0_msg_caller_size, ic0_msg_caller_copy);
}

static PyObject *py_canister_self(PyObject *self, PyObject *unused) {
    return copy_blob(ic0_canister_self_size, ic0_canister_self_copy);
}

/* In canister_inspect_message: the name of the method the ingress message calls. */
static PyObject *py_msg_method_name(PyObject *self, PyObject *unused) {
    PyObject *raw = copy_blob(ic0_msg_method_name_size, ic0_msg_method_name_copy);
    if (raw == NULL) return NULL;
    PyObject *text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), "replace");
    Py_DECREF(raw);
    return text;
}

static PyObject *py_msg_reject_code(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLong(ic0_msg_reject_code());
}

static PyObject *py_msg_reject_msg(PyObject *self, PyObject *unused) {
    PyObject *raw = copy_blob(ic0_msg_reject_msg_size, ic0_msg_reject_msg_copy);
    if (raw == NULL) return NULL;
    PyObject *text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), "replace");
    Py_DECREF(raw);
    return text;
}

/* reply(data: bytes): append and send the reply in one crossing. */
static PyObject *py_reply(PyObject *self, PyObject *data) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    ic0_msg_reply_data_append(PTR(view.buf), (uint32_t)view.len);
    PyBuffer_Release(&view);
    ic0_msg_reply();
    Py_RETURN_NONE;
}

static PyObject *py_reject(PyObject *self, PyObject *message) {
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(message, &size);
    if (text == NULL) return NULL;
    ic0_msg_reject(PTR(text), (uint32_t)size);
    Py_RETURN_NONE;
}

static PyObject *py_msg_cycles_available(PyObject *self, PyObject *unused) {
    uint8_t out[16];
    ic0_msg_cycles_available128(PTR(out));
    return from_u128(out);
}

static PyObject *py_msg_cycles_refunded(PyObject *self, PyObject *unused) {
    uint8_t out[16];
    ic0_msg_cycles_refunded128(PTR(out));
    return from_u128(out);
}

static PyObject *py_msg_cycles_accept(PyObject *self, PyObject *amount) {
    uint64_t high, low;
    uint8_t out[16];
    if (to_u128(amount, &high, &low) < 0) return NULL;
    ic0_msg_cycles_accept128(high, low, PTR(out));
    return from_u128(out);
}

static PyObject *py_cycles_burn(PyObject *self, PyObject *amount) {
    uint64_t high, low;
    uint8_t out[16];
    if (to_u128(amount, &high, &low) < 0) return NULL;
    ic0_cycles_burn128(high, low, PTR(out));
    return from_u128(out);
}

static PyObject *py_canister_cycle_balance(PyObject *self, PyObject *unused) {
    uint8_t out[16];
    ic0_canister_cycle_balance128(PTR(out));
    return from_u128(out);
}

static PyObject *py_accept_message(PyObject *self, PyObject *unused) {
    ic0_accept_message();
    Py_RETURN_NONE;
}

/* call_perform(callee, method, arg, cycles, env, cleanup) -> 0 or the reject code. */
static PyObject *py_call_perform(PyObject *self, PyObject *args) {
    Py_buffer callee, arg;
    const char *method;
    Py_ssize_t method_size;
    PyObject *cycles;
    unsigned int env;
    int cleanup;
    if (!PyArg_ParseTuple(args, "y*s#y*OIp", &callee, &method, &method_size, &arg, &cycles,
                          &env, &cleanup))
        return NULL;
    uint64_t high = 0, low = 0;
    if (to_u128(cycles, &high, &low) < 0) {
        PyBuffer_Release(&callee);
        PyBuffer_Release(&arg);
        return NULL;
    }
    extern void icf_on_reply(uint32_t env);
    extern void icf_on_reject(uint32_t env);
    extern void icf_on_cleanup(uint32_t env);
    ic0_call_new(PTR(callee.buf), (uint32_t)callee.len, PTR(method), (uint32_t)method_size,
                 PTR(&icf_on_reply), env, PTR(&icf_on_reject), env);
    if (cleanup) ic0_call_on_cleanup(PTR(&icf_on_cleanup), env);
    if (arg.len > 0) ic0_call_data_append(PTR(arg.buf), (uint32_t)arg.len);
    if (high != 0 || low != 0) ic0_call_cycles_add128(high, low);
    PyBuffer_Release(&callee);
    PyBuffer_Release(&arg);
    return PyLong_FromUnsignedLong(ic0_call_perform());
}

static PyObject *py_stable_size(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(ic0_stable64_size());
}

static PyObject *py_stable_grow(PyObject *self, PyObject *pages) {
    unsigned long long n = PyLong_AsUnsignedLongLong(pages);
    if (n == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    uint64_t previous = ic0_stable64_grow(n);
    if (previous == UINT64_MAX) return PyLong_FromLong(-1);
    return PyLong_FromUnsignedLongLong(previous);
}

/* stable_write(offset, data): data is bytes-like. */
static PyObject *py_stable_write(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "stable_write(offset, data)");
        return NULL;
    }
    unsigned long long offset = PyLong_AsUnsignedLongLong(args[0]);
    if (offset == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (PyBytes_CheckExact(args[1])) {
        Py_ssize_t size = PyBytes_GET_SIZE(args[1]);
        if (size > 0) ic0_stable64_write(offset, PTR(PyBytes_AS_STRING(args[1])), (uint64_t)size);
        Py_RETURN_NONE;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) return NULL;
    if (data.len > 0) ic0_stable64_write(offset, PTR(data.buf), (uint64_t)data.len);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

/* stable_read(offset, size) -> bytes */
static PyObject *py_stable_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "stable_read(offset, size)");
        return NULL;
    }
    unsigned long long offset = PyLong_AsUnsignedLongLong(args[0]);
    if (offset == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    unsigned long long size = PyLong_AsUnsignedLongLong(args[1]);
    if (size == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (out != NULL && size > 0) ic0_stable64_read(PTR(PyBytes_AS_STRING(out)), offset, size);
    return out;
}

/* kv_put(backend, pending, key, value): `Ic0Backend.kv_put` natively (the write waits in
 * `pending` for the commit; the backend's `generation` moves on). */
static PyObject *py_kv_put(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static PyObject *generation_name, *one;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "kv_put(backend, pending, key, value)");
        return NULL;
    }
    if (generation_name == NULL) {
        generation_name = PyUnicode_InternFromString("generation");
        one = PyLong_FromLong(1);
        if (generation_name == NULL || one == NULL) return NULL;
    }
    PyObject *key = PyBytes_CheckExact(args[2]) ? Py_NewRef(args[2]) : PyBytes_FromObject(args[2]);
    if (key == NULL) return NULL;
    PyObject *value = PyBytes_CheckExact(args[3]) ? Py_NewRef(args[3]) : PyBytes_FromObject(args[3]);
    if (value == NULL) {
        Py_DECREF(key);
        return NULL;
    }
    int failed = PyDict_SetItem(args[1], key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    if (failed < 0) return NULL;
    PyObject *generation = PyObject_GetAttr(args[0], generation_name);
    if (generation == NULL) return NULL;
    PyObject *next = PyNumber_Add(generation, one);
    Py_DECREF(generation);
    if (next == NULL) return NULL;
    failed = PyObject_SetAttr(args[0], generation_name, next);
    Py_DECREF(next);
    if (failed < 0) return NULL;
    Py_RETURN_NONE;
}

/* The stable-memory log's record for one put (u32 key length, u32 value length, key,
 * value; little-endian) written at `at`, then the header (the 8-byte `magic` and the new
 * end as a u64) at 0: two stable writes (icframework.sdk.stable_log). The caller has
 * grown stable memory. The new end, or 0 with MemoryError set. */
static uint64_t append_record(uint64_t at, PyObject *key, PyObject *value, const char *magic) {
    uint32_t key_size = (uint32_t)PyBytes_GET_SIZE(key);
    uint32_t value_size = (uint32_t)PyBytes_GET_SIZE(value);
    size_t record = 8 + (size_t)key_size + value_size;
    uint8_t small[256];
    uint8_t *buffer = record <= sizeof small ? small : malloc(record);
    if (buffer == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    memcpy(buffer, &key_size, 4);
    memcpy(buffer + 4, &value_size, 4);
    memcpy(buffer + 8, PyBytes_AS_STRING(key), key_size);
    memcpy(buffer + 8 + key_size, PyBytes_AS_STRING(value), value_size);
    ic0_stable64_write(at, PTR(buffer), record);
    if (buffer != small) free(buffer);
    uint64_t end = at + record;
    uint8_t header[16];
    memcpy(header, magic, 8);
    memcpy(header + 8, &end, 8);
    ic0_stable64_write(0, PTR(header), sizeof header);
    return end;
}

/* log_append(at, key, value, magic) -> end: `append_record` for `StableLog.put`. */
static PyObject *py_log_append(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_CheckExact(args[1]) || !PyBytes_CheckExact(args[2]) ||
        !PyBytes_CheckExact(args[3]) || PyBytes_GET_SIZE(args[3]) != 8) {
        PyErr_SetString(PyExc_TypeError, "log_append(at, key: bytes, value: bytes, magic: bytes[8])");
        return NULL;
    }
    unsigned long long at = PyLong_AsUnsignedLongLong(args[0]);
    if (at == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    uint64_t end = append_record(at, args[1], args[2], PyBytes_AS_STRING(args[3]));
    return end == 0 ? NULL : PyLong_FromUnsignedLongLong(end);
}

static PyObject *py_certified_data_set(PyObject *self, PyObject *data) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    ic0_certified_data_set(PTR(view.buf), (uint32_t)view.len);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *py_data_certificate(PyObject *self, PyObject *unused) {
    if (!ic0_data_certificate_present()) Py_RETURN_NONE;
    return copy_blob(ic0_data_certificate_size, ic0_data_certificate_copy);
}

static PyObject *py_time(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(ic0_time());
}

static PyObject *py_global_timer_set(PyObject *self, PyObject *timestamp) {
    unsigned long long t = PyLong_AsUnsignedLongLong(timestamp);
    if (t == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    return PyLong_FromUnsignedLongLong(ic0_global_timer_set(t));
}

static PyObject *py_performance_counter(PyObject *self, PyObject *type) {
    long t = PyLong_AsLong(type);
    if (t == -1 && PyErr_Occurred()) return NULL;
    return PyLong_FromUnsignedLongLong(ic0_performance_counter((uint32_t)t));
}

static PyObject *py_is_controller(PyObject *self, PyObject *principal) {
    Py_buffer view;
    if (PyObject_GetBuffer(principal, &view, PyBUF_SIMPLE) < 0) return NULL;
    uint32_t answer = ic0_is_controller(PTR(view.buf), (uint32_t)view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(answer);
}

static PyObject *py_in_replicated_execution(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(ic0_in_replicated_execution());
}

static PyObject *py_canister_version(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(ic0_canister_version());
}

static PyObject *py_debug_print(PyObject *self, PyObject *message) {
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(message, &size);
    if (text == NULL) return NULL;
    ic0_debug_print(PTR(text), (uint32_t)size);
    Py_RETURN_NONE;
}

static PyObject *py_trap(PyObject *self, PyObject *message) {
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(message, &size);
    if (text == NULL) return NULL;
    trap_text(text, (size_t)size);
    Py_RETURN_NONE; /* not reached: ic0.trap does not return */
}

/* ---- print output: line-buffered here, one debug_print a line -------------------------- */

static char *debug_buffer;
static size_t debug_size, debug_capacity;

static void debug_flush_buffer(void) {
    if (debug_size > 0) {
        ic0_debug_print(PTR(debug_buffer), (uint32_t)debug_size);
        debug_size = 0;
    }
}

/* debug_write(text): complete lines go to ic0.debug_print, a partial line waits. */
static PyObject *py_debug_write(PyObject *self, PyObject *text) {
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) return NULL;
    const char *end = utf8 + size;
    while (utf8 < end) {
        const char *newline = memchr(utf8, '\n', (size_t)(end - utf8));
        size_t chunk = newline ? (size_t)(newline - utf8) : (size_t)(end - utf8);
        if (debug_size + chunk > debug_capacity) {
            size_t capacity = (debug_size + chunk) * 2 + 64;
            char *grown = realloc(debug_buffer, capacity);
            if (grown == NULL) return PyErr_NoMemory();
            debug_buffer = grown;
            debug_capacity = capacity;
        }
        memcpy(debug_buffer + debug_size, utf8, chunk);
        debug_size += chunk;
        if (newline == NULL) break;
        ic0_debug_print(PTR(debug_buffer), (uint32_t)debug_size);
        debug_size = 0;
        utf8 = newline + 1;
    }
    Py_RETURN_NONE;
}

static PyObject *py_debug_flush(PyObject *self, PyObject *unused) {
    debug_flush_buffer();
    Py_RETURN_NONE;
}

static PyObject *py_debug_pending(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(debug_size > 0);
}

/* ---- slots the method entry reads and writes directly ------------------------------------ */

/* Byte offsets of `__slots__` members: the store's `loaded`, the message's `kind` and
 * `current` (icframework.sdk.ic._Message). Bound once at build time (`bind_slots`), so a
 * message reads and writes them without an attribute lookup. */
static Py_ssize_t loaded_offset = -1, kind_offset = -1, current_offset = -1;
static Py_ssize_t end_offset = -1, pages_offset = -1, where_offset = -1, keys_offset = -1,
                  live_offset = -1;
static PyObject *message_object, *no_message, *empty_text, *update_kind;
static PyObject *log_magic; /* icframework.sdk.stable_log.MAGIC */

static Py_ssize_t slot_offset(PyObject *obj, const char *name) {
    PyObject *descr = PyObject_GetAttrString((PyObject *)Py_TYPE(obj), name);
    if (descr == NULL) return -1;
    Py_ssize_t offset = -1;
    if (Py_TYPE(descr) == &PyMemberDescr_Type) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX || member->type == T_OBJECT) offset = member->offset;
    }
    Py_DECREF(descr);
    if (offset < 0 && !PyErr_Occurred())
        PyErr_Format(PyExc_TypeError, "%s is not a __slots__ member of %s", name,
                     Py_TYPE(obj)->tp_name);
    return offset;
}

/* bind_slots(store, message, no_message, magic) */
static PyObject *py_bind_slots(PyObject *self, PyObject *args) {
    PyObject *store, *message, *none_message, *magic;
    if (!PyArg_ParseTuple(args, "OOOS", &store, &message, &none_message, &magic)) return NULL;
    if (PyBytes_GET_SIZE(magic) != 8) {
        PyErr_SetString(PyExc_ValueError, "the stable log's magic must be 8 bytes");
        return NULL;
    }
    Py_INCREF(magic);
    log_magic = magic;
    if ((loaded_offset = slot_offset(store, "loaded")) < 0) return NULL;
    if ((end_offset = slot_offset(store, "end")) < 0) return NULL;
    if ((pages_offset = slot_offset(store, "_pages")) < 0) return NULL;
    if ((where_offset = slot_offset(store, "_where")) < 0) return NULL;
    if ((keys_offset = slot_offset(store, "_keys")) < 0) return NULL;
    if ((live_offset = slot_offset(store, "live_bytes")) < 0) return NULL;
    if ((kind_offset = slot_offset(message, "kind")) < 0) return NULL;
    if ((current_offset = slot_offset(message, "current")) < 0) return NULL;
    Py_INCREF(message);
    Py_INCREF(none_message);
    message_object = message;
    no_message = none_message;
    empty_text = PyUnicode_InternFromString("");
    update_kind = PyUnicode_InternFromString("update");
    Py_RETURN_NONE;
}

static inline PyObject **slot(PyObject *obj, Py_ssize_t offset) {
    return (PyObject **)((char *)obj + offset);
}

static inline void slot_set(PyObject *obj, Py_ssize_t offset, PyObject *value) {
    PyObject **where = slot(obj, offset);
    PyObject *old = *where;
    Py_INCREF(value);
    *where = value;
    Py_XDECREF(old);
}

static PyMethodDef ic0_methods[] = {
    {"msg_arg_data", py_msg_arg_data, METH_NOARGS, "The message's argument bytes."},
    {"msg_caller", py_msg_caller, METH_NOARGS, "The caller's principal bytes."},
    {"canister_self", py_canister_self, METH_NOARGS, "This canister's principal bytes."},
    {"msg_method_name", py_msg_method_name, METH_NOARGS,
     "In inspect_message: the method the ingress message calls."},
    {"msg_reject_code", py_msg_reject_code, METH_NOARGS, "In a reject callback: the code."},
    {"msg_reject_msg", py_msg_reject_msg, METH_NOARGS, "In a reject callback: the message."},
    {"reply", py_reply, METH_O, "Reply with these bytes."},
    {"reject", py_reject, METH_O, "Reject with this text."},
    {"msg_cycles_available", py_msg_cycles_available, METH_NOARGS, "Cycles attached."},
    {"msg_cycles_refunded", py_msg_cycles_refunded, METH_NOARGS, "Cycles refunded."},
    {"msg_cycles_accept", py_msg_cycles_accept, METH_O, "Accept up to this many cycles."},
    {"cycles_burn", py_cycles_burn, METH_O, "Burn up to this many cycles."},
    {"canister_cycle_balance", py_canister_cycle_balance, METH_NOARGS, "The balance."},
    {"accept_message", py_accept_message, METH_NOARGS, "Accept an ingress message."},
    {"call_perform", py_call_perform, METH_VARARGS,
     "call_perform(callee, method, arg, cycles, env, cleanup) -> 0 or a reject code."},
    {"stable_size", py_stable_size, METH_NOARGS, "Stable memory size in 64 KiB pages."},
    {"stable_grow", py_stable_grow, METH_O, "Grow stable memory; previous size or -1."},
    {"stable_write", (PyCFunction)(void (*)(void))py_stable_write, METH_FASTCALL,
     "stable_write(offset, data)."},
    {"stable_read", (PyCFunction)(void (*)(void))py_stable_read, METH_FASTCALL,
     "stable_read(offset, size) -> bytes."},
    {"kv_put", (PyCFunction)(void (*)(void))py_kv_put, METH_FASTCALL,
     "kv_put(backend, pending, key, value): a write waiting for the commit."},
    {"log_append", (PyCFunction)(void (*)(void))py_log_append, METH_FASTCALL,
     "log_append(at, key, value, magic) -> end: one put's record and the log's header."},
    {"certified_data_set", py_certified_data_set, METH_O, "Set the certified data."},
    {"data_certificate", py_data_certificate, METH_NOARGS, "The data certificate or None."},
    {"time", py_time, METH_NOARGS, "The message time in nanoseconds."},
    {"global_timer_set", py_global_timer_set, METH_O, "Arm the global timer."},
    {"performance_counter", py_performance_counter, METH_O, "Instructions so far."},
    {"is_controller", py_is_controller, METH_O, "Whether the principal controls this canister."},
    {"in_replicated_execution", py_in_replicated_execution, METH_NOARGS, "Replicated?"},
    {"canister_version", py_canister_version, METH_NOARGS, "The canister version."},
    {"debug_print", py_debug_print, METH_O, "Print to the canister log."},
    {"trap", py_trap, METH_O, "Trap with this text."},
    {"debug_write", py_debug_write, METH_O, "Print text; each complete line is one debug_print."},
    {"debug_flush", py_debug_flush, METH_NOARGS, "Print the partial line, if any."},
    {"debug_pending", py_debug_pending, METH_NOARGS, "Whether a partial line waits."},
    {"bind_slots", py_bind_slots, METH_VARARGS,
     "bind_slots(store, message, no_message, magic): what the method entry uses."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef ic0_module = {
    PyModuleDef_HEAD_INIT, "_ic0", "The IC System API (ic0) for Python.", -1, ic0_methods,
};

static PyObject *PyInit__ic0(void) { return PyModule_Create(&ic0_module); }

/* ---- boot (build time) ------------------------------------------------------------------ */

static char *result_buffer;
static uint32_t result_size;

static void set_result(PyObject *text) {
    Py_ssize_t size = 0;
    const char *utf8 = text ? PyUnicode_AsUTF8AndSize(text, &size) : NULL;
    free(result_buffer);
    result_buffer = NULL;
    result_size = 0;
    if (utf8 == NULL) return;
    result_buffer = malloc((size_t)size);
    memcpy(result_buffer, utf8, (size_t)size);
    result_size = (uint32_t)size;
}

static void set_error_result(void) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *traceback = PyImport_ImportModule("traceback");
    PyObject *lines = traceback ? PyObject_CallMethod(traceback, "format_exception", "OOO", type,
                                                      value, tb ? tb : Py_None) : NULL;
    PyObject *empty = PyUnicode_FromString("");
    PyObject *text = lines ? PyUnicode_Join(empty, lines) : PyObject_Str(value);
    set_result(text);
    PyErr_Clear();
}

__attribute__((export_name("icf_result_ptr"))) uint32_t icf_result_ptr(void) {
    return PTR(result_buffer);
}

__attribute__((export_name("icf_result_size"))) uint32_t icf_result_size(void) {
    return result_size;
}

__attribute__((export_name("icf_alloc"))) uint32_t icf_alloc(uint32_t size) {
    return PTR(malloc(size));
}

__attribute__((export_name("icf_free"))) void icf_free(uint32_t ptr) { free((void *)(uintptr_t)ptr); }

/* Start CPython with the standard library and the bundled packages at /lib and /pkgs
 * (mapped by the builder), import the glue. 0 on success, else 1 with the error text
 * in the result buffer. */
__attribute__((export_name("icf_boot"))) int icf_boot(void) {
    PyStatus status;
    PyConfig config;
    if (PyImport_AppendInittab("_ic0", PyInit__ic0) < 0) return 1;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.write_bytecode = 0;
    config.install_signal_handlers = 0;
    config.use_hash_seed = 1;
    config.hash_seed = 0;
    config.pathconfig_warnings = 0;
    config.module_search_paths_set = 1;
    PyWideStringList_Append(&config.module_search_paths, L"/pkgs");
    PyWideStringList_Append(&config.module_search_paths, L"/lib");
    PyConfig_SetString(&config, &config.home, L"/lib");
    PyConfig_SetString(&config, &config.program_name, L"python");
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        const char *msg = status.err_msg ? status.err_msg : "Py_InitializeFromConfig failed";
        PyObject *text = PyUnicode_FromString(msg);
        set_result(text);
        return 1;
    }
    PyObject *glue = PyImport_ImportModule("icframework_ic_runtime");
    if (glue == NULL) {
        set_error_result();
        return 1;
    }
    entries = PyObject_GetAttrString(glue, "_entries");
    callback_func = PyObject_GetAttrString(glue, "_callback");
    load_func = PyObject_GetAttrString(glue, "_load_app");
    if (entries == NULL || !PyList_Check(entries) || callback_func == NULL || load_func == NULL) {
        set_error_result();
        return 1;
    }
    return 0;
}

/* Execute an app: `payload` is the glue's JSON (files and entry). 0 with the export
 * names (JSON) in the result buffer, else 1 with the error text. */
__attribute__((export_name("icf_load_app"))) int icf_load_app(uint32_t ptr, uint32_t size) {
    PyObject *payload = PyBytes_FromStringAndSize((const char *)(uintptr_t)ptr, size);
    PyObject *out = payload ? PyObject_CallOneArg(load_func, payload) : NULL;
    Py_XDECREF(payload);
    if (out == NULL) {
        set_error_result();
        return 1;
    }
    set_result(out);
    Py_DECREF(out);
    return 0;
}

/* ---- run time --------------------------------------------------------------------------- */

/* ---- the method entry's native path ------------------------------------------------------ */

/* The tuple the glue prepares per update/query method (`icframework_ic_runtime._MethodEntry`):
 * the Python fallbacks first, then what the native path needs. */
enum {
    E_CALL_METHOD, E_RUN, E_PENDING, E_STORE, E_OUTPUT, E_AFTER, E_FN, E_DECODE, E_ENCODE,
    E_START, E_OUTCOME_OF, E_KIND, E_NAME, E_ARG_PREFIX, E_ARG_OPS, E_RESULT_SHAPE,
    E_RESULT_OP, E_GUARDS, E_SETTLE, E_FIELDS
};
enum { R_PYTHON = 0, R_NOTHING = 1, R_PRIM = 2, R_OPT_PRIM = 3 };
#define MAX_FAST_ARGS 8

/* Unsigned LEB128 of at most 9 bytes in canonical form; 0 if not (Python decides). */
static int read_leb(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t value = 0;
    for (int i = 0; i < 9 && *p < end; i++) {
        uint8_t byte = *(*p)++;
        value |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            if (i > 0 && byte == 0) return 0;
            *out = value;
            return 1;
        }
    }
    return 0;
}

static int read_sleb(const uint8_t **p, const uint8_t *end, int64_t *out) {
    uint64_t value = 0;
    for (int i = 0; i < 9 && *p < end; i++) {
        uint8_t byte = *(*p)++;
        value |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            int bits = 7 * (i + 1);
            if (i > 0 && (byte == 0 || byte == 0x7f)) {
                uint8_t prev = (*p)[-2];
                if ((byte == 0 && !(prev & 0x40)) || (byte == 0x7f && (prev & 0x40))) return 0;
            }
            if (byte & 0x40) value |= ~(uint64_t)0 << bits;
            *out = (int64_t)value;
            return 1;
        }
    }
    return 0;
}

static uint64_t read_le(const uint8_t *p, int size) {
    uint64_t value = 0;
    for (int i = size - 1; i >= 0; i--) value = (value << 8) | p[i];
    return value;
}

static int prim_size(uint8_t op) {
    switch (op) {
    case 0x7b: case 0x77: return 1;
    case 0x7a: case 0x76: return 2;
    case 0x79: case 0x75: return 4;
    case 0x78: case 0x74: return 8;
    default: return 0;
    }
}

/* One primitive value, or NULL with no error set when Python should decode instead. */
static PyObject *decode_prim(uint8_t op, const uint8_t **p, const uint8_t *end) {
    int size = prim_size(op);
    if (size > 0) {
        if (end - *p < size) return NULL;
        uint64_t raw = read_le(*p, size);
        *p += size;
        if (op >= 0x78) return PyLong_FromUnsignedLongLong(raw);
        int shift = 64 - 8 * size;
        return PyLong_FromLongLong((int64_t)(raw << shift) >> shift);
    }
    switch (op) {
    case 0x7e: {
        if (*p >= end || **p > 1) return NULL;
        return PyBool_FromLong(*(*p)++);
    }
    case 0x7d: {
        uint64_t value;
        return read_leb(p, end, &value) ? PyLong_FromUnsignedLongLong(value) : NULL;
    }
    case 0x7c: {
        int64_t value;
        return read_sleb(p, end, &value) ? PyLong_FromLongLong(value) : NULL;
    }
    case 0x71: {
        uint64_t length;
        if (!read_leb(p, end, &length) || (uint64_t)(end - *p) < length) return NULL;
        PyObject *text = PyUnicode_DecodeUTF8((const char *)*p, (Py_ssize_t)length, NULL);
        if (text == NULL) PyErr_Clear();
        *p += length;
        return text;
    }
    default:
        return NULL;
    }
}

/* The arguments of a method whose parameters are all primitive, read natively when the
 * message has exactly the expected type table and values; else 0 (Python decodes). */
static int decode_fast(PyObject *entry, PyObject *arg, PyObject **argv, Py_ssize_t *argc) {
    PyObject *prefix = PyTuple_GET_ITEM(entry, E_ARG_PREFIX);
    if (prefix == Py_None) return 0;
    Py_ssize_t prefix_size = PyBytes_GET_SIZE(prefix), size = PyBytes_GET_SIZE(arg);
    const uint8_t *data = (const uint8_t *)PyBytes_AS_STRING(arg);
    if (size < prefix_size || memcmp(data, PyBytes_AS_STRING(prefix), prefix_size) != 0) return 0;
    PyObject *ops = PyTuple_GET_ITEM(entry, E_ARG_OPS);
    Py_ssize_t count = PyBytes_GET_SIZE(ops);
    const uint8_t *p = data + prefix_size, *end = data + size;
    for (Py_ssize_t i = 0; i < count; i++) {
        argv[i] = decode_prim((uint8_t)PyBytes_AS_STRING(ops)[i], &p, end);
        if (argv[i] == NULL) {
            for (Py_ssize_t j = 0; j < i; j++) Py_DECREF(argv[j]);
            return 0;
        }
    }
    if (p != end) {
        for (Py_ssize_t j = 0; j < count; j++) Py_DECREF(argv[j]);
        return 0;
    }
    *argc = count;
    return 1;
}

typedef struct {
    uint8_t small[64];
    uint8_t *data;
    size_t size, capacity;
} Out;

static int out_put(Out *out, const void *bytes, size_t size) {
    if (out->size + size > out->capacity) {
        size_t capacity = (out->size + size) * 2;
        uint8_t *grown = out->data == out->small ? malloc(capacity) : realloc(out->data, capacity);
        if (grown == NULL) return 0;
        if (out->data == out->small) memcpy(grown, out->small, out->size);
        out->data = grown;
        out->capacity = capacity;
    }
    memcpy(out->data + out->size, bytes, size);
    out->size += size;
    return 1;
}

static int out_leb(Out *out, uint64_t value) {
    uint8_t bytes[10];
    int n = 0;
    do {
        uint8_t byte = value & 0x7f;
        value >>= 7;
        bytes[n++] = byte | (value ? 0x80 : 0);
    } while (value);
    return out_put(out, bytes, n);
}

static int out_sleb(Out *out, int64_t value) {
    uint8_t bytes[10];
    int n = 0, more = 1;
    while (more) {
        uint8_t byte = value & 0x7f;
        value >>= 7;
        more = !((value == 0 && !(byte & 0x40)) || (value == -1 && (byte & 0x40)));
        bytes[n++] = byte | (more ? 0x80 : 0);
    }
    return out_put(out, bytes, n);
}

/* One primitive value: 1 written, 0 when Python should encode it (no error set). */
static int encode_prim(Out *out, uint8_t op, PyObject *value) {
    if (op == 0x7e) {
        if (value != Py_True && value != Py_False) return 0;
        uint8_t byte = value == Py_True;
        return out_put(out, &byte, 1);
    }
    if (op == 0x71) {
        if (!PyUnicode_CheckExact(value)) return 0;
        Py_ssize_t size;
        const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
        if (utf8 == NULL) {
            PyErr_Clear();
            return 0;
        }
        return out_leb(out, (uint64_t)size) && out_put(out, utf8, (size_t)size);
    }
    if (!PyLong_CheckExact(value)) return 0;
    int overflow = 0;
    if (op == 0x7d || op == 0x7b || op == 0x7a || op == 0x79 || op == 0x78) {
        unsigned long long n = PyLong_AsUnsignedLongLong(value);
        if (n == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        if (op == 0x7d) return out_leb(out, n);
        int size = prim_size(op);
        if (size < 8 && n >> (8 * size)) return 0;
        uint8_t bytes[8];
        for (int i = 0; i < size; i++) bytes[i] = (uint8_t)(n >> (8 * i));
        return out_put(out, bytes, size);
    }
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (n == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (op == 0x7c) return out_sleb(out, n);
    int size = prim_size(op);
    if (size == 0) return 0;
    if (size < 8) {
        long long low = -(1LL << (8 * size - 1)), high = (1LL << (8 * size - 1)) - 1;
        if (n < low || n > high) return 0;
    }
    uint8_t bytes[8];
    for (int i = 0; i < size; i++) bytes[i] = (uint8_t)((uint64_t)n >> (8 * i));
    return out_put(out, bytes, size);
}

/* The reply for `result` in the method's shape, natively; 0 when Python should encode. */
static int encode_fast(PyObject *entry, PyObject *result, Out *out) {
    long shape = PyLong_AsLong(PyTuple_GET_ITEM(entry, E_RESULT_SHAPE));
    uint8_t op = (uint8_t)PyLong_AsLong(PyTuple_GET_ITEM(entry, E_RESULT_OP));
    static const uint8_t nothing[] = {'D', 'I', 'D', 'L', 0, 0};
    switch (shape) {
    case R_NOTHING:
        return out_put(out, nothing, sizeof nothing);
    case R_PRIM: {
        uint8_t head[] = {'D', 'I', 'D', 'L', 0, 1, op};
        return out_put(out, head, sizeof head) && encode_prim(out, op, result);
    }
    case R_OPT_PRIM: {
        uint8_t head[] = {'D', 'I', 'D', 'L', 1, 0x6e, op, 1, 0};
        if (!out_put(out, head, sizeof head)) return 0;
        uint8_t tag = result != Py_None;
        return out_put(out, &tag, 1) && (!tag || encode_prim(out, op, result));
    }
    default:
        return 0;
    }
}

/* The commit of an update that wrote one value: `StableLog.put` natively (the same index
 * changes, record and header), when stable memory need not grow. 1 done, 0 not this case
 * (Python commits: nothing was changed here), -1 a Python error. */
static int bytes_less(PyObject *a, PyObject *b) {
    Py_ssize_t na = PyBytes_GET_SIZE(a), nb = PyBytes_GET_SIZE(b);
    int cmp = memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)(na < nb ? na : nb));
    return cmp < 0 || (cmp == 0 && na < nb);
}

static int commit_one(PyObject *store, PyObject *pending) {
    if (PyDict_GET_SIZE(pending) != 1) return 0;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    PyDict_Next(pending, &pos, &key, &value);
    if (!PyBytes_CheckExact(key) || !PyBytes_CheckExact(value)) return 0;
    PyObject *end_obj = *slot(store, end_offset), *pages_obj = *slot(store, pages_offset);
    PyObject *where = *slot(store, where_offset), *keys = *slot(store, keys_offset);
    PyObject *live_obj = *slot(store, live_offset);
    if (end_obj == NULL || pages_obj == NULL || where == NULL || keys == NULL ||
        live_obj == NULL || !PyLong_CheckExact(end_obj) || !PyLong_CheckExact(pages_obj) ||
        !PyDict_CheckExact(where) || !PyList_CheckExact(keys) || !PyLong_CheckExact(live_obj))
        return 0;
    unsigned long long start = PyLong_AsUnsignedLongLong(end_obj);
    unsigned long long pages = PyLong_AsUnsignedLongLong(pages_obj);
    long long live = PyLong_AsLongLong(live_obj);
    if (PyErr_Occurred()) return -1;
    uint32_t key_size = (uint32_t)PyBytes_GET_SIZE(key), size = (uint32_t)PyBytes_GET_SIZE(value);
    uint64_t at = start + 8 + key_size, end = at + size;
    if (end > pages * 65536ULL) return 0;  /* Python grows stable memory */
    PyObject *old = PyDict_GetItemWithError(where, key);
    if (old == NULL && PyErr_Occurred()) return -1;
    Py_ssize_t insert_at = -1;
    if (old == NULL) {
        Py_ssize_t lo = 0, hi = PyList_GET_SIZE(keys);
        while (lo < hi) {  /* bisect_left */
            Py_ssize_t mid = (lo + hi) / 2;
            PyObject *item = PyList_GET_ITEM(keys, mid);
            if (!PyBytes_CheckExact(item)) return 0;
            if (bytes_less(item, key)) lo = mid + 1; else hi = mid;
        }
        insert_at = lo;
    } else if (!PyTuple_CheckExact(old) || PyTuple_GET_SIZE(old) != 2) {
        return 0;
    }
    /* From here on only memory errors can fail, and they trap (the IC rolls back). */
    PyObject *place = Py_BuildValue("(KI)", (unsigned long long)at, size);
    if (place == NULL) return -1;
    if (old == NULL) {
        if (PyList_Insert(keys, insert_at, key) < 0) { Py_DECREF(place); return -1; }
        live += (long long)(end - start);
    } else {
        long long old_size = PyLong_AsLongLong(PyTuple_GET_ITEM(old, 1));
        live += (long long)size - old_size;
        if (PyDict_DelItem(where, key) < 0) { Py_DECREF(place); return -1; }  /* re-inserted last */
    }
    int failed = PyDict_SetItem(where, key, place);
    Py_DECREF(place);
    if (failed < 0) return -1;
    if (append_record(start, key, value, PyBytes_AS_STRING(log_magic)) == 0) return -1;
    PyObject *end_value = PyLong_FromUnsignedLongLong(end), *live_value = PyLong_FromLongLong(live);
    if (end_value == NULL || live_value == NULL) return -1;
    slot_set(store, end_offset, end_value);
    slot_set(store, live_offset, live_value);
    Py_DECREF(end_value);
    Py_DECREF(live_value);
    PyDict_Clear(pending);
    return 1;
}

/* Reply with `out` when it is reply bytes and the message wrote nothing; any other
 * outcome (writes to settle, a reject, an await) goes to the entry's `after(out)`. */
static void reply_or_after(PyObject *entry, PyObject *out) {
    if (PyBytes_CheckExact(out) && PyDict_GET_SIZE(PyTuple_GET_ITEM(entry, E_PENDING)) == 0) {
        ic0_msg_reply_data_append(PTR(PyBytes_AS_STRING(out)), (uint32_t)PyBytes_GET_SIZE(out));
        ic0_msg_reply();
        return;
    }
    PyObject *done = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, E_AFTER), out);
    if (done == NULL) trap_with_python_error();
    Py_DECREF(done);
}

static void end_message_context(void) {
    slot_set(message_object, kind_offset, empty_text);
    slot_set(message_object, current_offset, no_message);
}

/* An update or query method with no guards: the argument, the message context, the
 * call and the reply in C; Python only for what is not common (see the glue). */
static void run_native_entry(PyObject *entry) {
    uint32_t size = ic0_msg_arg_data_size();
    PyObject *arg = PyBytes_FromStringAndSize(NULL, size);
    if (arg == NULL) trap_with_python_error();
    if (size > 0) ic0_msg_arg_data_copy(PTR(PyBytes_AS_STRING(arg)), 0, size);
    PyObject *current = PyTuple_Pack(2, PyTuple_GET_ITEM(entry, E_NAME), arg);
    if (current == NULL) trap_with_python_error();
    slot_set(message_object, kind_offset, PyTuple_GET_ITEM(entry, E_KIND));
    slot_set(message_object, current_offset, current);
    Py_DECREF(current);

    PyObject *argv[MAX_FAST_ARGS + 1];
    Py_ssize_t argc = 0;
    PyObject *result = NULL, *out = NULL;
    Out encoded = {.data = NULL, .size = 0, .capacity = sizeof encoded.small};
    encoded.data = encoded.small;
    if (decode_fast(entry, arg, argv + 1, &argc)) {
        result = PyObject_Vectorcall(PyTuple_GET_ITEM(entry, E_FN), argv + 1,
                                     (size_t)argc | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        for (Py_ssize_t i = 0; i < argc; i++) Py_DECREF(argv[i + 1]);
    } else {
        PyObject *args = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, E_DECODE), arg);
        if (args != NULL) {
            result = PyObject_Call(PyTuple_GET_ITEM(entry, E_FN), args, NULL);
            Py_DECREF(args);
        }
    }
    Py_DECREF(arg);
    int native_reply = 0;
    if (result != NULL) {
        if (PyCoro_CheckExact(result)) {
            out = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, E_START), result);
        } else if (encode_fast(entry, result, &encoded)) {
            native_reply = 1;
        } else {
            out = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, E_ENCODE), result);
        }
        Py_DECREF(result);
    }
    if (result == NULL || (!native_reply && out == NULL)) {
        /* The method raised (or its result does not encode): what it means, as the
         * prepared runner decides (a reject, or a trap that does not return). */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL) PyException_SetTraceback(value, tb);
        out = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, E_OUTCOME_OF), value);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        if (out == NULL) {
            end_message_context();
            trap_with_python_error();
        }
    }
    end_message_context();
    PyObject *pending = PyTuple_GET_ITEM(entry, E_PENDING);
    if (native_reply) {
        if (PyDict_GET_SIZE(pending) > 0) {  /* commit (an update) or drop (a query) */
            int done = 0;
            if (PyTuple_GET_ITEM(entry, E_KIND) == update_kind) {
                done = commit_one(PyTuple_GET_ITEM(entry, E_STORE), pending);
                if (done < 0) trap_with_python_error();
            }
            if (!done) {
                PyObject *settled = PyObject_CallNoArgs(PyTuple_GET_ITEM(entry, E_SETTLE));
                if (settled == NULL) trap_with_python_error();
                Py_DECREF(settled);
            }
        }
        ic0_msg_reply_data_append(PTR(encoded.data), (uint32_t)encoded.size);
        ic0_msg_reply();
    } else {
        reply_or_after(entry, out);
        Py_DECREF(out);
    }
    if (encoded.data != encoded.small) free(encoded.data);
    debug_flush_buffer();
}

/* A method with guards, the store loaded: the prepared runner `run(arg)` does guards,
 * Candid and the call; reply bytes with no pending write are replied here, any other
 * outcome goes to `after(out)`. */
static void run_method_entry(PyObject *entry) {
    PyObject *arg = copy_blob(ic0_msg_arg_data_size, ic0_msg_arg_data_copy);
    if (arg == NULL) trap_with_python_error();
    PyObject *out = PyObject_CallOneArg(PyTuple_GET_ITEM(entry, E_RUN), arg);
    Py_DECREF(arg);
    if (out == NULL) trap_with_python_error();
    reply_or_after(entry, out);
    Py_DECREF(out);
    debug_flush_buffer();
}

void icf_run_entry(uint32_t index) {
    if (index >= (uint32_t)PyList_GET_SIZE(entries)) {
        static const char missing[] = "this entry point has no Python function";
        trap_text(missing, sizeof missing - 1);
    }
    PyObject *entry = PyList_GET_ITEM(entries, index);
    if (PyTuple_Check(entry) && PyTuple_GET_SIZE(entry) == E_FIELDS) {
        PyObject *loaded = *slot(PyTuple_GET_ITEM(entry, E_STORE), loaded_offset);
        if (loaded == Py_True && PyTuple_GET_SIZE(PyTuple_GET_ITEM(entry, E_GUARDS)) == 0) {
            run_native_entry(entry);
            return;
        }
        if (loaded == Py_True) {
            run_method_entry(entry);
            return;
        }
        entry = PyTuple_GET_ITEM(entry, E_CALL_METHOD);
    }
    PyObject *out = PyObject_CallNoArgs(entry);
    if (out == NULL) trap_with_python_error();
    Py_DECREF(out);
    debug_flush_buffer();
}

static void run_callback(uint32_t env, int which) {
    PyObject *out = PyObject_CallFunction(callback_func, "Ii", env, which);
    if (out == NULL) trap_with_python_error();
    Py_DECREF(out);
    debug_flush_buffer();
}

void icf_on_reply(uint32_t env) { run_callback(env, 0); }
void icf_on_reject(uint32_t env) { run_callback(env, 1); }
void icf_on_cleanup(uint32_t env) { run_callback(env, 2); }
