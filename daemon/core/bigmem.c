/*
 * bigmem: large arrays whose memory follows use (include/core/hs_bigmem.h).
 *
 * Anonymous private mappings cost nothing until a page is written: reads
 * of a page never written see the shared zero page.  So a table sized for
 * the most it may ever hold is resident only where entries were put, and
 * MADV_DONTNEED, which makes the kernel drop the pages and zero-fill them
 * again on the next touch, clears it without touching what was never used.
 */
#include "hs_bigmem.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)
#define PAGE 4096u

/* munmap and madvise take page-aligned ranges, so every mapping is whole pages. */
static size_t map_len(size_t bytes)
{
	return (bytes + PAGE - 1) & ~(size_t)(PAGE - 1);
}

void *hs_bigmem_alloc(size_t bytes, bool huge)
{
	bytes = map_len(bytes ? bytes : 1);
	huge = huge && bytes >= HUGE_PAGE;
	size_t len = bytes + (huge ? HUGE_PAGE : 0);
	/* Reserved, not committed: a table sized for max_flows must not need max_flows' worth of swap. */
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (!huge)
		return p;
	uint8_t *aligned = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	size_t head = (size_t)(aligned - p), tail = len - head - bytes;

	if (head)
		munmap(p, head);
	if (tail)
		munmap(aligned + bytes, tail);
	(void)madvise(aligned, bytes, MADV_HUGEPAGE);
	return aligned;
}

void hs_bigmem_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, map_len(bytes ? bytes : 1));
}

void hs_bigmem_clear(void *p, size_t bytes)
{
	if (!p)
		return;
	/* A small array is cheaper to write than to fault in again. */
	if (bytes < 4 * PAGE || madvise(p, map_len(bytes), MADV_DONTNEED) != 0)
		memset(p, 0, bytes);
}
