/* MD5 of several streams at once (see md5.c). */
#ifndef SNF_MD5_H
#define SNF_MD5_H
#include <stddef.h>
#include <stdint.h>

#define MD5_STATE_SIZE 88

/* Once, before any other call. */
void md5_setup(void);
/* How many streams one instruction advances (8 with AVX2), or 0 where only the plain version runs. */
int md5_lanes(void);
void md5_init(uint8_t *state);
/* Adds data[i] (lengths[i] bytes) to stream states[i], for n distinct streams. */
void md5_update(uint8_t *const *states, const uint8_t *const *data, const size_t *lengths, size_t n);
/* The 16-byte digest; the state is spent. */
void md5_final(uint8_t *state, uint8_t digest[16]);
#endif
