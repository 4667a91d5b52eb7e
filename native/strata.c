/*
 * strata_native: the Linux syscalls Node 20 does not offer, as a small N-API addon.
 *
 * Every function is a thin, honest wrapper: it converts arguments, makes exactly the syscall its
 * name says, and on failure throws an error shaped like Node's fs errors (code = errno name,
 * errno = -errno, syscall, path, dest). One exception, for speed: copyFileUp makes the fixed
 * sequence of syscalls of an overlay copy-up of one regular file (see its comment). Paths are
 * accepted as JS strings (UTF-8) or Buffers (raw bytes, passed through unchanged) because layer
 * file names need not be UTF-8.
 *
 * Blocking lock waits (flock without LOCK_NB, F_OFD_SETLKW) run on a dedicated thread per wait and
 * settle a Promise through a thread-safe function. They deliberately do not use libuv's small
 * shared thread pool: a lock wait can last minutes, and parked pool threads would stall every
 * fs/zlib/crypto job of the process (including the ones the lock holder needs to finish).
 *
 * The TS side (src/sys/) registers an error factory with setErrorFactory() so that errors are
 * built as its SysError class; without one, plain Error objects with the same fields are thrown.
 */
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

/* ---- fallbacks for constants newer than the C library (values are kernel ABI) ---------------- */
#ifndef FSOPEN_CLOEXEC
#error "strata needs <sys/mount.h> from glibc >= 2.36 (new mount API constants)"
#endif
#ifndef FSCONFIG_CMD_CREATE_EXCL
#define FSCONFIG_CMD_CREATE_EXCL 8
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#define RENAME_WHITEOUT (1 << 2)
#endif

/* ---- per-environment state ------------------------------------------------------------------ */

typedef struct {
  napi_ref error_factory; /* JS function (code, errno, syscall, message, path, dest, detail) */
} addon_t;

static addon_t *get_addon(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return (addon_t *)data;
}

static void addon_finalize(napi_env env, void *data, void *hint) {
  addon_t *a = (addon_t *)data;
  if (a->error_factory) napi_delete_reference(env, a->error_factory);
  free(a);
}

/* ---- errno names ------------------------------------------------------------------------------ */

/* The names Node (libuv) uses: EAGAIN for EWOULDBLOCK, ENOTSUP for EOPNOTSUPP, EDEADLK. */
static const char *errno_name(int e) {
#define E(x) \
  case x:    \
    return #x;
  switch (e) {
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(ENOTBLK) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV)
    E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC)
    E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(EDOM) E(ERANGE) E(EDEADLK) E(ENAMETOOLONG) E(ENOLCK)
    E(ENOSYS) E(ENOTEMPTY) E(ELOOP) E(ENOMSG) E(EIDRM) E(ECHRNG) E(EL2NSYNC) E(EL3HLT) E(EL3RST)
    E(ELNRNG) E(EUNATCH) E(ENOCSI) E(EL2HLT) E(EBADE) E(EBADR) E(EXFULL) E(ENOANO) E(EBADRQC)
    E(EBADSLT) E(EBFONT) E(ENOSTR) E(ENODATA) E(ETIME) E(ENOSR) E(ENONET) E(ENOPKG) E(EREMOTE)
    E(ENOLINK) E(EADV) E(ESRMNT) E(ECOMM) E(EPROTO) E(EMULTIHOP) E(EDOTDOT) E(EBADMSG)
    E(EOVERFLOW) E(ENOTUNIQ) E(EBADFD) E(EREMCHG) E(ELIBACC) E(ELIBBAD) E(ELIBSCN) E(ELIBMAX)
    E(ELIBEXEC) E(EILSEQ) E(ERESTART) E(ESTRPIPE) E(EUSERS) E(ENOTSOCK) E(EDESTADDRREQ)
    E(EMSGSIZE) E(EPROTOTYPE) E(ENOPROTOOPT) E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(ENOTSUP)
    E(EPFNOSUPPORT) E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH)
    E(ENETRESET) E(ECONNABORTED) E(ECONNRESET) E(ENOBUFS) E(EISCONN) E(ENOTCONN) E(ESHUTDOWN)
    E(ETOOMANYREFS) E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTDOWN) E(EHOSTUNREACH) E(EALREADY)
    E(EINPROGRESS) E(ESTALE) E(EUCLEAN) E(ENOTNAM) E(ENAVAIL) E(EISNAM) E(EREMOTEIO) E(EDQUOT)
    E(ENOMEDIUM) E(EMEDIUMTYPE) E(ECANCELED) E(ENOKEY) E(EKEYEXPIRED) E(EKEYREVOKED)
    E(EKEYREJECTED) E(EOWNERDEAD) E(ENOTRECOVERABLE) E(ERFKILL) E(EHWPOISON)
    default:
      return "UNKNOWN";
  }
#undef E
}

/* ---- small helpers -------------------------------------------------------------------------- */

/* Returns early (NULL) from a callback when an N-API call fails; an exception is then pending
 * or is raised here. */
#define NAPI_CALL(env, call)                                            \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      bool pending_ = false;                                            \
      napi_is_exception_pending((env), &pending_);                      \
      if (!pending_) napi_throw_error((env), NULL, "N-API call failed: " #call); \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

static napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

static void throw_type(napi_env env, const char *code, const char *fmt, const char *name) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, name);
  napi_throw_type_error(env, code, msg);
}

/* A NUL-terminated copy of a string or Buffer argument. Short values live inline. */
typedef struct {
  char *p;    /* NULL when the argument was null/undefined and that was allowed */
  size_t len; /* bytes, without the terminating NUL */
  char inl[1024];
} cstr_t;

static void cstr_free(cstr_t *s) {
  if (s->p && s->p != s->inl) free(s->p);
  s->p = NULL;
}

static char *cstr_alloc(cstr_t *s, size_t len) {
  s->p = len < sizeof s->inl ? s->inl : (char *)malloc(len + 1);
  return s->p;
}

/* How a string argument becomes bytes: its UTF-8 (text), or one byte per character (a byte string,
 * Node's 'latin1', as the overlay engine keeps paths: no encoding to make, none to get wrong). */
typedef napi_status (*string_bytes_fn)(napi_env, napi_value, char *, size_t, size_t *);

/* Reads a string|Buffer argument into `out`, a string's bytes made by `bytes_of`. Returns 0, or -1
 * with a JS exception pending. */
static int get_string_bytes(napi_env env, napi_value v, const char *name, int allow_null, string_bytes_fn bytes_of, cstr_t *out) {
  napi_valuetype t;
  out->p = NULL;
  out->len = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_null || t == napi_undefined) {
    if (allow_null) return 0;
    throw_type(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type string or Buffer", name);
    return -1;
  }
  if (t == napi_string) {
    size_t len = 0;
    /* most paths fit the inline buffer: one copy, no length query. V8 never splits a character, so
     * only a result within 3 bytes of the end may have been cut short. */
    if (bytes_of(env, v, out->inl, sizeof out->inl, &len) != napi_ok) return -1;
    if (len + 4 < sizeof out->inl) {
      out->p = out->inl;
    } else {
      if (bytes_of(env, v, NULL, 0, &len) != napi_ok) return -1;
      if (!cstr_alloc(out, len)) {
        napi_throw_error(env, "ENOMEM", "out of memory");
        return -1;
      }
      if (bytes_of(env, v, out->p, len + 1, &len) != napi_ok) {
        cstr_free(out);
        return -1;
      }
    }
    out->len = len;
  } else {
    bool is_buf = false;
    void *data = NULL;
    size_t len = 0;
    if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf) {
      throw_type(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type string or Buffer", name);
      return -1;
    }
    if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return -1;
    if (!cstr_alloc(out, len)) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return -1;
    }
    if (len) memcpy(out->p, data, len);
    out->p[len] = '\0';
    out->len = len;
  }
  if (memchr(out->p, '\0', out->len) != NULL) {
    cstr_free(out);
    throw_type(env, "ERR_INVALID_ARG_VALUE", "The \"%s\" argument must not contain null bytes", name);
    return -1;
  }
  return 0;
}

/* A string (UTF-8) or Buffer argument; see get_string_bytes. */
static int get_cstr(napi_env env, napi_value v, const char *name, int allow_null, cstr_t *out) {
  return get_string_bytes(env, v, name, allow_null, napi_get_value_string_utf8, out);
}

/* A byte string (one char per byte) or Buffer argument; see get_string_bytes. */
static int get_bytestr(napi_env env, napi_value v, const char *name, cstr_t *out) {
  return get_string_bytes(env, v, name, 0, napi_get_value_string_latin1, out);
}

/* Reads a Buffer argument (its bytes stay owned by JS). `expected` completes the TypeError's
 * "The "name" argument must be ...". Returns 0, or -1 with a JS exception pending. */
static int get_buffer(napi_env env, napi_value v, const char *name, const char *expected, void **data, size_t *len) {
  bool is_buf = false;
  if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf) {
    char msg[96];
    snprintf(msg, sizeof msg, "The \"%%s\" argument must be %s", expected);
    throw_type(env, "ERR_INVALID_ARG_TYPE", msg, name);
    return -1;
  }
  return napi_get_buffer_info(env, v, data, len) == napi_ok ? 0 : -1;
}

/* Integer argument: a JS number without fraction, or a BigInt that fits int64. */
static int get_i64(napi_env env, napi_value v, const char *name, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_number) {
    double d;
    napi_get_value_double(env, v, &d);
    if (!isfinite(d) || d != trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
      throw_type(env, "ERR_OUT_OF_RANGE", "The \"%s\" argument must be an integer", name);
      return -1;
    }
    *out = (int64_t)d;
    return 0;
  }
  if (t == napi_bigint) {
    bool lossless = false;
    napi_get_value_bigint_int64(env, v, out, &lossless);
    if (!lossless) {
      throw_type(env, "ERR_OUT_OF_RANGE", "The \"%s\" argument does not fit in 64 bits", name);
      return -1;
    }
    return 0;
  }
  throw_type(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type number", name);
  return -1;
}

static int get_int(napi_env env, napi_value v, const char *name, int *out) {
  int64_t x;
  if (get_i64(env, v, name, &x)) return -1;
  if (x < INT_MIN || x > INT_MAX) {
    throw_type(env, "ERR_OUT_OF_RANGE", "The \"%s\" argument is out of range for a C int", name);
    return -1;
  }
  *out = (int)x;
  return 0;
}

/* Flag words: accepts 0..2^32-1, and also negative int32 (what `a | b` yields once bit 31 is set). */
static int get_u32(napi_env env, napi_value v, const char *name, uint32_t *out) {
  int64_t x;
  if (get_i64(env, v, name, &x)) return -1;
  if (x < INT32_MIN || x > (int64_t)UINT32_MAX) {
    throw_type(env, "ERR_OUT_OF_RANGE", "The \"%s\" argument is out of range for 32-bit flags", name);
    return -1;
  }
  *out = (uint32_t)x;
  return 0;
}

/* Optional integer: undefined/null gives `dflt`. */
static int get_int_opt(napi_env env, napi_value v, const char *name, int dflt, int *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) {
    *out = dflt;
    return 0;
  }
  return get_int(env, v, name, out);
}

static int get_u32_opt(napi_env env, napi_value v, const char *name, uint32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) {
    *out = 0;
    return 0;
  }
  return get_u32(env, v, name, out);
}

/* ---- building errors ------------------------------------------------------------------------ */

static napi_value str_or_undefined(napi_env env, const char *s) {
  napi_value v;
  if (s == NULL) return undefined(env);
  /* V8 replaces invalid UTF-8 with U+FFFD, as Node does for Buffer paths in its errors. */
  if (napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v) != napi_ok) return undefined(env);
  return v;
}

