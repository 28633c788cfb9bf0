/*
 * test_nfq_verdict: the verdict messages the daemon writes itself
 * (hs_nfq_put_verdict) are byte for byte the ones libnetfilter_queue's
 * nfq_nlmsg_put and nfq_nlmsg_verdict_put write, for single and batch
 * verdicts, accept and drop, and queue numbers and ids across their ranges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "hs_nfq.h"

#define BUF 256

/* The library's message, in a buffer filled with `fill` first (the padding is written, not left). */
static size_t library_verdict(uint8_t *buf, uint8_t fill, uint16_t queue, uint16_t type, uint32_t id,
			      uint32_t verdict)
{
	memset(buf, fill, BUF);
	struct nlmsghdr *nlh = nfq_nlmsg_put((char *)buf, type, queue);
	nfq_nlmsg_verdict_put(nlh, (int)id, (int)verdict);
	return nlh->nlmsg_len;
}

static void test_same_bytes_as_the_library(void **state)
{
	(void)state;
	static const uint16_t queues[] = { 0, 1, 3, 255, 256, 4097, 65535 };
	static const uint32_t ids[] = { 0, 1, 2, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu, 0x01020304u };
	static const uint16_t types[] = { NFQNL_MSG_VERDICT, NFQNL_MSG_VERDICT_BATCH };
	static const uint32_t verdicts[] = { NF_ACCEPT, NF_DROP };
	uint8_t want[BUF], got[BUF];
	unsigned compared = 0;

	for (size_t q = 0; q < sizeof(queues) / sizeof(queues[0]); q++)
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
			for (size_t t = 0; t < 2; t++)
				for (size_t v = 0; v < 2; v++) {
					size_t n = library_verdict(want, 0xa5, queues[q], types[t], ids[i], verdicts[v]);

					memset(got, 0x5a, sizeof(got));
					assert_int_equal(hs_nfq_put_verdict(got, queues[q], types[t], ids[i], verdicts[v]),
							 n);
					assert_int_equal(n, HS_NFQ_VERDICT_LEN);
					assert_memory_equal(got, want, n);
					/* Nothing written past the message. */
					assert_int_equal(got[n], 0x5a);
					compared++;
				}
	assert_int_equal(compared, 7 * 8 * 2 * 2);
}

/* Messages written one after another (drops, then the batch) each start where the last ended. */
static void test_messages_in_a_row(void **state)
{
	(void)state;
	uint8_t want[BUF], got[BUF], one[BUF];
	size_t off = 0, len = 0;

	memset(got, 0, sizeof(got));
	for (uint32_t id = 10; id < 13; id++)
		off += hs_nfq_put_verdict(got + off, 7, NFQNL_MSG_VERDICT, id, NF_DROP);
	off += hs_nfq_put_verdict(got + off, 7, NFQNL_MSG_VERDICT_BATCH, 20, NF_ACCEPT);
	for (uint32_t id = 10; id < 13; id++) {
		size_t n = library_verdict(one, 0, 7, NFQNL_MSG_VERDICT, id, NF_DROP);
		memcpy(want + len, one, n);
		len += MNL_ALIGN(n);
	}
	size_t n = library_verdict(one, 0, 7, NFQNL_MSG_VERDICT_BATCH, 20, NF_ACCEPT);
	memcpy(want + len, one, n);
	len += MNL_ALIGN(n);
	assert_int_equal(off, len);
	assert_memory_equal(got, want, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes_as_the_library),
		cmocka_unit_test(test_messages_in_a_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
