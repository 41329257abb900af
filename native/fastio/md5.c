/*
 * MD5 (RFC 1321) of several streams at once. An object's MD5 (its ETag) is inherently serial, one
 * 64-byte block after another, and costs a core about three times what SHA-256 does with the
 * CPU's SHA instructions. Uploads running together are independent streams, though: with AVX2 one
 * instruction advances eight of them, one per 32-bit lane, so their MD5s cost a fraction of a core.
 * A stream alone is hashed by the plain version.
 *
 * A stream's state is MD5_STATE_SIZE bytes the caller keeps: the four chaining words, the count
 * of bytes given, and the bytes of an unfinished 64-byte block.
 */
#include "md5.h"
#include <math.h>
#include <pthread.h>
#include <string.h>

typedef struct {
  uint32_t h[4];
  uint64_t length;
  uint8_t pending[64];
} md5_state;

_Static_assert(sizeof(md5_state) == MD5_STATE_SIZE, "md5 state layout");

/* The additive constants: floor(|sin(i + 1)| * 2^32), per the RFC. */
static uint32_t K[64];
/* Per step: which message word it takes, and by how much it rotates. */
static const uint8_t WORD[64] = {
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12,
  5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2,
  0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9,
};
static const uint8_t ROTATE[64] = {
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static int lanes_supported = 0;

static void setup_once(void) {
  for (int i = 0; i < 64; i++) K[i] = (uint32_t)(fabs(sin((double)(i + 1))) * 4294967296.0);
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  lanes_supported = __builtin_cpu_supports("avx2") ? 8 : 0;
#endif
}

/* Every thread that loads the addon calls it; the tables are made once. */
void md5_setup(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, setup_once);
}

int md5_lanes(void) { return lanes_supported; }

static inline uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static inline uint32_t load_le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* One stream, `blocks` whole 64-byte blocks. */
static void compress(uint32_t h[4], const uint8_t *p, size_t blocks) {
  for (; blocks > 0; blocks--, p += 64) {
    uint32_t m[16];
    for (int i = 0; i < 16; i++) m[i] = load_le32(p + 4 * i);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
#define STEP(f, i) do { uint32_t t = a + (f) + K[i] + m[WORD[i]]; a = d; d = c; c = b; b = b + rotl(t, ROTATE[i]); } while (0)
    for (int i = 0; i < 16; i++) STEP((b & c) | (~b & d), i);
    for (int i = 16; i < 32; i++) STEP((d & b) | (~d & c), i);
    for (int i = 32; i < 48; i++) STEP(b ^ c ^ d, i);
    for (int i = 48; i < 64; i++) STEP(c ^ (b | ~d), i);
#undef STEP
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2")))

/* Words 0-7 (or 8-15) of eight blocks, one block per row, as eight vectors holding word j of every block. */
TARGET static inline void transpose8(__m256i r[8]) {
  __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  r[0] = _mm256_permute2x128_si256(u0, u4, 0x20); r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  r[2] = _mm256_permute2x128_si256(u2, u6, 0x20); r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  r[4] = _mm256_permute2x128_si256(u0, u4, 0x31); r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  r[6] = _mm256_permute2x128_si256(u2, u6, 0x31); r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* Eight streams, `blocks` whole blocks each, one stream per 32-bit lane. */
TARGET static void compress8(uint32_t *h[8], const uint8_t *p[8], size_t blocks) {
  __m256i a0 = _mm256_setr_epi32(h[0][0], h[1][0], h[2][0], h[3][0], h[4][0], h[5][0], h[6][0], h[7][0]);
  __m256i b0 = _mm256_setr_epi32(h[0][1], h[1][1], h[2][1], h[3][1], h[4][1], h[5][1], h[6][1], h[7][1]);
  __m256i c0 = _mm256_setr_epi32(h[0][2], h[1][2], h[2][2], h[3][2], h[4][2], h[5][2], h[6][2], h[7][2]);
  __m256i d0 = _mm256_setr_epi32(h[0][3], h[1][3], h[2][3], h[3][3], h[4][3], h[5][3], h[6][3], h[7][3]);
  const __m256i ones = _mm256_set1_epi32(-1);
  for (size_t k = 0; k < blocks; k++) {
    __m256i m[16];
    for (int half = 0; half < 2; half++) {
      for (int l = 0; l < 8; l++) m[8 * half + l] = _mm256_loadu_si256((const __m256i *)(p[l] + 64 * k + 32 * half));
      transpose8(m + 8 * half);
    }
    __m256i a = a0, b = b0, c = c0, d = d0;
#define STEP(f, i) do { \
      __m256i t = _mm256_add_epi32(_mm256_add_epi32(a, (f)), _mm256_add_epi32(_mm256_set1_epi32((int)K[i]), m[WORD[i]])); \
      t = _mm256_or_si256(_mm256_sll_epi32(t, _mm_cvtsi32_si128(ROTATE[i])), _mm256_srl_epi32(t, _mm_cvtsi32_si128(32 - ROTATE[i]))); \
      a = d; d = c; c = b; b = _mm256_add_epi32(b, t); \
    } while (0)
    for (int i = 0; i < 16; i++) STEP(_mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(c, d), b), d), i);
    for (int i = 16; i < 32; i++) STEP(_mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(b, c), d), c), i);
    for (int i = 32; i < 48; i++) STEP(_mm256_xor_si256(_mm256_xor_si256(b, c), d), i);
    for (int i = 48; i < 64; i++) STEP(_mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones))), i);