/*
 * Creates (does not throw) the error for errno `err`. Message, as Node's fs errors:
 *   "ENOENT: no such file or directory, lgetxattr '/x/y'"   and   "... rename 'a' -> 'b'"
 * `detail` (e.g. the kernel's fs-context log) is appended in parentheses and set as a property.
 * Returns NULL with an exception pending if the registered factory throws.
 */
static napi_value make_sys_error(napi_env env, int err, const char *syscall, const char *path,
                                 const char *dest, const char *detail) {
  const char *code = errno_name(err);
  char text[128];
  /* main thread only, so strerror's static buffer is safe here; lower-case like libuv */
  snprintf(text, sizeof text, "%s", strerror(err));
  if (text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z')) text[0] += 'a' - 'A';

  size_t need = strlen(code) + strlen(text) + strlen(syscall) + 16 + (path ? strlen(path) + 4 : 0) +
                (dest ? strlen(dest) + 8 : 0) + (detail ? strlen(detail) + 4 : 0);
  char *msg = (char *)malloc(need);
  if (!msg) {
    napi_throw_error(env, "ENOMEM", "out of memory while building an error");
    return NULL;
  }
  int n = snprintf(msg, need, "%s: %s, %s", code, text, syscall);
  if (path) n += snprintf(msg + n, need - n, " '%s'", path);
  if (dest) n += snprintf(msg + n, need - n, " -> '%s'", dest);
  if (detail) snprintf(msg + n, need - n, " (%s)", detail);

  napi_value v_code, v_errno, v_syscall, v_msg, result = NULL;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v_code);
  napi_create_int32(env, -err, &v_errno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v_syscall);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &v_msg);
  free(msg);

  addon_t *a = get_addon(env);
  napi_value factory = NULL;
  if (a && a->error_factory) napi_get_reference_value(env, a->error_factory, &factory);
  if (factory) {
    napi_value argv[7] = {v_code, v_errno, v_syscall, v_msg, str_or_undefined(env, path),
                          str_or_undefined(env, dest), str_or_undefined(env, detail)};
    napi_value recv = undefined(env);
    if (napi_call_function(env, recv, factory, 7, argv, &result) != napi_ok) return NULL;
    return result;
  }
  if (napi_create_error(env, v_code, v_msg, &result) != napi_ok) return NULL;
  napi_set_named_property(env, result, "errno", v_errno);
  napi_set_named_property(env, result, "syscall", v_syscall);
  if (path) napi_set_named_property(env, result, "path", str_or_undefined(env, path));
  if (dest) napi_set_named_property(env, result, "dest", str_or_undefined(env, dest));
  if (detail) napi_set_named_property(env, result, "detail", str_or_undefined(env, detail));
  return result;
}

/* Throws the error for `err` and returns NULL (for `return throw_sys(...)`). */
static napi_value throw_sys(napi_env env, int err, const char *syscall, const char *path,
                            const char *dest, const char *detail) {
  napi_value e = make_sys_error(env, err, syscall, path, dest, detail);
  if (e) napi_throw(env, e);
  return NULL;
}

/* ---- argument plumbing ---------------------------------------------------------------------- */

#define ARGS(n)                                                       \
  size_t argc = (n);                                                  \
  napi_value argv[(n) > 0 ? (n) : 1];                                 \
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

/* ---- mounts --------------------------------------------------------------------------------- */

/* mount(source|null, target, fstype|null, flags, data|null) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(5);
  cstr_t src, tgt, fst, data;
  uint32_t flags;
  napi_value ret = NULL;
  if (get_cstr(env, argv[0], "source", 1, &src)) return NULL;
  if (get_cstr(env, argv[1], "target", 0, &tgt)) goto out0;
  if (get_cstr(env, argv[2], "fstype", 1, &fst)) goto out1;
  if (get_u32_opt(env, argv[3], "flags", &flags)) goto out2;
  if (get_cstr(env, argv[4], "data", 1, &data)) goto out2;
  if (mount(src.p, tgt.p, fst.p, (unsigned long)flags, data.p) < 0)
    throw_sys(env, errno, "mount", src.p ? src.p : tgt.p, src.p ? tgt.p : NULL, NULL);
  else
    ret = undefined(env);
  cstr_free(&data);
out2:
  cstr_free(&fst);
out1:
  cstr_free(&tgt);
out0:
  cstr_free(&src);
  return ret;
}

/* umount2(target, flags) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  ARGS(2);
  cstr_t tgt;
  uint32_t flags;
  if (get_cstr(env, argv[0], "target", 0, &tgt)) return NULL;
  if (get_u32_opt(env, argv[1], "flags", &flags)) {
    cstr_free(&tgt);
    return NULL;
  }
  int r = umount2(tgt.p, (int)flags);
  int e = errno;
  napi_value ret = r < 0 ? throw_sys(env, e, "umount2", tgt.p, NULL, NULL) : undefined(env);
  cstr_free(&tgt);
  return ret;
}

/* fsopen(fsname, flags) -> fd */
static napi_value js_fsopen(napi_env env, napi_callback_info info) {
  ARGS(2);
  cstr_t name;
  uint32_t flags;
  napi_value ret = NULL;
  if (get_cstr(env, argv[0], "fsname", 0, &name)) return NULL;
  if (get_u32_opt(env, argv[1], "flags", &flags) == 0) {
    int fd = (int)syscall(SYS_fsopen, name.p, flags);
    if (fd < 0)
      throw_sys(env, errno, "fsopen", name.p, NULL, NULL);
    else
      napi_create_int32(env, fd, &ret);
  }
  cstr_free(&name);
  return ret;
}

/* Collects the messages the kernel queued on a filesystem-context fd ("e overlay: ..."), joined
 * by "; ". Only reads when `fd` really is an fs context, so a wrong fd can never block here. */
static void fs_context_log(int fd, char *out, size_t outsz) {
  char link[64], target[64];
  out[0] = '\0';
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t tl = readlink(link, target, sizeof target - 1);
  if (tl < 0) return;
  target[tl] = '\0';
  if (strcmp(target, "anon_inode:[fscontext]") != 0) return;
  size_t used = 0;
  for (int i = 0; i < 16; i++) {
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0) break;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0')) n--;
    buf[n] = '\0';
    int w = snprintf(out + used, outsz - used, "%s%s", used ? "; " : "", buf);
    if (w < 0 || (size_t)w >= outsz - used) {
      out[outsz - 1] = '\0';
      break;
    }
    used += (size_t)w;
  }
}

/* fsconfig(fd, cmd, key|null, value: string|Buffer|null, aux) */
static napi_value js_fsconfig(napi_env env, napi_callback_info info) {
  ARGS(5);
  int fd, aux, cmd;
  cstr_t key, val;
  const void *value = NULL;
  napi_value ret = NULL;
  val.p = NULL;
  if (get_int(env, argv[0], "fd", &fd) || get_int(env, argv[1], "cmd", &cmd)) return NULL;
  if (get_int_opt(env, argv[4], "aux", 0, &aux)) return NULL;
  if (get_cstr(env, argv[2], "key", 1, &key)) return NULL;
  if (cmd == FSCONFIG_SET_BINARY) {
    size_t len = 0;
    void *data = NULL;
    if (get_buffer(env, argv[3], "value", "a Buffer for FSCONFIG_SET_BINARY", &data, &len)) goto out;
    value = data;
    aux = (int)len;
  } else {
    if (get_cstr(env, argv[3], "value", 1, &val)) goto out;
    value = val.p;
  }
  if (syscall(SYS_fsconfig, fd, (unsigned int)cmd, key.p, value, aux) < 0) {
    int e = errno;
    char log[1024], detail[1200];
    fs_context_log(fd, log, sizeof log);
    if (key.p && log[0])
      snprintf(detail, sizeof detail, "%s: %s", key.p, log);
    else
      snprintf(detail, sizeof detail, "%s", key.p ? key.p : log);
    throw_sys(env, e, "fsconfig", val.p ? val.p : NULL, NULL, detail[0] ? detail : NULL);
  } else {
    ret = undefined(env);
  }
out:
  cstr_free(&val);
  cstr_free(&key);
  return ret;
}

/* fsmount(fsfd, flags, attrFlags) -> fd */
static napi_value js_fsmount(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd;
  uint32_t flags, attrs;
  napi_value ret = NULL;
  if (get_int(env, argv[0], "fd", &fd) || get_u32_opt(env, argv[1], "flags", &flags) ||
      get_u32_opt(env, argv[2], "attrFlags", &attrs))
    return NULL;
  int mfd = (int)syscall(SYS_fsmount, fd, flags, attrs);
  if (mfd < 0) {
    int e = errno;
    char log[1024];
    fs_context_log(fd, log, sizeof log);
    return throw_sys(env, e, "fsmount", NULL, NULL, log[0] ? log : NULL);
  }
  napi_create_int32(env, mfd, &ret);
  return ret;
}

/* move_mount(fromDfd, fromPath, toDfd, toPath, flags) */
static napi_value js_move_mount(napi_env env, napi_callback_info info) {
  ARGS(5);
  int fdfd, tdfd;
  uint32_t flags;
  cstr_t from, to;
  napi_value ret = NULL;
  if (get_int(env, argv[0], "fromDirFd", &fdfd) || get_int(env, argv[2], "toDirFd", &tdfd) ||
      get_u32_opt(env, argv[4], "flags", &flags))
    return NULL;
  if (get_cstr(env, argv[1], "fromPath", 0, &from)) return NULL;
  if (get_cstr(env, argv[3], "toPath", 0, &to) == 0) {
    if (syscall(SYS_move_mount, fdfd, from.p, tdfd, to.p, flags) < 0)
      throw_sys(env, errno, "move_mount", from.p, to.p, NULL);
    else
      ret = undefined(env);
    cstr_free(&to);
  }
  cstr_free(&from);
  return ret;
}

/* open_tree(dirFd, path, flags) -> fd */
static napi_value js_open_tree(napi_env env, napi_callback_info info) {
  ARGS(3);
  int dfd;
  uint32_t flags;
  cstr_t path;
  napi_value ret = NULL;
  if (get_int(env, argv[0], "dirFd", &dfd) || get_u32_opt(env, argv[2], "flags", &flags)) return NULL;
  if (get_cstr(env, argv[1], "path", 0, &path)) return NULL;
  int fd = (int)syscall(SYS_open_tree, dfd, path.p, flags);
  if (fd < 0)
    throw_sys(env, errno, "open_tree", path.p, NULL, NULL);
  else
    napi_create_int32(env, fd, &ret);
  cstr_free(&path);
  return ret;
}

/* ---- device nodes --------------------------------------------------------------------------- */

static napi_value do_mknodat(napi_env env, int dfd, napi_value *argv, const char *syscall_name) {
  cstr_t path;
  uint32_t mode, maj, min;
  napi_value ret = NULL;
  if (get_u32(env, argv[1], "mode", &mode) || get_u32_opt(env, argv[2], "major", &maj) ||
      get_u32_opt(env, argv[3], "minor", &min))
    return NULL;
  if (get_cstr(env, argv[0], "path", 0, &path)) return NULL;
  if (mknodat(dfd, path.p, (mode_t)mode, makedev(maj, min)) < 0)
    throw_sys(env, errno, syscall_name, path.p, NULL, NULL);
  else
    ret = undefined(env);
  cstr_free(&path);
  return ret;
}

