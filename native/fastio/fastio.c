/*
 * snf-fastio: what Pithos needs to stream large uploads at disk speed and Node does not offer.
 * - copyBytes(target, offset, source): memcpy into a buffer on shared memory. V8 copies into a
 *   SharedArrayBuffer with relaxed atomic moves, several times slower than memcpy; Pithos fills
 *   its block buffers (shared with the hashing threads) from every request chunk.
 * Two hints to the operating system, both so that a long upload does not touch fresh memory for
 * every megabyte:
 * - dropCache(fd, offset, length): posix_fadvise(DONTNEED) on a file. Called on each block once
 *   it is durable, so that written blocks do not fill the page cache (Swift's object server does
 *   the same); the kernel then reuses those pages for the next blocks.
 * - retainFreedHeap(trim, largest): glibc's mallopt(M_TRIM_THRESHOLD, M_MMAP_THRESHOLD). Request
 *   bodies arrive as 64 KiB buffers freed in bursts by the garbage collector, and blocks are 4 MiB
 *   buffers; without it glibc hands freed heap back to the kernel at once, maps each large buffer
 *   afresh, and every one of those pages is faulted in again.
 * And the MD5 of several uploads at once (md5.c): md5Lanes(), md5Init(state),
 * md5Update(states, data), md5Final(state, digest).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include "md5.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* dropCache(fd, offset, length) -> 0, or the errno of the failure. */
static napi_value drop_cache(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  int32_t fd = -1;
  int64_t offset = 0, length = 0;
  int result = EINVAL;
  napi_value out;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) == napi_ok && argc == 3 &&
      napi_get_value_int32(env, args[0], &fd) == napi_ok &&
      napi_get_value_int64(env, args[1], &offset) == napi_ok &&
      napi_get_value_int64(env, args[2], &length) == napi_ok && fd >= 0 && offset >= 0 && length >= 0) {
#if defined(POSIX_FADV_DONTNEED)
    result = posix_fadvise(fd, (off_t)offset, (off_t)length, POSIX_FADV_DONTNEED);
#else
    result = ENOSYS;
#endif
  }
  napi_create_int32(env, result, &out);
  return out;
}

/* The bytes of a Uint8Array (a Buffer), shared memory included; 0 when `value` is none. */
static int bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void *p = NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &p, &buffer, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array || (p == NULL && *length > 0)) return 0;
  *data = (uint8_t *)p;
  return 1;
}

/* copyBytes(target, offset, source) -> source.length: all of source into target at offset. Throws when it does not fit. */
static napi_value copy_bytes(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  uint8_t *target, *source;
  size_t target_length, source_length;
  int64_t offset;
  napi_value out;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 3 ||
      !bytes_of(env, args[0], &target, &target_length) || !bytes_of(env, args[2], &source, &source_length) ||
      napi_get_value_int64(env, args[1], &offset) != napi_ok) {
    napi_throw_type_error(env, NULL, "copyBytes(target: Uint8Array, offset: number, source: Uint8Array)");
    return NULL;
  }
  if (offset < 0 || (uint64_t)offset > target_length || source_length > target_length - (size_t)offset) {
    napi_throw_range_error(env, NULL, "copyBytes: the source does not fit in the target at that offset");
    return NULL;
  }
  if (source_length > 0) memmove(target + offset, source, source_length);
  napi_create_int64(env, (int64_t)source_length, &out);
  return out;
}

/*
 * retainFreedHeap(trim, largest) -> true when the allocator took both settings: freed heap up to
 * `trim` bytes stays mapped (M_TRIM_THRESHOLD), and blocks up to `largest` bytes come from the heap
 * rather than from a mapping of their own (M_MMAP_THRESHOLD), so that they reuse freed memory too.
 */
static napi_value retain_freed_heap(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  int64_t trim = -1, largest = -1;
  bool done = false;
  napi_value out;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) == napi_ok && argc == 2 &&
      napi_get_value_int64(env, args[0], &trim) == napi_ok && napi_get_value_int64(env, args[1], &largest) == napi_ok &&
      trim >= 0 && trim <= 0x7fffffff && largest >= 0 && largest <= 32 * 1024 * 1024) {
#if defined(__GLIBC__)
    done = mallopt(M_TRIM_THRESHOLD, (int)trim) == 1 && mallopt(M_MMAP_THRESHOLD, (int)largest) == 1;
#endif
  }
  napi_get_boolean(env, done, &out);
  return out;
}

