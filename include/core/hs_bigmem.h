/*
 * hs_bigmem: the core's large arrays (flow records, the hash index, the
 * policy engine's tables).  It owns how they are mapped and cleared so
 * that memory follows use: an array is reserved whole up front, so the
 * packet path never allocates, but a page becomes resident only when
 * something is first written there, and clearing an array gives its pages
 * back instead of writing zeros through them.
 */
#ifndef HS_BIGMEM_H
#define HS_BIGMEM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A zeroed array of at least bytes bytes, or NULL (errno set).  With huge,
 * an array of 2 MiB or more is aligned to 2 MiB and advised to use huge
 * pages: the flow table's arrays, where 4 KiB pages would cost a TLB miss
 * on nearly every packet.  A huge page is resident whole once any byte of
 * it is written, so tables written at scattered places that are not on
 * every packet's path (the policy engine's) do without.
 */
void *hs_bigmem_alloc(size_t bytes, bool huge);
void hs_bigmem_free(void *p, size_t bytes);

/* Zeroes an array from hs_bigmem_alloc; its pages are no longer resident. */
void hs_bigmem_clear(void *p, size_t bytes);

#endif