/* mknod(path, mode, major, minor) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  ARGS(4);
  return do_mknodat(env, AT_FDCWD, argv, "mknod");
}

/* mknodat(dirFd, path, mode, major, minor) */
static napi_value js_mknodat(napi_env env, napi_callback_info info) {
  ARGS(5);
  int dfd;
  if (get_int(env, argv[0], "dirFd", &dfd)) return NULL;
  return do_mknodat(env, dfd, argv + 1, "mknodat");
}

/* ---- extended attributes (never following symlinks) ----------------------------------------- */

/* lgetxattr(path, name) -> Buffer | null (null when the attribute does not exist) */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  cstr_t path, name;
  napi_value ret = NULL;
  char stackbuf[4096];
  if (get_cstr(env, argv[0], "path", 0, &path)) return NULL;
  if (get_cstr(env, argv[1], "name", 0, &name)) {
    cstr_free(&path);
    return NULL;
  }
  ssize_t n = lgetxattr(path.p, name.p, stackbuf, sizeof stackbuf);
  if (n >= 0) {
    void *data;
    napi_create_buffer_copy(env, (size_t)n, stackbuf, &data, &ret);
  } else if (errno == ENODATA) {
    napi_get_null(env, &ret);
  } else if (errno != ERANGE) {
    throw_sys(env, errno, "lgetxattr", path.p, NULL, NULL);
  } else {
    /* larger than the stack buffer: ask for the size, and retry if it grew meanwhile */
    for (;;) {
      ssize_t size = lgetxattr(path.p, name.p, NULL, 0);
      if (size < 0) {
        if (errno == ENODATA)
          napi_get_null(env, &ret);
        else
          throw_sys(env, errno, "lgetxattr", path.p, NULL, NULL);
        break;
      }
      char *buf = (char *)malloc(size ? (size_t)size : 1);
      if (!buf) {
        throw_sys(env, ENOMEM, "lgetxattr", path.p, NULL, NULL);
        break;
      }
      n = lgetxattr(path.p, name.p, buf, (size_t)size);
      int e = errno;
      if (n >= 0) {
        void *data;
        napi_create_buffer_copy(env, (size_t)n, buf, &data, &ret);
        free(buf);
        break;
      }
      free(buf);
      if (e == ERANGE) continue;
      if (e == ENODATA)
        napi_get_null(env, &ret);
      else
        throw_sys(env, e, "lgetxattr", path.p, NULL, NULL);
      break;
    }
  }
  cstr_free(&name);
  cstr_free(&path);
  return ret;
}

/* lsetxattr(path, name, value: Buffer|string, flags) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(4);
  cstr_t path, name, sval;
  uint32_t flags;
  const void *value;
  size_t len;
  napi_value ret = NULL;
  napi_valuetype t;
  sval.p = NULL;
  if (get_u32_opt(env, argv[3], "flags", &flags)) return NULL;
  NAPI_CALL(env, napi_typeof(env, argv[2], &t));
  if (t == napi_string) {
    if (get_cstr(env, argv[2], "value", 0, &sval)) return NULL;
    value = sval.p;
    len = sval.len;
  } else {
    void *data = NULL;
    if (get_buffer(env, argv[2], "value", "of type Buffer or string", &data, &len)) return NULL;
    value = data;
  }
  if (get_cstr(env, argv[0], "path", 0, &path)) goto out0;
  if (get_cstr(env, argv[1], "name", 0, &name)) goto out1;
  if (lsetxattr(path.p, name.p, len ? value : "", len, (int)flags) < 0)
    throw_sys(env, errno, "lsetxattr", path.p, NULL, NULL);
  else
    ret = undefined(env);
  cstr_free(&name);
out1:
  cstr_free(&path);
out0:
  cstr_free(&sval);
  return ret;
}

/* llistxattr(path) -> string[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  ARGS(1);
  cstr_t path;
  char stackbuf[4096];
  char *list = stackbuf;
  ssize_t n;
  napi_value ret = NULL;
  if (get_cstr(env, argv[0], "path", 0, &path)) return NULL;
  n = llistxattr(path.p, stackbuf, sizeof stackbuf);
  while (n < 0 && errno == ERANGE) {
    if (list != stackbuf) free(list);
    list = stackbuf;
    ssize_t size = llistxattr(path.p, NULL, 0);
    if (size < 0) break;
    list = (char *)malloc(size ? (size_t)size : 1);
    if (!list) {
      list = stackbuf;
      errno = ENOMEM;
      n = -1;
      break;
    }
    n = llistxattr(path.p, list, (size_t)size);
  }
  if (n < 0) {
    throw_sys(env, errno, "llistxattr", path.p, NULL, NULL);
  } else {
    napi_create_array(env, &ret);
    uint32_t idx = 0;
    for (ssize_t off = 0; off < n;) {
      size_t l = strnlen(list + off, (size_t)(n - off));
      if (l > 0) {
        napi_value s;
        napi_create_string_utf8(env, list + off, l, &s);
        napi_set_element(env, ret, idx++, s);
      }
      off += (ssize_t)l + 1;
    }
  }
  if (list != stackbuf) free(list);
  cstr_free(&path);
  return ret;
}

/* lremovexattr(path, name) */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  cstr_t path, name;
  napi_value ret = NULL;
  if (get_cstr(env, argv[0], "path", 0, &path)) return NULL;
  if (get_cstr(env, argv[1], "name", 0, &name) == 0) {
    if (lremovexattr(path.p, name.p) < 0)
      throw_sys(env, errno, "lremovexattr", path.p, NULL, NULL);
    else
      ret = undefined(env);
    cstr_free(&name);
  }
  cstr_free(&path);
  return ret;
}

/* ---- names and times ------------------------------------------------------------------------ */

/* The shape renameat2 and linkat share: (oldDirFd, oldPath, newDirFd, newPath, flags). */
typedef int (*two_path_at_fn)(int, const char *, int, const char *, unsigned int);

static int do_renameat2(int ofd, const char *op, int nfd, const char *np, unsigned int flags) {
  return renameat2(ofd, op, nfd, np, flags);
}

static int do_linkat(int ofd, const char *op, int nfd, const char *np, unsigned int flags) {
  return linkat(ofd, op, nfd, np, (int)flags);
}

static napi_value two_path_at(napi_env env, napi_callback_info info, two_path_at_fn fn, const char *syscall_name) {
  ARGS(5);
  int ofd, nfd;
  uint32_t flags;
  cstr_t op, np;
  napi_value ret = NULL;
  if (get_int(env, argv[0], "oldDirFd", &ofd) || get_int(env, argv[2], "newDirFd", &nfd) ||
      get_u32_opt(env, argv[4], "flags", &flags))
    return NULL;
  if (get_cstr(env, argv[1], "oldPath", 0, &op)) return NULL;
  if (get_cstr(env, argv[3], "newPath", 0, &np) == 0) {
    if (fn(ofd, op.p, nfd, np.p, flags) < 0)
      throw_sys(env, errno, syscall_name, op.p, np.p, NULL);
    else
      ret = undefined(env);
    cstr_free(&np);
  }
  cstr_free(&op);
  return ret;
}

/* renameat2(oldDirFd, oldPath, newDirFd, newPath, flags) */
static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  return two_path_at(env, info, do_renameat2, "renameat2");
}

/* linkat(oldDirFd, oldPath, newDirFd, newPath, flags) */
static napi_value js_linkat(napi_env env, napi_callback_info info) {
  return two_path_at(env, info, do_linkat, "linkat");
}

/* A time for utimensat: BigInt nanoseconds since the epoch, {sec, nsec} (nsec may be UTIME_NOW or
 * UTIME_OMIT), or null/undefined for UTIME_OMIT. */
static int get_timespec(napi_env env, napi_value v, const char *name, struct timespec *ts) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) {
    ts->tv_sec = 0;
    ts->tv_nsec = UTIME_OMIT;
    return 0;
  }
  if (t == napi_bigint) {
    int64_t ns;
    if (get_i64(env, v, name, &ns)) return -1;
    int64_t sec = ns / 1000000000, rem = ns % 1000000000;
    if (rem < 0) {
      rem += 1000000000;
      sec -= 1;
    }
    ts->tv_sec = (time_t)sec;
    ts->tv_nsec = (long)rem;
    return 0;
  }
  if (t == napi_object) {
    napi_value vs, vn;
    int64_t sec = 0, nsec = 0;
    napi_valuetype ts_t;
    if (napi_get_named_property(env, v, "sec", &vs) != napi_ok) return -1;
    if (napi_get_named_property(env, v, "nsec", &vn) != napi_ok) return -1;
    if (napi_typeof(env, vs, &ts_t) != napi_ok) return -1;
    if (ts_t != napi_undefined && get_i64(env, vs, "sec", &sec)) return -1;
    if (get_i64(env, vn, "nsec", &nsec)) return -1;
    if ((nsec < 0 || nsec > 999999999) && nsec != UTIME_NOW && nsec != UTIME_OMIT) {
      throw_type(env, "ERR_OUT_OF_RANGE", "The \"%s\" nsec must be 0..999999999, UTIME_NOW or UTIME_OMIT", name);
      return -1;
    }
    ts->tv_sec = (time_t)sec;
    ts->tv_nsec = (long)nsec;
    return 0;
  }
  throw_type(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be a BigInt of nanoseconds or {sec, nsec}", name);
  return -1;
}

/* utimensat(dirFd, path|null, atime, mtime, flags) */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  ARGS(5);
  int dfd;
  uint32_t flags;
  struct timespec ts[2];
  cstr_t path;
  napi_value ret = NULL;
  if (get_int(env, argv[0], "dirFd", &dfd) || get_timespec(env, argv[2], "atime", &ts[0]) ||
      get_timespec(env, argv[3], "mtime", &ts[1]) || get_u32_opt(env, argv[4], "flags", &flags))
    return NULL;
  if (get_cstr(env, argv[1], "path", 1, &path)) return NULL;
  /* glibc's wrapper rejects a NULL path with EINVAL; the kernel takes it as "dirFd itself" */
  long r = path.p ? utimensat(dfd, path.p, ts, (int)flags) : syscall(SYS_utimensat, dfd, NULL, ts, (int)flags);
  if (r < 0)
    throw_sys(env, errno, "utimensat", path.p, NULL, NULL);
  else
    ret = undefined(env);
  cstr_free(&path);
  return ret;
}

/* ---- stat ----------------------------------------------------------------------------------- */

/* Reads a typed array argument of `type` with at least `min` elements. Returns 0, or -1 with a JS
 * exception pending. */
static int get_typed(napi_env env, napi_value v, const char *name, napi_typedarray_type type, size_t min, void **data) {
  bool is = false;
  napi_typedarray_type t;
  size_t len = 0;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &t, &len, data, NULL, NULL) != napi_ok || t != type || len < min) {
    throw_type(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument is not the typed array expected", name);
    return -1;
  }
  return 0;
}