#undef STEP
    a0 = _mm256_add_epi32(a0, a); b0 = _mm256_add_epi32(b0, b); c0 = _mm256_add_epi32(c0, c); d0 = _mm256_add_epi32(d0, d);
  }
  uint32_t out[4][8];
  _mm256_storeu_si256((__m256i *)out[0], a0); _mm256_storeu_si256((__m256i *)out[1], b0);
  _mm256_storeu_si256((__m256i *)out[2], c0); _mm256_storeu_si256((__m256i *)out[3], d0);
  for (int l = 0; l < 8; l++) for (int w = 0; w < 4; w++) h[l][w] = out[w][l];
}
#endif

void md5_init(uint8_t *state) {
  md5_state *s = (md5_state *)state;
  s->h[0] = 0x67452301; s->h[1] = 0xefcdab89; s->h[2] = 0x98badcfe; s->h[3] = 0x10325476;
  s->length = 0;
  memset(s->pending, 0, sizeof s->pending);
}

void md5_update(uint8_t *const *states, const uint8_t *const *data, const size_t *lengths, size_t n) {
  /* Per stream: what is left of its bytes once its unfinished block is completed. */
  const uint8_t *rest[n > 0 ? n : 1];
  size_t blocks[n > 0 ? n : 1], tails[n > 0 ? n : 1];
  for (size_t i = 0; i < n; i++) {
    md5_state *s = (md5_state *)states[i];
    const uint8_t *p = data[i];
    size_t len = lengths[i], used = (size_t)(s->length % 64);
    s->length += len;
    if (used > 0) {
      size_t take = 64 - used < len ? 64 - used : len;
      memcpy(s->pending + used, p, take);
      p += take; len -= take;
      if (used + take == 64) compress(s->h, s->pending, 1);
    }
    rest[i] = p;
    blocks[i] = len / 64;
    tails[i] = len % 64;
  }
  /* Whole blocks: eight streams at a time while there are several, the last one alone. */
  for (;;) {
    size_t active[8], count = 0, fewest = 0;
    for (size_t i = 0; i < n && count < 8; i++) {
      if (blocks[i] == 0) continue;
      if (count == 0 || blocks[i] < fewest) fewest = blocks[i];
      active[count++] = i;
    }
    if (count == 0) break;
#if defined(__x86_64__) && defined(__GNUC__)
    if (count >= 2 && lanes_supported == 8) {
      uint32_t *h[8];
      const uint8_t *p[8];
      uint32_t idle[8][4];
      for (size_t l = 0; l < 8; l++) {
        if (l < count) { h[l] = ((md5_state *)states[active[l]])->h; p[l] = rest[active[l]]; }
        else { h[l] = idle[l]; memset(idle[l], 0, sizeof idle[l]); p[l] = rest[active[0]]; }
      }
      compress8(h, p, fewest);
      for (size_t l = 0; l < count; l++) { rest[active[l]] += 64 * fewest; blocks[active[l]] -= fewest; }
      continue;
    }
#endif
    for (size_t l = 0; l < count; l++) {
      size_t i = active[l];
      compress(((md5_state *)states[i])->h, rest[i], blocks[i]);
      rest[i] += 64 * blocks[i];
      blocks[i] = 0;
    }
  }
  /* The bytes after the last whole block wait for the next update. */
  for (size_t i = 0; i < n; i++) if (tails[i] > 0) memcpy(((md5_state *)states[i])->pending, rest[i], tails[i]);
}

void md5_final(uint8_t *state, uint8_t digest[16]) {
  md5_state *s = (md5_state *)state;
  uint64_t bits = s->length * 8;
  size_t used = (size_t)(s->length % 64);
  uint8_t block[128];
  memcpy(block, s->pending, used);
  block[used] = 0x80;
  size_t total = used + 1 + 8 <= 64 ? 64 : 128;
  memset(block + used + 1, 0, total - used - 1 - 8);
  for (int i = 0; i < 8; i++) block[total - 8 + i] = (uint8_t)(bits >> (8 * i));
  compress(s->h, block, total / 64);
  for (int w = 0; w < 4; w++) for (int i = 0; i < 4; i++) digest[4 * w + i] = (uint8_t)(s->h[w] >> (8 * i));
}