/* md5Lanes() -> how many streams one instruction advances (0: none, the plain version only). */
static napi_value md5_lanes_fn(napi_env env, napi_callback_info info) {
  napi_value out;
  (void)info;
  napi_create_int32(env, md5_lanes(), &out);
  return out;
}

/* The state of an MD5 stream: a Uint8Array of MD5_STATE_SIZE bytes. */
static int state_of(napi_env env, napi_value value, uint8_t **state) {
  size_t length;
  return bytes_of(env, value, state, &length) && length == MD5_STATE_SIZE;
}

/* md5Init(state): a new stream. */
static napi_value md5_init_fn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  uint8_t *state;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 1 || !state_of(env, args[0], &state)) {
    napi_throw_type_error(env, NULL, "md5Init(state: Uint8Array of the state size)");
    return NULL;
  }
  md5_init(state);
  return NULL;
}

#define MD5_MAX_STREAMS 64

/* md5Update(states, data): adds data[i] to stream states[i], for up to 64 distinct streams at once. */
static napi_value md5_update_fn(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  uint32_t n = 0, m = 0;
  bool arrays = false, arrays2 = false;
  uint8_t *states[MD5_MAX_STREAMS];
  const uint8_t *data[MD5_MAX_STREAMS];
  size_t lengths[MD5_MAX_STREAMS];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 2 ||
      napi_is_array(env, args[0], &arrays) != napi_ok || napi_is_array(env, args[1], &arrays2) != napi_ok || !arrays || !arrays2 ||
      napi_get_array_length(env, args[0], &n) != napi_ok || napi_get_array_length(env, args[1], &m) != napi_ok || n != m) {
    napi_throw_type_error(env, NULL, "md5Update(states: Uint8Array[], data: Uint8Array[]) of the same length");
    return NULL;
  }
  if (n > MD5_MAX_STREAMS) {
    napi_throw_range_error(env, NULL, "md5Update: at most 64 streams at once");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value s, d;
    uint8_t *bytes;
    if (napi_get_element(env, args[0], i, &s) != napi_ok || napi_get_element(env, args[1], i, &d) != napi_ok ||
        !state_of(env, s, &states[i]) || !bytes_of(env, d, &bytes, &lengths[i])) {
      napi_throw_type_error(env, NULL, "md5Update: a state is not a Uint8Array of the state size, or data not a Uint8Array");
      return NULL;
    }
    data[i] = bytes;
    for (uint32_t j = 0; j < i; j++) {
      if (states[j] == states[i]) {
        napi_throw_range_error(env, NULL, "md5Update: the same stream twice");
        return NULL;
      }
    }
  }
  md5_update(states, data, lengths, n);
  return NULL;
}

/* md5Final(state, digest): the 16-byte digest into `digest`; the stream is spent. */
static napi_value md5_final_fn(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  uint8_t *state, *digest;
  size_t digest_length;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 2 || !state_of(env, args[0], &state) ||
      !bytes_of(env, args[1], &digest, &digest_length) || digest_length != 16) {
    napi_throw_type_error(env, NULL, "md5Final(state: Uint8Array of the state size, digest: Uint8Array(16))");
    return NULL;
  }
  md5_final(state, digest);
  return NULL;
}

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) != napi_ok) return 0;
  return napi_set_named_property(env, exports, name, fn) == napi_ok;
}

NAPI_MODULE_INIT() {
  if (!export_function(env, exports, "copyBytes", copy_bytes)) return NULL;
  if (!export_function(env, exports, "dropCache", drop_cache)) return NULL;
  if (!export_function(env, exports, "retainFreedHeap", retain_freed_heap)) return NULL;
  md5_setup();
  if (!export_function(env, exports, "md5Lanes", md5_lanes_fn)) return NULL;
  if (!export_function(env, exports, "md5Init", md5_init_fn)) return NULL;
  if (!export_function(env, exports, "md5Update", md5_update_fn)) return NULL;
  if (!export_function(env, exports, "md5Final", md5_final_fn)) return NULL;
  return exports;
}