/* A stat in fstatat's two typed arrays (see below). */
static void fill_stat(const struct stat *st, double *nums, int64_t *bigs) {
  nums[0] = (double)st->st_dev;
  nums[1] = (double)st->st_mode;
  nums[2] = (double)st->st_nlink;
  nums[3] = (double)st->st_uid;
  nums[4] = (double)st->st_gid;
  nums[5] = (double)st->st_rdev;
  nums[6] = (double)st->st_size;
  nums[7] = (double)st->st_blksize;
  nums[8] = (double)st->st_blocks;
  bigs[0] = (int64_t)st->st_ino;
  bigs[1] = (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec;
  bigs[2] = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  bigs[3] = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/*
 * fstatat(dirFd, path, flags, maybe, nums, bigs): stat(2) into two typed arrays instead of a new
 * object — Node's fs.Stats (four Date objects, BigInt arithmetic) costs more than the syscall.
 * `nums` (Float64Array[9]): dev, mode, nlink, uid, gid, rdev, size, blksize, blocks; `bigs`
 * (BigInt64Array[4]): ino (its bits; read it unsigned), atime, mtime and ctime in nanoseconds. A
 * null path is `dirFd` itself (AT_EMPTY_PATH). Returns true; with `maybe`, false where the path or
 * a directory on it does not exist (ENOENT, ENOTDIR) instead of throwing.
 */
static napi_value js_fstatat(napi_env env, napi_callback_info info) {
  ARGS(6);
  int dfd;
  uint32_t flags;
  bool maybe = false;
  double *nums;
  int64_t *bigs;
  cstr_t path;
  if (get_int(env, argv[0], "dirFd", &dfd) || get_u32(env, argv[2], "flags", &flags) ||
      get_typed(env, argv[4], "nums", napi_float64_array, 9, (void **)&nums) ||
      get_typed(env, argv[5], "bigs", napi_bigint64_array, 4, (void **)&bigs))
    return NULL;
  NAPI_CALL(env, napi_get_value_bool(env, argv[3], &maybe));
  if (get_cstr(env, argv[1], "path", 1, &path)) return NULL;
  struct stat st;
  napi_value ret = NULL;
  if (fstatat(dfd, path.p ? path.p : "", &st, (int)flags | (path.p ? 0 : AT_EMPTY_PATH)) < 0) {
    int err = errno;
    if (maybe && (err == ENOENT || err == ENOTDIR))
      napi_get_boolean(env, false, &ret);
    else
      throw_sys(env, err, path.p ? ((flags & AT_SYMLINK_NOFOLLOW) ? "lstat" : "stat") : "fstat", path.p, NULL, NULL);
  } else {
    fill_stat(&st, nums, bigs);
    napi_get_boolean(env, true, &ret);
  }
  cstr_free(&path);
  return ret;
}

/* ---- copy-up: one object with its metadata ------------------------------------------------- */

/*
 * The one function here that is not a single syscall: an overlay copy-up is the hottest write path
 * of strata's OverlayFS, and made as ~15 separate calls from JavaScript the same syscalls made a
 * FUSE copy-up cost 406 µs instead of 315 (client and daemon pinned to one CPU). The sequence is
 * fixed and is the kernel overlay's (ovl_copy_up_one: the parent's times kept, ovl_copy_up_file,
 * ovl_copy_xattr, ovl_set_attr); src/ovl/copyup.ts owns the rules and passes them in.
 */

/* Copies `size` bytes from offset 0 of `in` to the empty `out`: copy_file_range (a reflink where
 * the filesystem shares extents), or through a buffer where the kernel cannot copy between these
 * two files. Returns 0 or an errno, with *what naming the failed syscall. */
static int copy_data(int in, int out, int64_t size, const char **what) {
  loff_t off_in = 0, off_out = 0;
  while (off_in < size) {
    ssize_t n = copy_file_range(in, &off_in, out, &off_out, (size_t)(size - off_in), 0);
    if (n > 0) continue;
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (off_in == 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) break;
    *what = "copy_file_range";
    return errno;
  }
  if (off_in >= size) return 0;
  /* per call, not static: several worker threads may copy at once */
  const size_t buf_size = 1 << 20;
  char *buf = (char *)malloc(buf_size);
  if (!buf) {
    *what = "read";
    return ENOMEM;
  }
  int err = 0;
  for (off_t pos = 0; pos < size && !err;) {
    ssize_t n = pread(in, buf, (size_t)(size - pos < (int64_t)buf_size ? size - pos : (int64_t)buf_size), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *what = "read";
      err = errno;
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = pwrite(out, buf + done, (size_t)(n - done), pos + done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        *what = "write";
        err = errno;
        break;
      }
      done += w;
    }
    pos += n;
  }
  free(buf);
  return err;
}

/* An object a copy-up reads or labels: an open file (path NULL), or a path, never followed (what
 * cannot be opened, a symlink, or should not be, a device, and directories). */
typedef struct {
  int fd;
  const char *path;
} obj_t;

static ssize_t x_list(obj_t o, char *list, size_t size) {
  return o.path ? llistxattr(o.path, list, size) : flistxattr(o.fd, list, size);
}
static ssize_t x_get(obj_t o, const char *name, void *value, size_t size) {
  return o.path ? lgetxattr(o.path, name, value, size) : fgetxattr(o.fd, name, value, size);
}
static int x_set(obj_t o, const char *name, const void *value, size_t size) {
  return o.path ? lsetxattr(o.path, name, value, size, 0) : fsetxattr(o.fd, name, value, size, 0);
}

/* Copies every xattr of `in` to `out` but those under `skip` that are not under `keep`; a
 * security.* one the target refuses (EPERM, EOPNOTSUPP) is left out. Returns 0 or an errno, with
 * *what naming the failed call. */
static int copy_xattrs(obj_t in, obj_t out, const char *skip, const char *keep, const char **what) {
  char stacklist[4096], stackval[4096];
  char *list = stacklist;
  ssize_t n = x_list(in, list, sizeof stacklist);
  int err = 0;
  while (n < 0 && errno == ERANGE) { /* larger than the stack buffer (retried if it grows meanwhile) */
    if (list != stacklist) free(list);
    list = stacklist;
    ssize_t size = x_list(in, NULL, 0);
    if (size <= 0) {
      n = size;
      break;
    }
    list = (char *)malloc((size_t)size);
    if (!list) {
      list = stacklist;
      errno = ENOMEM;
      break;
    }
    n = x_list(in, list, (size_t)size);
  }
  if (n < 0) {
    *what = in.path ? "llistxattr" : "flistxattr";
    err = errno;
    goto out;
  }
  size_t skip_len = strlen(skip), keep_len = strlen(keep);
  for (char *name = list; name < list + n; name += strlen(name) + 1) {
    if (strncmp(name, skip, skip_len) == 0 && strncmp(name, keep, keep_len) != 0) continue;
    char *val = stackval;
    ssize_t len = x_get(in, name, val, sizeof stackval);
    if (len < 0 && errno == ERANGE) {
      ssize_t size = x_get(in, name, NULL, 0);
      val = size >= 0 ? (char *)malloc(size ? (size_t)size : 1) : NULL;
      len = val ? x_get(in, name, val, (size_t)size) : -1;
    }
    if (len < 0) {
      if (val != stackval) free(val);
      if (errno == ENODATA) continue; /* removed meanwhile */
      *what = in.path ? "lgetxattr" : "fgetxattr";
      err = errno;
      goto out;
    }
    int r = x_set(out, name, len ? val : "", (size_t)len);
    int e = errno;
    if (val != stackval) free(val);
    if (r < 0 && !(strncmp(name, "security.", 9) == 0 && (e == EPERM || e == EOPNOTSUPP))) {
      *what = out.path ? "lsetxattr" : "fsetxattr";
      err = e;
      goto out;
    }
  }
out:
  if (list != stacklist) free(list);
  return err;
}

/* What a copy-up copies and records: the xattr prefixes (see copy_xattrs) and the origin's name
 * and head (see set_origin; whether an origin is written at all is the caller's `with_origin`). */
typedef struct {
  const char *skip, *keep, *origin_name;
  const unsigned char *header;
  size_t header_len;
} copy_rules_t;

/* Writes the origin xattr on `out`: the rules' head (a copy of it) with the file handle of `in`
 * appended, its byte 2 set to the total length and byte 4 to the handle type; an empty value when
 * the head is empty or the filesystem gives no handle (origin unknown). */
static int set_origin(obj_t in, obj_t out, const copy_rules_t *r) {
  struct {
    struct file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h;
  unsigned char value[256];
  size_t len = 0;
  int mount_id;
  h.fh.handle_bytes = MAX_HANDLE_SZ;
  int got = r->header_len == 0 ? -1
            : in.path           ? name_to_handle_at(AT_FDCWD, in.path, &h.fh, &mount_id, 0)
                                : name_to_handle_at(in.fd, "", &h.fh, &mount_id, AT_EMPTY_PATH);
  if (got == 0 && r->header_len + h.fh.handle_bytes < sizeof value) { /* the length must fit its byte */
    memcpy(value, r->header, r->header_len);
    memcpy(value + r->header_len, h.fh.f_handle, h.fh.handle_bytes);
    len = r->header_len + h.fh.handle_bytes;
    value[2] = (unsigned char)len;
    value[4] = (unsigned char)h.fh.handle_type;
  }
  return x_set(out, r->origin_name, len ? (const void *)value : "", len) < 0 ? errno : 0;
}

/* An attribute change made on the complete copy before it is put in place, so that the copy
 * appears already changed (a setattr that needed the copy-up): -1 leaves uid, gid, mode or size as
 * copied, UTIME_OMIT a time. */
typedef struct {
  int64_t uid, gid, mode, size;
  struct timespec times[2];
} change_t;

/* Applies `c` to the new object `out` in the order a setattr makes the calls: owner (which drops
 * setuid bits and security.capability, as chown on the upper object after a copy-up would), mode,
 * size, then the times (a truncate moves mtime). Returns 0 or an errno, with *what naming the call. */
static int apply_change(obj_t out, const change_t *c, const char **what) {
  if (c->uid >= 0 || c->gid >= 0) {
    uid_t uid = c->uid >= 0 ? (uid_t)c->uid : (uid_t)-1;
    gid_t gid = c->gid >= 0 ? (gid_t)c->gid : (gid_t)-1;
    if ((out.path ? fchownat(AT_FDCWD, out.path, uid, gid, AT_SYMLINK_NOFOLLOW) : fchown(out.fd, uid, gid)) < 0) {
      *what = "chown";
      return errno;
    }
  }
  if (c->mode >= 0 && (out.path ? fchmodat(AT_FDCWD, out.path, (mode_t)c->mode & 07777, 0) : fchmod(out.fd, (mode_t)c->mode & 07777)) < 0) {
    *what = "chmod";
    return errno;
  }
  if (c->size >= 0) {
    if (out.path) { /* only a regular file (always copied through an fd) has a size to set */
      *what = "truncate";
      return EINVAL;
    }
    if (ftruncate(out.fd, (off_t)c->size) < 0) {
      *what = "ftruncate";
      return errno;
    }
  }
  if ((c->times[0].tv_nsec != UTIME_OMIT || c->times[1].tv_nsec != UTIME_OMIT) &&
      (out.path ? utimensat(AT_FDCWD, out.path, c->times, AT_SYMLINK_NOFOLLOW) : futimens(out.fd, c->times)) < 0) {
    *what = "utimensat";
    return errno;
  }
  return 0;
}

/* Gives the new object `out` the metadata of `in` (attributes `st`), in the kernel's order: the
 * owner (chown drops security.capability and setuid bits, so it goes first), the xattrs, the
 * permission bits (not a symlink's), the origin, then atime and mtime; then the change `c`, if
 * any (apply_change). What of `c` gives the same result made in the copy's own calls is made
 * there: its mode when it sets no owner (which would drop setuid bits set before it), its times
 * when it sets no owner or size either (a truncate moves mtime). Returns 0 or an errno, with
 * *what naming the failed call. */
static int copy_metadata(obj_t in, obj_t out, const struct stat *st, const copy_rules_t *r, bool with_origin, const change_t *c,
                         const char **what) {
  int err;
  change_t rest;
  mode_t mode = st->st_mode & 07777;
  struct timespec ts[2] = {st->st_atim, st->st_mtim};
  if (c) {
    if (c->mode >= 0 && S_ISLNK(st->st_mode)) { /* as chmod of a symlink itself */
      *what = "chmod";
      return EOPNOTSUPP;
    }
    rest = *c;
    if (c->uid < 0 && c->gid < 0) {
      if (c->mode >= 0) mode = (mode_t)c->mode & 07777;
      rest.mode = -1;
      if (c->size < 0) {
        for (int i = 0; i < 2; i++)
          if (c->times[i].tv_nsec != UTIME_OMIT) ts[i] = c->times[i];
        rest.times[0] = rest.times[1] = (struct timespec){0, UTIME_OMIT};
      }
    }
  }
  /* always, as ovl_set_attr: a new object's group may be its directory's (setgid), not the caller's */
  if ((out.path ? fchownat(AT_FDCWD, out.path, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) : fchown(out.fd, st->st_uid, st->st_gid)) < 0) {
    *what = "chown";
    return errno;
  }
  if ((err = copy_xattrs(in, out, r->skip, r->keep, what))) return err;
  if (!S_ISLNK(st->st_mode) && (out.path ? fchmodat(AT_FDCWD, out.path, mode, 0) : fchmod(out.fd, mode)) < 0) {
    *what = "chmod";
    return errno;
  }
  if (with_origin && (err = set_origin(in, out, r))) {
    *what = out.path ? "lsetxattr" : "fsetxattr";
    return err;
  }
  if ((out.path ? utimensat(AT_FDCWD, out.path, ts, AT_SYMLINK_NOFOLLOW) : futimens(out.fd, ts)) < 0) {
    *what = "utimensat";
    return errno;
  }
  return c ? apply_change(out, &rest, what) : 0;
}

/* How this process names an O_TMPFILE file: 0 not known yet, 1 linkat(AT_EMPTY_PATH) (needs
 * CAP_DAC_READ_SEARCH), 2 linkat of /proc/self/fd/N (needs /proc). Learnt on first use. */
static int tmpfile_link_way = 0;

/* Gives the unnamed file `fd` the name `dst`, as the kernel's ovl_copy_up_tmpfile links its copy. */
static int link_tmpfile(int fd, const char *dst) {
  int way = __atomic_load_n(&tmpfile_link_way, __ATOMIC_RELAXED);
  if (way != 2) {
    if (linkat(fd, "", AT_FDCWD, dst, AT_EMPTY_PATH) == 0) {
      __atomic_store_n(&tmpfile_link_way, 1, __ATOMIC_RELAXED);
      return 0;
    }
    if (way == 1 || errno != ENOENT) return -1; /* ENOENT: not allowed to (or dst's parent is gone) */
  }
  char proc[48];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) < 0) return -1;
  __atomic_store_n(&tmpfile_link_way, 2, __ATOMIC_RELAXED);
  return 0;
}

/* The directory part of `path` into `dir` (PATH_MAX bytes): "." for a bare name, "/" for "/x". */
static int dir_of(const char *path, char *dir) {
  const char *slash = strrchr(path, '/');
  size_t len = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
  if (len >= PATH_MAX) return ENAMETOOLONG;
  memcpy(dir, slash == NULL ? "." : path, len);
  dir[len] = 0;
  return 0;
}

/* Opens a new unnamed file in the directory of `tmp` (O_TMPFILE); -1 with errno EOPNOTSUPP where
 * the filesystem or kernel has none. */
static int open_tmpfile_beside(const char *tmp) {
  char dir[PATH_MAX];
  if ((errno = dir_of(tmp, dir))) return -1;
  int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0 && (errno == EISDIR || errno == EINVAL)) errno = EOPNOTSUPP; /* kernels before 3.11 */
  return fd;
}

