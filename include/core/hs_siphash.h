/*
 * hs_siphash: SipHash-1-3, the keyed hash behind the flow table.  A random
 * key chosen at start makes bucket positions unpredictable, so an attacker
 * cannot aim packets at one chain.
 */
#ifndef HS_SIPHASH_H
#define HS_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hs_siphash(const uint8_t key[16], const void *data, size_t len);

#endif