/* Where a copy-up failed: the syscall, the path it names, and the errno. */
typedef struct {
  const char *what, *path;
  int err;
} fail_t;

static int failed(fail_t *f, int err, const char *what, const char *path) {
  f->err = err;
  f->what = what;
  f->path = path;
  return err;
}

/* What a copy-up syncs before the copy gets its name (the overlay's fsync= mode). */
typedef enum {
  SYNC_NONE = 0, /* volatile: nothing */
  SYNC_DATA = 1, /* auto: a regular file's data, when it has any */
  SYNC_ALL = 2,  /* strict: a regular file or directory once complete, metadata included */
} copy_sync_t;

/* Whether a copy records its origin: when the rules have a head (`has_header`), for a directory or
 * an object with one link (a lower hard link's copies are separate inodes, each its own st_ino). */
static bool records_origin(bool has_header, const struct stat *src) {
  return has_header && (S_ISDIR(src->st_mode) || src->st_nlink == 1);
}

/* Copies the regular file `src` to `dst` through an open file: unnamed beside `tmp` and linked,
 * or where there is no O_TMPFILE built at `tmp` and renamed. `lst` is src's lstat, or NULL when
 * the caller knows src is a regular file (then opened without one); `st_out` gets its fstat, and the
 * origin is written as records_origin says. */
static int copy_up_file(const char *src, const char *tmp, const char *dst, const struct stat *lst, bool data, copy_sync_t sync,
                        const copy_rules_t *r, bool has_header, const change_t *change, struct stat *st_out, struct stat *made,
                        fail_t *f) {
  const int in_flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  int in = open(src, in_flags | O_NOATIME);
  if (in < 0 && errno == EPERM) in = open(src, in_flags);
  if (in < 0) return failed(f, errno == ELOOP || errno == ENXIO ? ESTALE : errno, "open", src); /* not a file any more */
  struct stat st;
  if (fstat(in, &st) < 0) {
    failed(f, errno, "fstat", src);
    close(in);
    return f->err;
  }
  if (!S_ISREG(st.st_mode) || (lst && (st.st_ino != lst->st_ino || st.st_dev != lst->st_dev))) { /* replaced meanwhile */
    close(in);
    return failed(f, ESTALE, "open", src);
  }
  *st_out = st;
  const bool with_origin = records_origin(has_header, &st);
  bool named = false;
  int out = open_tmpfile_beside(tmp);
  if (out < 0 && errno == EOPNOTSUPP) {
    named = true;
    out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
  }
  if (out < 0) {
    failed(f, errno, "open", tmp);
    close(in);
    return f->err;
  }
  const char *what = NULL;
  int err = 0;
  if (data) {
    err = copy_data(in, out, (int64_t)st.st_size, &what);
    /* durable before it gets a name, as ovl_copy_up_file syncs it: after a crash the copy, which
     * hides the lower file, must not be there without its data */
    if (!err && sync == SYNC_DATA && st.st_size > 0 && fsync(out) < 0) {
      what = "fsync";
      err = errno;
    }
  } else if (ftruncate(out, st.st_size) < 0) {
    what = "ftruncate";
    err = errno;
  }
  if (!err) err = copy_metadata((obj_t){in, NULL}, (obj_t){out, NULL}, &st, r, with_origin, change, &what);
  if (!err && sync == SYNC_ALL && fsync(out) < 0) { /* ovl_copy_up_metadata's sync with fsync=strict */
    what = "fsync";
    err = errno;
  }
  if (!err && !named && link_tmpfile(out, dst) < 0) {
    what = "linkat";
    err = errno;
  }
  if (!err && named && rename(tmp, dst) < 0) {
    what = "rename";
    err = errno;
  }
  if (!err && fstat(out, made) < 0) { /* once named: the link moved its ctime */
    what = "fstat";
    err = errno;
  }
  if (close(out) < 0 && !err) {
    what = "close";
    err = errno;
  }
  if (err && named) unlink(tmp);
  close(in);
  return err ? failed(f, err, what, dst) : 0;
}

/* Copies what is not a regular file (a directory, symlink, device, fifo or socket: attributes
 * `st`) by path: made at `tmp`, labelled, renamed to `dst`; removed again on failure. */
static int copy_up_other(const char *src, const char *tmp, const char *dst, const struct stat *st, copy_sync_t sync, const copy_rules_t *r,
                         bool with_origin, const change_t *change, struct stat *made, fail_t *f) {
  if (S_ISDIR(st->st_mode)) {
    if (mkdir(tmp, 0) < 0) return failed(f, errno, "mkdir", tmp);
  } else if (S_ISLNK(st->st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlink(src, target, sizeof target);
    if (n < 0) return failed(f, errno == EINVAL ? ESTALE : errno, "readlink", src);
    if ((size_t)n >= sizeof target) return failed(f, ENAMETOOLONG, "readlink", src);
    target[n] = 0;
    if (symlink(target, tmp) < 0) return failed(f, errno, "symlink", tmp);
  } else if (mknod(tmp, st->st_mode & S_IFMT, st->st_rdev) < 0) {
    return failed(f, errno, "mknod", tmp);
  }
  const char *what = NULL;
  int err = copy_metadata((obj_t){-1, src}, (obj_t){-1, tmp}, st, r, with_origin, change, &what);
  if (!err && sync == SYNC_ALL && S_ISDIR(st->st_mode)) { /* fsync=strict syncs a directory too, not other kinds */
    int d = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0 || fsync(d) < 0) {
      what = d < 0 ? "open" : "fsync";
      err = errno;
    }
    if (d >= 0) close(d);
  }
  if (!err && rename(tmp, dst) < 0) {
    what = "rename";
    err = errno;
  }
  /* the stat after the rename, which moved its ctime; the copy is in place then: nothing to remove */
  if (!err && lstat(dst, made) < 0) return failed(f, errno, "lstat", dst);
  if (!err) return 0;
  if (S_ISDIR(st->st_mode)) rmdir(tmp);
  else unlink(tmp);
  return failed(f, err, what, dst);
}

/* Reads copyUp's rules from their encoding (see src/sys/fs.ts encodeRules): a byte saying whether
 * there is an origin head, the skip and keep prefixes and the origin's name each ending in NUL,
 * then the head's bytes. Returns 0, or -1 with a JS exception pending. */
static int get_copy_rules(napi_env env, napi_value v, copy_rules_t *r, bool *has_header) {
  char *b;
  size_t len;
  if (get_buffer(env, v, "rules", "an encoded rules Buffer", (void **)&b, &len)) return -1;
  const char *parts[3];
  size_t at = 1;
  for (int i = 0; i < 3; i++) {
    char *nul = at < len ? (char *)memchr(b + at, 0, len - at) : NULL;
    if (len == 0 || !nul) {
      throw_type(env, "ERR_INVALID_ARG_VALUE", "The \"%s\" argument is not an encoded rules Buffer", "rules");
      return -1;
    }
    parts[i] = b + at;
    at = (size_t)(nul - b) + 1;
  }
  *has_header = b[0] != 0;
  *r = (copy_rules_t){parts[0], parts[1], parts[2], (const unsigned char *)b + at, len - at};
  return 0;
}

/*
 * copyUp(src, tmp, dst, data, rules, change | null, atime, mtime, nums, bigs, sync, isFile) -> origin: boolean
 *
 * Makes `dst` a copy of the object `src` (never followed) as the kernel's copy-up does, built
 * complete where nobody looks and then put in place: a regular file (opened with O_NOATIME where
 * allowed, O_NONBLOCK) as an unnamed O_TMPFILE file in the directory of `tmp`, then linked at
 * `dst`, or where that filesystem has no O_TMPFILE at `tmp` (O_EXCL) and renamed; anything else
 * made at `tmp` and renamed. Then, in this order: a file's data (or with `data` false, just the
 * size, as a hole), fsync'd with `sync` 1 (SYNC_DATA), and for every kind the metadata (see
 * copy_metadata) by the encoded `rules` (get_copy_rules), with the origin when the rules have a
 * head and src is a directory or has one link (the result says whether it was written). `change`
 * (Float64Array [uid, gid, mode, size], -1 for none) with `atime` and `mtime` (as utimensat's;
 * null to omit) is made on the copy before it is put in place (copy_metadata); with `sync` 2
 * (SYNC_ALL) a regular file or directory is then fsync'd, and with 0 (SYNC_NONE) nothing is. The
 * directory of `dst` keeps its atime and mtime. `nums` and `bigs` get the new object's stat (as
 * fstatat's), and bigs[4] the inode number of src.
 * The three paths are byte strings (one char per byte) or Buffers (get_bytestr). With `isFile` the
 * caller knows src is a regular file (from its own lstat, in a layer that does not change): it is
 * opened at once, one lstat fewer on the hottest write path, and checked by fstat instead.
 * On failure nothing is left at `tmp` or `dst`; ESTALE when src changed type meanwhile.
 */
static napi_value js_copyUp(napi_env env, napi_callback_info info) {
  ARGS(12);
  cstr_t src, tmp, dst;
  bool data = true;
  uint32_t sync_arg;
  bool has_header = false;
  copy_rules_t rules;
  napi_valuetype t;
  napi_value ret = NULL;
  change_t change;
  bool has_change = false;
  double *nums;
  int64_t *bigs;
  bool is_file = false;
  NAPI_CALL(env, napi_get_value_bool(env, argv[3], &data));
  NAPI_CALL(env, napi_get_value_bool(env, argv[11], &is_file));
  if (get_u32(env, argv[10], "sync", &sync_arg)) return NULL;
  if (sync_arg > SYNC_ALL) {
    throw_type(env, "ERR_OUT_OF_RANGE", "The \"%s\" argument must be 0, 1 or 2", "sync");
    return NULL;
  }
  const copy_sync_t sync = (copy_sync_t)sync_arg;
  if (get_copy_rules(env, argv[4], &rules, &has_header)) return NULL;
  NAPI_CALL(env, napi_typeof(env, argv[5], &t));
  if (t != napi_null && t != napi_undefined) {
    double *c;
    if (get_typed(env, argv[5], "change", napi_float64_array, 4, (void **)&c)) return NULL;
    change = (change_t){(int64_t)c[0], (int64_t)c[1], (int64_t)c[2], (int64_t)c[3], {{0, UTIME_OMIT}, {0, UTIME_OMIT}}};
    if (get_timespec(env, argv[6], "atime", &change.times[0]) || get_timespec(env, argv[7], "mtime", &change.times[1])) return NULL;
    has_change = true;
  }
  if (get_typed(env, argv[8], "nums", napi_float64_array, 9, (void **)&nums) ||
      get_typed(env, argv[9], "bigs", napi_bigint64_array, 5, (void **)&bigs))
    return NULL;
  if (get_bytestr(env, argv[0], "src", &src)) return NULL;
  if (get_bytestr(env, argv[1], "tmp", &tmp)) goto out0;
  if (get_bytestr(env, argv[2], "dst", &dst)) goto out1;

  fail_t f = {NULL, NULL, 0};
  char parent[PATH_MAX];
  struct stat pst, lst, st, made;
  if ((f.err = dir_of(dst.p, parent))) {
    f.what = "lstat";
    f.path = dst.p;
  } else if (lstat(parent, &pst) < 0) {
    failed(&f, errno, "lstat", parent);
  } else if (!is_file && lstat(src.p, &lst) < 0) {
    failed(&f, errno, "lstat", src.p);
  }
  if (!f.err) {
    const change_t *c = has_change ? &change : NULL;
    if (is_file || S_ISREG(lst.st_mode)) {
      copy_up_file(src.p, tmp.p, dst.p, is_file ? NULL : &lst, data, sync, &rules, has_header, c, &st, &made, &f);
    } else {
      st = lst;
      copy_up_other(src.p, tmp.p, dst.p, &st, sync, &rules, records_origin(has_header, &st), c, &made, &f);
    }
  }
  if (!f.err) { /* the new entry moved the parent's mtime: put it back (ovl_set_timestamps) */
    struct timespec ts[2] = {pst.st_atim, pst.st_mtim};
    if (utimensat(AT_FDCWD, parent, ts, AT_SYMLINK_NOFOLLOW) < 0) failed(&f, errno, "utimensat", parent);
  }
  if (f.err) {
    throw_sys(env, f.err, f.what, f.path, NULL, NULL);
  } else {
    fill_stat(&made, nums, bigs);
    bigs[4] = (int64_t)st.st_ino;
    napi_get_boolean(env, records_origin(has_header, &st), &ret);
  }
  cstr_free(&dst);
out1:
  cstr_free(&tmp);
out0:
  cstr_free(&src);
  return ret;
}

/* ---- FUSE passthrough (Linux >= 6.9): backing files the kernel reads and writes directly ----- */

/* ioctls on /dev/fuse (include/uapi/linux/fuse.h), spelled out: older headers lack them. */
struct strata_fuse_backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define STRATA_FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct strata_fuse_backing_map)
#define STRATA_FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* fuseBackingOpen(devFd, fd) -> backing id: registers the open file `fd` with the FUSE connection. */
static napi_value js_fuseBackingOpen(napi_env env, napi_callback_info info) {
  ARGS(2);
  int dev, fd;
  if (get_int(env, argv[0], "devFd", &dev) || get_int(env, argv[1], "fd", &fd)) return NULL;
  struct strata_fuse_backing_map map = {.fd = fd, .flags = 0, .padding = 0};
  int id = ioctl(dev, STRATA_FUSE_DEV_IOC_BACKING_OPEN, &map);
  if (id < 0) return throw_sys(env, errno, "ioctl(FUSE_DEV_IOC_BACKING_OPEN)", NULL, NULL, NULL);
  napi_value ret;
  NAPI_CALL(env, napi_create_int32(env, id, &ret));
  return ret;
}

/* fuseBackingClose(devFd, id): drops the connection's reference to a backing file. */
static napi_value js_fuseBackingClose(napi_env env, napi_callback_info info) {
  ARGS(2);
  int dev;
  uint32_t id;
  if (get_int(env, argv[0], "devFd", &dev) || get_u32(env, argv[1], "id", &id)) return NULL;
  if (ioctl(dev, STRATA_FUSE_DEV_IOC_BACKING_CLOSE, &id) < 0)
    return throw_sys(env, errno, "ioctl(FUSE_DEV_IOC_BACKING_CLOSE)", NULL, NULL, NULL);
  return undefined(env);
}

/* Microseconds on the monotonic clock. */
static int64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/*
 * fuseReadRequest(devFd, buffer, spinUs, waited: Uint32Array) -> bytes read
 *
 * Reads the next request from /dev/fuse. On a non-blocking fd an empty queue is asked again, with
 * sched_yield() between tries (a runnable thread on this CPU, such as the client, goes first), for
 * up to `spinUs` microseconds, and only then waited for in poll(2). A server that sleeps after
 * each reply pays a wake-up for the next request — tens of µs on a VM, where waking an idle vCPU
 * exits to the hypervisor — that a sequential client's next request, due within µs, need not
 * cost. waited[0] gets the µs from the call until the request was there (0: it was queued, or the
 * fd blocks and nothing could be measured).
 * EINTR, EAGAIN and ENOENT (a request interrupted before it was read) are retried; any other
 * error throws (ENODEV: the filesystem was unmounted).
 */
static napi_value js_fuseReadRequest(napi_env env, napi_callback_info info) {
  ARGS(4);
  int dev, spin_us;
  void *buf, *out;
  size_t len, out_len;
  napi_typedarray_type type;
  if (get_int(env, argv[0], "devFd", &dev) || get_buffer(env, argv[1], "buffer", "of type Buffer", &buf, &len) ||
      get_int(env, argv[2], "spinUs", &spin_us))
    return NULL;
  bool is_typed = false;
  napi_is_typedarray(env, argv[3], &is_typed);
  if (!is_typed || napi_get_typedarray_info(env, argv[3], &type, &out_len, &out, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || out_len < 1) {
    throw_type(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be a Uint32Array of length >= 1", "waited");
    return NULL;
  }
  int64_t start = 0, spin_end = 0;
  for (;;) {
    ssize_t n = read(dev, buf, len);
    if (n >= 0) {
      int64_t waited = start == 0 ? 0 : now_us() - start;
      ((uint32_t *)out)[0] = waited > UINT32_MAX ? UINT32_MAX : (uint32_t)waited;
      napi_value r;
      napi_create_int64(env, (int64_t)n, &r);
      return r;
    }
    if (errno == EINTR || errno == ENOENT) continue;
    if (errno != EAGAIN) return throw_sys(env, errno, "read", NULL, NULL, NULL);
    if (start == 0) {
      start = now_us();
      spin_end = start + spin_us;
    }
    if (now_us() < spin_end) {
      sched_yield();
      continue;
    }
    struct pollfd p = {.fd = dev, .events = POLLIN};
    if (poll(&p, 1, -1) < 0 && errno != EINTR) return throw_sys(env, errno, "poll", NULL, NULL, NULL);
  }
}

/*
 * fuseWrite(devFd, buffer, len)
 *
 * Writes one reply or notice, the first `len` bytes of `buffer`, to /dev/fuse with one write(2):
 * what node:fs's writeSync does, without its request bookkeeping, which costs a FUSE server more
 * than the write itself. The kernel takes a message whole or not at all; EINTR is retried, and any
 * error throws (ENOENT: the request was interrupted meanwhile; ENODEV: unmounted).
 */
static napi_value js_fuseWrite(napi_env env, napi_callback_info info) {
  ARGS(3);
  int dev;
  uint32_t len;
  void *buf;
  size_t size;
  if (get_int(env, argv[0], "devFd", &dev) || get_buffer(env, argv[1], "buffer", "of type Buffer", &buf, &size) ||
      get_u32(env, argv[2], "len", &len))
    return NULL;
  if (len > size) {
    throw_type(env, "ERR_OUT_OF_RANGE", "The \"%s\" argument is larger than the buffer", "len");
    return NULL;
  }
  ssize_t n;
  do n = write(dev, buf, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_sys(env, errno, "write", NULL, NULL, NULL);
  if ((size_t)n != len) return throw_sys(env, EIO, "write", NULL, NULL, NULL);
  return undefined(env);
}

/* syncfs(fd) */
static napi_value js_syncfs(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  if (get_int(env, argv[0], "fd", &fd)) return NULL;
  if (syncfs(fd) < 0) return throw_sys(env, errno, "syncfs", NULL, NULL, NULL);
  return undefined(env);
}

/* direntTypes(dir) -> { entries, unknown }: reads the raw dirents (. and .. included) and counts
 * those whose d_type the filesystem left as DT_UNKNOWN. Node's readdir hides this (it lstat()s such
 * entries), and overlayfs misbehaves on a backing filesystem without d_type. */
static napi_value js_direntTypes(napi_env env, napi_callback_info info) {
  ARGS(1);
  cstr_t path;
  if (get_cstr(env, argv[0], "path", 0, &path)) return NULL;
  DIR *d = opendir(path.p);
  if (!d) {
    napi_value r = throw_sys(env, errno, "opendir", path.p, NULL, NULL);
    cstr_free(&path);
    return r;
  }
  uint32_t entries = 0, unknown = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    entries++;
    if (e->d_type == DT_UNKNOWN) unknown++;
  }
  int err = errno;
  closedir(d);
  if (err) {
    napi_value r = throw_sys(env, err, "readdir", path.p, NULL, NULL);
    cstr_free(&path);
    return r;
  }
  cstr_free(&path);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_uint32(env, entries, &v);
  napi_set_named_property(env, out, "entries", v);
  napi_create_uint32(env, unknown, &v);
  napi_set_named_property(env, out, "unknown", v);
  return out;
}

/* ---- overlay support: raw directory order, file handles, fs uuid ---------------------------- */

/* readdirRaw(dir) -> { names: string[], types: Uint8Array, inos: BigUint64Array }: every entry of
 * `dir` in the filesystem's own getdents order, `.` and `..` included, with d_type and d_ino, the
 * names as latin1 byte strings (one char per byte, whatever the bytes are); the
 * dir's atime is left alone (O_NOATIME) where the caller may do that.
 * Node's readdir sorts by name (libuv scandir) and its Dir drops `.`/`..`; an overlay's merged
 * readdir order is defined in terms of the layers' native order, so it needs this. */
static napi_value js_readdirRaw(napi_env env, napi_callback_info info) {
  ARGS(1);
  cstr_t path;
  if (get_cstr(env, argv[0], "path", 0, &path)) return NULL;
  /* O_NOATIME: listing a layer must not change it (as the kernel overlay reads its layers) */
  int fd = open(path.p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(path.p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd < 0 ? NULL : fdopendir(fd);
  if (!d) {
    int e = errno;
    if (fd >= 0) close(fd);
    napi_value r = throw_sys(env, e, "opendir", path.p, NULL, NULL);
    cstr_free(&path);
    return r;
  }
  size_t cap = 64, n = 0;
  uint8_t *types = (uint8_t *)malloc(cap);
  uint64_t *inos = (uint64_t *)malloc(cap * sizeof *inos);
  napi_value names;
  napi_create_array(env, &names);
  struct dirent *e;
  int err = 0;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (!e) {
      err = errno;
      break;
    }
    if (n == cap) {
      cap *= 2;
      uint8_t *nt = (uint8_t *)realloc(types, cap);
      if (nt) types = nt;
      uint64_t *ni = (uint64_t *)realloc(inos, cap * sizeof *inos);
      if (ni) inos = ni;
      if (!nt || !ni) {
        err = ENOMEM;
        break;
      }
    }
    types[n] = e->d_type;
    inos[n] = (uint64_t)e->d_ino;
    napi_value s;
    /* latin1: one char per byte, so names that are not UTF-8 come through exactly */
    napi_create_string_latin1(env, e->d_name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, names, (uint32_t)n, s);
    n++;
  }
  closedir(d);
  napi_value out = NULL;
  if (err) {
    throw_sys(env, err, "readdir", path.p, NULL, NULL);
  } else {
    void *tdata, *idata;
    napi_value tbuf, ibuf, tarr, iarr;
    napi_create_arraybuffer(env, n ? n : 1, &tdata, &tbuf);
    if (n) memcpy(tdata, types, n);
    napi_create_typedarray(env, napi_uint8_array, n, tbuf, 0, &tarr);
    napi_create_arraybuffer(env, (n ? n : 1) * sizeof(uint64_t), &idata, &ibuf);
    if (n) memcpy(idata, inos, n * sizeof(uint64_t));
    napi_create_typedarray(env, napi_biguint64_array, n, ibuf, 0, &iarr);
    napi_create_object(env, &out);
    napi_set_named_property(env, out, "names", names);
    napi_set_named_property(env, out, "types", tarr);
    napi_set_named_property(env, out, "inos", iarr);
  }
  free(types);
  free(inos);
  cstr_free(&path);
  return out;
}

/* nameToHandleAt(dirFd, path, flags) -> { type, handle: Buffer, mountId }: the filesystem's
 * persistent handle of `path`, as name_to_handle_at(2) (AT_SYMLINK_FOLLOW/AT_EMPTY_PATH in flags). */
static napi_value js_nameToHandleAt(napi_env env, napi_callback_info info) {
  ARGS(3);
  int dfd;
  uint32_t flags;
  cstr_t path;
  if (get_int(env, argv[0], "dirFd", &dfd) || get_u32_opt(env, argv[2], "flags", &flags)) return NULL;
  if (get_cstr(env, argv[1], "path", 0, &path)) return NULL;
  struct {
    struct file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h;
  h.fh.handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  napi_value out = NULL;
  if (name_to_handle_at(dfd, path.p, &h.fh, &mount_id, (int)flags) < 0) {
    throw_sys(env, errno, "name_to_handle_at", path.p, NULL, NULL);
  } else {
    napi_value v;
    void *data;
    napi_create_object(env, &out);
    napi_create_int32(env, h.fh.handle_type, &v);
    napi_set_named_property(env, out, "type", v);
    napi_create_buffer_copy(env, h.fh.handle_bytes, h.fh.f_handle, &data, &v);
    napi_set_named_property(env, out, "handle", v);
    napi_create_int32(env, mount_id, &v);
    napi_set_named_property(env, out, "mountId", v);
  }
  cstr_free(&path);
  return out;
}

/* openByHandleAt(mountFd, type, handle: Buffer, flags) -> fd, as open_by_handle_at(2) (needs
 * CAP_DAC_READ_SEARCH). A handle whose inode is gone throws ESTALE. */
static napi_value js_openByHandleAt(napi_env env, napi_callback_info info) {
  ARGS(4);
  int mfd, type;
  uint32_t flags;
  void *data = NULL;
  size_t len = 0;
  if (get_int(env, argv[0], "mountFd", &mfd) || get_int(env, argv[1], "type", &type) ||
      get_u32_opt(env, argv[3], "flags", &flags) || get_buffer(env, argv[2], "handle", "a Buffer", &data, &len))
    return NULL;
  if (len > MAX_HANDLE_SZ) return throw_sys(env, EINVAL, "open_by_handle_at", NULL, NULL, NULL);
  struct {
    struct file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h;
  h.fh.handle_bytes = (unsigned int)len;
  h.fh.handle_type = type;
  memcpy(h.fh.f_handle, data, len);
  int fd = open_by_handle_at(mfd, &h.fh, (int)(flags | O_CLOEXEC));
  if (fd < 0) return throw_sys(env, errno, "open_by_handle_at", NULL, NULL, NULL);
  napi_value v;
  napi_create_int32(env, fd, &v);
  return v;
}

/* FS_IOC_GETFSUUID (Linux 6.5): the filesystem's UUID as the kernel keeps it in s_uuid. */
struct strata_fsuuid2 {
  uint8_t len;
  uint8_t uuid[16];
};
#ifndef FS_IOC_GETFSUUID
#define FS_IOC_GETFSUUID _IOR(0x15, 0, struct strata_fsuuid2)
#endif

/* fsUuid(fd) -> Buffer: the UUID of the filesystem holding `fd` (the bytes an overlay origin
 * file handle records); throws ENOTTY where the filesystem has none. */
static napi_value js_fsUuid(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd;
  if (get_int(env, argv[0], "fd", &fd)) return NULL;
  struct strata_fsuuid2 u;
  memset(&u, 0, sizeof u);
  if (ioctl(fd, FS_IOC_GETFSUUID, &u) < 0) return throw_sys(env, errno, "ioctl(FS_IOC_GETFSUUID)", NULL, NULL, NULL);
  napi_value v;
  void *data;
  napi_create_buffer_copy(env, u.len <= 16 ? u.len : 16, u.uuid, &data, &v);
  return v;
}

/* ---- locks ---------------------------------------------------------------------------------- */

/* flock(fd, op): makes exactly one flock(2) call (retrying on EINTR). A conflict with LOCK_NB
 * throws EAGAIN. */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd, op, r;
  if (get_int(env, argv[0], "fd", &fd) || get_int(env, argv[1], "op", &op)) return NULL;
  do r = flock(fd, op);
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_sys(env, errno, "flock", NULL, NULL, NULL);
  return undefined(env);
}

static int get_lock_range(napi_env env, napi_value *argv, struct flock *fl) {
  int type;
  int64_t start = 0, len = 0;
  napi_valuetype t;
  if (get_int(env, argv[0], "type", &type)) return -1;
  if (napi_typeof(env, argv[1], &t) != napi_ok) return -1;
  if (t != napi_undefined && get_i64(env, argv[1], "start", &start)) return -1;
  if (napi_typeof(env, argv[2], &t) != napi_ok) return -1;
  if (t != napi_undefined && get_i64(env, argv[2], "len", &len)) return -1;
  memset(fl, 0, sizeof *fl); /* l_pid must be 0 for OFD locks */
  fl->l_type = (short)type;
  fl->l_whence = SEEK_SET;
  fl->l_start = (off_t)start;
  fl->l_len = (off_t)len;
  return 0;
}

/* ofdLock(fd, cmd, type, start, len): cmd is F_OFD_SETLK (-> undefined) or F_OFD_GETLK (-> null
 * when nothing conflicts, else {type, whence, start, len, pid}). */
static napi_value js_ofd_lock(napi_env env, napi_callback_info info) {
  ARGS(5);
  int fd, cmd, r;
  struct flock fl;
  if (get_int(env, argv[0], "fd", &fd) || get_int(env, argv[1], "cmd", &cmd)) return NULL;
  if (cmd != F_OFD_SETLK && cmd != F_OFD_GETLK) { /* F_OFD_SETLKW blocks: use ofdLockWait */
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "cmd must be F_OFD_SETLK or F_OFD_GETLK");
    return NULL;
  }
  if (get_lock_range(env, argv + 2, &fl)) return NULL;
  do r = fcntl(fd, cmd, &fl);
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_sys(env, errno, "fcntl", NULL, NULL, NULL);
  if (cmd != F_OFD_GETLK) return undefined(env);
  napi_value ret, v;
  if (fl.l_type == F_UNLCK) {
    napi_get_null(env, &ret);
    return ret;
  }
  napi_create_object(env, &ret);
  napi_create_int32(env, fl.l_type, &v);
  napi_set_named_property(env, ret, "type", v);
  napi_create_int32(env, fl.l_whence, &v);
  napi_set_named_property(env, ret, "whence", v);
  napi_create_int64(env, (int64_t)fl.l_start, &v);
  napi_set_named_property(env, ret, "start", v);
  napi_create_int64(env, (int64_t)fl.l_len, &v);
  napi_set_named_property(env, ret, "len", v);
  napi_create_int32(env, fl.l_pid, &v);
  napi_set_named_property(env, ret, "pid", v);
  return ret;
}

/*
 * Blocking waits on their own thread.
 *
 * Lifetime: a waiter belongs to its thread until the thread hands it to the thread-safe function;
 * then the JS-side callback settles the Promise and frees it. If the environment goes away first
 * (a Worker terminated while a wait is pending), an env cleanup hook marks the waiter orphaned;
 * the thread, once its syscall returns, then frees the waiter itself and never touches the
 * (already destroyed) thread-safe function. The hook is added after the tsfn is created, so it
 * runs before the tsfn's own teardown (cleanup hooks run in reverse order), and g_waiters makes
 * "hand over" and "orphan" mutually exclusive.
 */
static pthread_mutex_t g_waiters = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
  napi_deferred deferred;
  napi_threadsafe_function tsfn;
  int is_flock;
  int fd;
  int op;
  struct flock fl;
  int err;
  int orphaned; /* guarded by g_waiters */
} waiter_t;

static void waiter_env_gone(void *arg) {
  waiter_t *w = (waiter_t *)arg;
  pthread_mutex_lock(&g_waiters);
  w->orphaned = 1;
  pthread_mutex_unlock(&g_waiters);
}

static void waiter_settle(napi_env env, napi_value js_cb, void *context, void *data) {
  waiter_t *w = (waiter_t *)data;
  if (env != NULL) {
    napi_remove_env_cleanup_hook(env, waiter_env_gone, w);
    if (w->err == 0) {
      napi_resolve_deferred(env, w->deferred, undefined(env));
    } else {
      napi_value e = make_sys_error(env, w->err, w->is_flock ? "flock" : "fcntl", NULL, NULL, NULL);
      if (e == NULL) napi_get_and_clear_last_exception(env, &e);
      napi_reject_deferred(env, w->deferred, e);
    }
  }
  free(w);
}

static void *waiter_thread(void *arg) {
  waiter_t *w = (waiter_t *)arg;
  int r;
  do r = w->is_flock ? flock(w->fd, w->op) : fcntl(w->fd, F_OFD_SETLKW, &w->fl);
  while (r < 0 && errno == EINTR);
  w->err = r < 0 ? errno : 0;
  pthread_mutex_lock(&g_waiters);
  if (w->orphaned) {
    pthread_mutex_unlock(&g_waiters);
    free(w);
    return NULL;
  }
  napi_threadsafe_function tsfn = w->tsfn;
  /* On failure (tsfn closing) the waiter is deliberately leaked: the cleanup hook may still
   * reference it. Unbounded queue, so the non-blocking call cannot fail with queue-full. */
  napi_call_threadsafe_function(tsfn, w, napi_tsfn_nonblocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  pthread_mutex_unlock(&g_waiters);
  return NULL;
}

static napi_value start_waiter(napi_env env, waiter_t *w) {
  napi_value promise, name;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
    free(w);
    return NULL;
  }
  napi_create_string_utf8(env, "strata.lockWait", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, waiter_settle,
                                      &w->tsfn) != napi_ok) {
    napi_value e = make_sys_error(env, EAGAIN, w->is_flock ? "flock" : "fcntl", NULL, NULL, NULL);
    if (e == NULL) napi_get_and_clear_last_exception(env, &e);
    napi_reject_deferred(env, w->deferred, e);
    free(w);
    return promise;
  }
  napi_add_env_cleanup_hook(env, waiter_env_gone, w);
  /* The waiting thread takes no signals: they belong to Node's threads. */
  sigset_t all, old;
  pthread_attr_t attr;
  pthread_t tid;
  sigfillset(&all);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&tid, &attr, waiter_thread, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    napi_remove_env_cleanup_hook(env, waiter_env_gone, w);
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    napi_value e = make_sys_error(env, rc, "pthread_create", NULL, NULL, NULL);
    if (e == NULL) napi_get_and_clear_last_exception(env, &e);
    napi_reject_deferred(env, w->deferred, e);
    free(w);
  }
  return promise;
}

/* flockWait(fd, op) -> Promise<void>: a flock(2) that may block, off the event loop. */
static napi_value js_flock_wait(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd, op;
  if (get_int(env, argv[0], "fd", &fd) || get_int(env, argv[1], "op", &op)) return NULL;
  waiter_t *w = (waiter_t *)calloc(1, sizeof *w);
  if (!w) return throw_sys(env, ENOMEM, "flock", NULL, NULL, NULL);
  w->is_flock = 1;
  w->fd = fd;
  w->op = op;
  return start_waiter(env, w);
}

/* ofdLockWait(fd, type, start, len) -> Promise<void>: F_OFD_SETLKW, off the event loop. */
static napi_value js_ofd_lock_wait(napi_env env, napi_callback_info info) {
  ARGS(4);
  int fd;
  struct flock fl;
  if (get_int(env, argv[0], "fd", &fd) || get_lock_range(env, argv + 1, &fl)) return NULL;
  waiter_t *w = (waiter_t *)calloc(1, sizeof *w);
  if (!w) return throw_sys(env, ENOMEM, "fcntl", NULL, NULL, NULL);
  w->fd = fd;
  w->fl = fl;
  return start_waiter(env, w);
}

/* ---- error factory and module setup --------------------------------------------------------- */

/* setErrorFactory(fn | null): fn(code, errno, syscall, message, path?, dest?, detail?) -> Error */
static napi_value js_set_error_factory(napi_env env, napi_callback_info info) {
  ARGS(1);
  addon_t *a = get_addon(env);
  napi_valuetype t;
  NAPI_CALL(env, napi_typeof(env, argv[0], &t));
  if (t != napi_function && t != napi_null && t != napi_undefined) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setErrorFactory expects a function or null");
    return NULL;
  }
  if (a->error_factory) {
    napi_delete_reference(env, a->error_factory);
    a->error_factory = NULL;
  }
  if (t == napi_function) NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &a->error_factory));
  return undefined(env);
}

/* errnoName(errno) -> 'ENOENT' (accepts positive or negative numbers) */
static napi_value js_errno_name(napi_env env, napi_callback_info info) {
  ARGS(1);
  int e;
  napi_value ret;
  if (get_int(env, argv[0], "errno", &e)) return NULL;
  napi_create_string_utf8(env, errno_name(e < 0 ? -e : e), NAPI_AUTO_LENGTH, &ret);
  return ret;
}

static void set_num(napi_env env, napi_value obj, const char *name, int64_t value) {
  napi_value v;
  napi_create_int64(env, value, &v);
  napi_set_named_property(env, obj, name, v);
}

static napi_value make_constants(napi_env env) {
  napi_value c;
  napi_create_object(env, &c);
#define C(x) set_num(env, c, #x, (int64_t)(x))
#define CU(x) set_num(env, c, #x, (int64_t)(uint32_t)(x))
  /* mount(2) flags */
  CU(MS_RDONLY); CU(MS_NOSUID); CU(MS_NODEV); CU(MS_NOEXEC); CU(MS_SYNCHRONOUS); CU(MS_REMOUNT);
  CU(MS_MANDLOCK); CU(MS_DIRSYNC); CU(MS_NOSYMFOLLOW); CU(MS_NOATIME); CU(MS_NODIRATIME);
  CU(MS_BIND); CU(MS_MOVE); CU(MS_REC); CU(MS_SILENT); CU(MS_POSIXACL); CU(MS_UNBINDABLE);
  CU(MS_PRIVATE); CU(MS_SLAVE); CU(MS_SHARED); CU(MS_RELATIME); CU(MS_KERNMOUNT);
  CU(MS_I_VERSION); CU(MS_STRICTATIME); CU(MS_LAZYTIME); CU(MS_NOUSER); CU(MS_MGC_VAL);
  /* umount2(2) */
  C(MNT_FORCE); C(MNT_DETACH); C(MNT_EXPIRE); C(UMOUNT_NOFOLLOW);
  /* new mount API */
  C(FSOPEN_CLOEXEC); C(FSCONFIG_SET_FLAG); C(FSCONFIG_SET_STRING); C(FSCONFIG_SET_BINARY);
  C(FSCONFIG_SET_PATH); C(FSCONFIG_SET_PATH_EMPTY); C(FSCONFIG_SET_FD); C(FSCONFIG_CMD_CREATE);
  C(FSCONFIG_CMD_RECONFIGURE); C(FSCONFIG_CMD_CREATE_EXCL); C(FSMOUNT_CLOEXEC);
  CU(MOUNT_ATTR_RDONLY); CU(MOUNT_ATTR_NOSUID); CU(MOUNT_ATTR_NODEV); CU(MOUNT_ATTR_NOEXEC);
  CU(MOUNT_ATTR__ATIME); CU(MOUNT_ATTR_RELATIME); CU(MOUNT_ATTR_NOATIME);
  CU(MOUNT_ATTR_STRICTATIME); CU(MOUNT_ATTR_NODIRATIME); CU(MOUNT_ATTR_IDMAP);
  CU(MOUNT_ATTR_NOSYMFOLLOW);
  C(MOVE_MOUNT_F_SYMLINKS); C(MOVE_MOUNT_F_AUTOMOUNTS); C(MOVE_MOUNT_F_EMPTY_PATH);
  C(MOVE_MOUNT_T_SYMLINKS); C(MOVE_MOUNT_T_AUTOMOUNTS); C(MOVE_MOUNT_T_EMPTY_PATH);
  C(MOVE_MOUNT_SET_GROUP); C(OPEN_TREE_CLONE); C(OPEN_TREE_CLOEXEC);
  /* *at() */
  C(AT_FDCWD); C(AT_SYMLINK_NOFOLLOW); C(AT_SYMLINK_FOLLOW); C(AT_EMPTY_PATH); C(AT_REMOVEDIR);
  C(AT_NO_AUTOMOUNT); C(AT_RECURSIVE);
  C(RENAME_NOREPLACE); C(RENAME_EXCHANGE); C(RENAME_WHITEOUT);
  C(UTIME_NOW); C(UTIME_OMIT);
  /* open(2) flags Node's fs.constants lacks */
  C(O_TMPFILE); C(O_PATH); C(O_CLOEXEC); C(O_NOFOLLOW); C(O_DIRECTORY);
  /* xattrs */
  C(XATTR_CREATE); C(XATTR_REPLACE);
  /* locks */
  C(LOCK_SH); C(LOCK_EX); C(LOCK_NB); C(LOCK_UN);
  C(F_RDLCK); C(F_WRLCK); C(F_UNLCK); C(F_OFD_GETLK); C(F_OFD_SETLK); C(F_OFD_SETLKW);
  C(SEEK_SET);
  /* file types */
  C(S_IFMT); C(S_IFSOCK); C(S_IFLNK); C(S_IFREG); C(S_IFBLK); C(S_IFDIR); C(S_IFCHR); C(S_IFIFO);
#undef C
#undef CU
  return c;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  addon_t *a = (addon_t *)calloc(1, sizeof *a);
  if (!a || napi_set_instance_data(env, a, addon_finalize, NULL) != napi_ok) {
    free(a);
    napi_throw_error(env, NULL, "strata_native: cannot set instance data");
    return NULL;
  }
  napi_property_descriptor fns[] = {
#define F(jsname, fn) {jsname, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
      F("mount", js_mount),
      F("umount2", js_umount2),
      F("fsopen", js_fsopen),
      F("fsconfig", js_fsconfig),
      F("fsmount", js_fsmount),
      F("moveMount", js_move_mount),
      F("openTree", js_open_tree),
      F("mknod", js_mknod),
      F("mknodat", js_mknodat),
      F("lgetxattr", js_lgetxattr),
      F("lsetxattr", js_lsetxattr),
      F("llistxattr", js_llistxattr),
      F("lremovexattr", js_lremovexattr),
      F("renameat2", js_renameat2),
      F("linkat", js_linkat),
      F("utimensat", js_utimensat),
      F("fstatat", js_fstatat),
      F("syncfs", js_syncfs),
      F("copyUp", js_copyUp),
      F("fuseBackingOpen", js_fuseBackingOpen),
      F("fuseBackingClose", js_fuseBackingClose),
      F("fuseReadRequest", js_fuseReadRequest),
      F("fuseWrite", js_fuseWrite),
      F("direntTypes", js_direntTypes),
      F("readdirRaw", js_readdirRaw),
      F("nameToHandleAt", js_nameToHandleAt),
      F("openByHandleAt", js_openByHandleAt),
      F("fsUuid", js_fsUuid),
      F("flock", js_flock),
      F("flockWait", js_flock_wait),
      F("ofdLock", js_ofd_lock),
      F("ofdLockWait", js_ofd_lock_wait),
      F("setErrorFactory", js_set_error_factory),
      F("errnoName", js_errno_name),
#undef F
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  napi_value constants = make_constants(env);
  napi_object_freeze(env, constants);
  napi_set_named_property(env, exports, "constants", constants);
  return exports;
}
