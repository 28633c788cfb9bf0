/*
 * handshaked-rules: installs and removes the firewall rules that send TCP
 * to handshaked's queue.  It owns the translation of the configuration's
 * `queue:` and `rules:` sections into iptables/ip6tables NFQUEUE rules,
 * and keeping the firewall in step with them: add, del and show.
 *
 * It drives the iptables commands rather than netlink because the NFQUEUE
 * target is what works everywhere: iptables-nft reaches it through the
 * nftables compat layer on kernels whose nftables lacks the `queue`
 * expression, and iptables-legacy has it natively.
 *
 * Every rule it makes carries `-m comment --comment handshaked`, and it
 * only ever deletes rules carrying that tag, so other rules in the same
 * chains are never touched.  Every operation is idempotent: add checks
 * with -C before -A, del deletes until -C fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hs_config.h"

#define TAG "handshaked"
#define MAX_ARGS 32
#define MAX_RULES (2 * 4 * (9 * 9 + 1))   /* families x chains x ((interfaces + none)^2 + a mark rule) */

/*
 * Where each chain lives.  PREROUTING is the end host's alternative to
 * INPUT: its rule sits in the mangle table and takes only packets to a
 * local address (-m addrtype --dst-type LOCAL), so it queues what INPUT
 * would, but before the stack's early demux looks up a socket (see
 * queue_input_early in the README: a segment queued on INPUT right behind
 * the one that moves a socket into TIME_WAIT can reach the dead socket and
 * be lost).
 */
static const struct {
	const char *chain, *table;
} all_chains[] = { { "FORWARD", "filter" }, { "INPUT", "filter" }, { "OUTPUT", "filter" }, { "PREROUTING", "mangle" } };
static const char *const tools[2] = { "iptables", "ip6tables" };

static bool dry_run;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: handshaked-rules [-c FILE] [-n] add|del|show\n"
		"  add      install the NFQUEUE rules the configuration asks for (and remove stale ones)\n"
		"  del      remove every rule tagged \"" TAG "\"\n"
		"  show     list our rules; exit 0 if they match the configuration, 1 if not\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -n       print the iptables commands add or del would run, and run nothing\n",
		HS_DEFAULT_CONFIG_PATH);
}

/* One rule: the arguments after the operation (-A/-C/-D), the table and the tool. */
struct rule {
	int family;                 /* 0: iptables, 1: ip6tables */
	const char *table;          /* "filter" or "mangle" */
	int argc;
	char *argv[MAX_ARGS];
	char queue[16];             /* storage for the queue argument */
	char mark[16];              /* storage for the mark argument */
};

/* ---- running iptables ---- */

/*
 * Runs tool with args; captures stdout into *out (malloc'd) when out is
 * not NULL, hides stderr when quiet.  Returns the exit status, 127 when
 * the tool could not be run, -1 when the child could not be made.
 */
static int run(const char *tool, char *const args[], bool quiet, char **out)
{
	int pipefd[2] = { -1, -1 };

	if (out && pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (out)
			dup2(pipefd[1], STDOUT_FILENO);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
			if (null >= 0)
				dup2(null, STDERR_FILENO);
		}
		execvp(tool, args);
		if (!quiet)
			fprintf(stderr, "handshaked-rules: cannot run %s: %s\n", tool, strerror(errno));
		_exit(127);
	}
	if (out) {
		size_t len = 0, cap = 4096;
		char *buf = malloc(cap);
		close(pipefd[1]);
		for (;;) {
			if (buf && len + 1024 > cap) {
				char *grown = realloc(buf, cap * 2);
				if (!grown) {
					free(buf);
					buf = NULL;
				} else {
					buf = grown;
					cap *= 2;
				}
			}
			char sink[1024];
			ssize_t n = read(pipefd[0], buf ? buf + len : sink, buf ? cap - len - 1 : sizeof(sink));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (buf)
				len += (size_t)n;
		}
		close(pipefd[0]);
		if (buf)
			buf[len] = '\0';
		*out = buf;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The table a chain's rules go in. */
static const char *table_of(const char *chain)
{
	for (size_t i = 0; i < sizeof(all_chains) / sizeof(all_chains[0]); i++)
		if (strcmp(all_chains[i].chain, chain) == 0)
			return all_chains[i].table;
	return "filter";
}

static bool is_filter(const struct rule *r)
{
	return !r->table || strcmp(r->table, "filter") == 0;
}

/* "iptables -w [-t TABLE] OP ARGS..." for a rule. */
static int run_rule(const struct rule *r, const char *op, bool quiet)
{
	char *args[MAX_ARGS + 6];
	int n = 0;

	args[n++] = (char *)(uintptr_t)tools[r->family];
	args[n++] = "-w";
	if (!is_filter(r)) {
		args[n++] = "-t";
		args[n++] = (char *)(uintptr_t)r->table;
	}
	args[n++] = (char *)(uintptr_t)op;
	for (int i = 0; i < r->argc; i++)
		args[n++] = r->argv[i];
	args[n] = NULL;
	if (dry_run) {
		for (int i = 0; i < n; i++)
			printf("%s%s", i ? " " : "", args[i]);
		printf("\n");
		return 0;
	}
	return run(tools[r->family], args, quiet, NULL);
}

static void print_rule(const char *prefix, const struct rule *r, const char *op)
{
	printf("%s%s%s%s %s", prefix, tools[r->family], is_filter(r) ? "" : " -t ", is_filter(r) ? "" : r->table, op);
	for (int i = 0; i < r->argc; i++)
		printf(" %s", r->argv[i]);
	printf("\n");
}

/* ---- the rules the configuration asks for ---- */

static void push(struct rule *r, const char *arg)
{
	if (r->argc < MAX_ARGS)
		r->argv[r->argc++] = (char *)(uintptr_t)arg;
}

/*
 * The arguments are in the order `iptables -S` prints them (interfaces,
 * protocol, matches, target), so that a rule read back from the firewall
 * compares equal, word for word, to the one built here.
 */
static void build_rule(struct rule *r, const struct hs_config *c, int family, const char *chain, const char *in,
		       const char *out)
{
	memset(r, 0, sizeof(*r));
	r->family = family;
	r->table = table_of(chain);
	push(r, chain);
	if (in) {
		push(r, "-i");
		push(r, in);
	}
	if (out) {
		push(r, "-o");
		push(r, out);
	}
	/*
	 * Loopback traffic passes OUTPUT and then INPUT: queued in both, each
	 * of its packets would be seen twice.  Left out unless asked for (and
	 * when interfaces are named, lo is not among them unless named).
	 */
	bool inbound = strcmp(chain, "INPUT") == 0 || strcmp(chain, "PREROUTING") == 0;
	if (!c->rules_include_loopback && !in && inbound) {
		push(r, "!");
		push(r, "-i");
		push(r, "lo");
	}
	if (!c->rules_include_loopback && !out && strcmp(chain, "OUTPUT") == 0) {
		push(r, "!");
		push(r, "-o");
		push(r, "lo");
	}
	push(r, "-p");
	push(r, "tcp");
	if (strcmp(chain, "PREROUTING") == 0) {
		/* Only the host's own packets: what it forwards is FORWARD's business. */
		push(r, "-m");
		push(r, "addrtype");
		push(r, "--dst-type");
		push(r, "LOCAL");
	}
	push(r, "-m");
	push(r, "comment");
	push(r, "--comment");
	push(r, TAG);
	push(r, "-j");
	push(r, "NFQUEUE");
	if (c->queue_first == c->queue_last) {
		snprintf(r->queue, sizeof(r->queue), "%u", c->queue_first);
		push(r, "--queue-num");
	} else {
		/* The kernel's hash is symmetric, so both directions of a connection meet in one worker. */
		snprintf(r->queue, sizeof(r->queue), "%u:%u", c->queue_first, c->queue_last);
		push(r, "--queue-balance");
	}
	push(r, r->queue);
	/* Without a daemon bound to the queue, traffic passes rather than being dropped. */
	push(r, "--queue-bypass");
}

/*
 * The rule that keeps the daemon's own packets (its RSTs, marked with
 * queue.own_mark through SO_MARK) out of its queue, placed before the
 * queueing rules of a host chain.  Only INPUT, PREROUTING and OUTPUT need
 * one: what the host sends never passes FORWARD.
 *
 * ACCEPT, not RETURN: a packet the daemon accepts from the queue leaves the
 * chain there (NF_ACCEPT ends the chain's traversal as ACCEPT does), so
 * ACCEPT gives its own RSTs exactly the fate every other TCP packet of the
 * chain gets from the queue, without the round trip through its own queue.
 * RETURN would send them on to the chain's policy, which queued packets
 * never reach: with a DROP policy the RSTs would die where a queue verdict
 * lets everything through.  The rule sits after the operator's own rules
 * (it is appended, as the queueing rules are), so it skips nothing the
 * queueing rule would not have skipped.
 */
static void build_mark_rule(struct rule *r, const struct hs_config *c, int family, const char *chain)
{
	memset(r, 0, sizeof(*r));
	r->family = family;
	r->table = table_of(chain);
	snprintf(r->mark, sizeof(r->mark), "0x%x", c->own_mark);
	push(r, chain);
	push(r, "-p");
	push(r, "tcp");
	push(r, "-m");
	push(r, "mark");
	push(r, "--mark");
	push(r, r->mark);
	push(r, "-m");
	push(r, "comment");
	push(r, "--comment");
	push(r, TAG);
	push(r, "-j");
	push(r, "ACCEPT");
}

/* Whether a rule is a mark rule (it must come before the queueing rules of its chain). */
static bool is_mark_rule(const struct rule *r)
{
	return r->argc >= 2 && strcmp(r->argv[r->argc - 2], "-j") == 0 && strcmp(r->argv[r->argc - 1], "ACCEPT") == 0;
}

/*
 * Every family x chain x interface combination.  An input interface means
 * nothing in OUTPUT and an output interface nothing in INPUT (iptables
 * refuses them), so each chain takes only the lists that apply to it;
 * FORWARD takes every pair of one input and one output interface.
 */
static size_t desired_rules(const struct hs_config *c, struct rule *rules)
{
	static const char *const default_chain[] = { "FORWARD" };
	const char *chains[4];
	size_t nchains = c->rules_nchains;
	size_t n = 0;

	if (nchains == 0) {
		chains[0] = default_chain[0];
		nchains = 1;
	} else {
		for (size_t i = 0; i < nchains && i < 4; i++)
			chains[i] = c->rules_chains[i];
	}
	bool want[2] = { c->rules_ipv4, c->rules_ipv6 };
	if (!want[0] && !want[1])
		want[0] = want[1] = true;

	for (int family = 0; family < 2; family++) {
		if (!want[family])
			continue;
		for (size_t ci = 0; ci < nchains; ci++) {
			const char *chain = chains[ci];
			if (strcmp(chain, "FORWARD") != 0 && n < MAX_RULES)
				build_mark_rule(&rules[n++], c, family, chain);
			bool use_in = strcmp(chain, "OUTPUT") != 0 && c->rules_n_in > 0;
			bool use_out = strcmp(chain, "INPUT") != 0 && strcmp(chain, "PREROUTING") != 0 && c->rules_n_out > 0;
			size_t nin = use_in ? c->rules_n_in : 1, nout = use_out ? c->rules_n_out : 1;

			for (size_t i = 0; i < nin; i++)
				for (size_t o = 0; o < nout && n < MAX_RULES; o++)
					build_rule(&rules[n++], c, family, chain, use_in ? c->rules_in_interfaces[i] : NULL,
						   use_out ? c->rules_out_interfaces[o] : NULL);
		}
	}
	return n;
}

/* ---- our rules as they are in the firewall ---- */

/* A rule read from `iptables -S`, split into words; line owns the storage. */
struct found {
	int family;
	int position;               /* 1-based, among every rule of its chain (for iptables -I) */
	char *line;
	struct rule r;              /* argv points into line; argv[0] is the chain */
};

/* Splits an `iptables -S` line in place; double quotes group words, as iptables prints them. */
static int split_words(char *line, char **words, int max)
{
	int n = 0;
	char *p = line;

	while (*p && n < max) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (*p == '"') {
			words[n++] = ++p;
			while (*p && *p != '"')
				p++;
		} else {
			words[n++] = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
		}
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static bool tagged(const struct rule *r)
{
	for (int i = 0; i + 1 < r->argc; i++)
		if (strcmp(r->argv[i], "--comment") == 0 && strcmp(r->argv[i + 1], TAG) == 0)
			return true;
	return false;
}

/* Whether a tool is on PATH: a host without ip6tables has no IPv6 rules of ours to find. */
static bool tool_available(const char *tool)
{
	const char *path = getenv("PATH");
	char dir[512], file[600];

	if (!path || !*path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		if (len > 0 && len < sizeof(dir)) {
			memcpy(dir, path, len);
			dir[len] = '\0';
			snprintf(file, sizeof(file), "%s/%s", dir, tool);
			if (access(file, X_OK) == 0)
				return true;
		}
		path += len;
		if (*path == ':')
			path++;
	}
	return false;
}

static void free_found(struct found *found, int n)
{
	for (int i = 0; i < n; i++)
		free(found[i].line);
}

/*
 * Lists the tagged rules of FORWARD, INPUT, OUTPUT (filter) and PREROUTING
 * (mangle) in both families
 * (skipping a family whose tool is not installed).  Returns how many, or -1
 * when a listing failed.
 */
static int find_tagged(struct found *found, int max)
{
	int n = 0;

	for (int family = 0; family < 2; family++) {
		if (!tool_available(tools[family]))
			continue;
		for (size_t ci = 0; ci < sizeof(all_chains) / sizeof(all_chains[0]); ci++) {
			char *args[] = { (char *)(uintptr_t)tools[family], "-w", "-t",
					 (char *)(uintptr_t)all_chains[ci].table, "-S",
					 (char *)(uintptr_t)all_chains[ci].chain, NULL };
			char *text = NULL;
			int rc = run(tools[family], args, false, &text);
			if (rc != 0 || !text) {
				free(text);
				fprintf(stderr, "handshaked-rules: %s -t %s -S %s failed (exit %d)\n", tools[family],
					all_chains[ci].table, all_chains[ci].chain, rc);
				free_found(found, n);
				return -1;
			}
			int position = 0;
			for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
				if (strncmp(line, "-A ", 3) != 0)
					continue;
				position++;
				if (!strstr(line, TAG) || n == max)
					continue;
				struct found *f = &found[n];
				memset(f, 0, sizeof(*f));
				f->family = family;
				f->position = position;
				f->line = strdup(line);
				if (!f->line)
					continue;
				char *words[MAX_ARGS + 1];
				int nw = split_words(f->line, words, MAX_ARGS + 1);
				/* words[0] is "-A"; the rest are the rule's arguments. */
				f->r.family = family;
				f->r.table = all_chains[ci].table;
				for (int i = 1; i < nw && f->r.argc < MAX_ARGS; i++)
					f->r.argv[f->r.argc++] = words[i];
				if (!tagged(&f->r)) {
					free(f->line);
					continue;
				}
				n++;
			}
			free(text);
		}
	}
	return n;
}

static bool same_rule(const struct rule *a, const struct rule *b)
{
	if (a->family != b->family || a->argc != b->argc || is_filter(a) != is_filter(b))
		return false;
	for (int i = 0; i < a->argc; i++)
		if (strcmp(a->argv[i], b->argv[i]) != 0)
			return false;
	return true;
}

/* The index of r in set, or -1. */
static int find_in(const struct rule *r, const struct rule *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (same_rule(r, &set[i]))
			return (int)i;
	return -1;
}

/* Deletes every copy of a rule; returns false if a delete failed. */
static bool delete_all(const struct rule *r)
{
	/* Bounded: a rule duplicated more often than this was not made by us. */
	for (int i = 0; i < 64; i++) {
		if (run_rule(r, "-C", true) != 0)
			return true;
		if (run_rule(r, "-D", false) != 0)
			return false;
		print_rule("removed: ", r, "-A");
	}
	return false;
}

/*
 * Where our first queueing rule sits in a family's chain (its position for
 * iptables -I), or 0 when the chain holds none.
 */
static int first_queue_position(const struct found *have, int n, int family, const char *chain)
{
	int first = 0;

	for (int i = 0; i < n; i++)
		if (have[i].family == family && !is_mark_rule(&have[i].r) &&
		    strcmp(have[i].r.argv[0], chain) == 0 && (first == 0 || have[i].position < first))
			first = have[i].position;
	return first;
}

/* Whether a found mark rule comes after one of our queueing rules, where it would never see a packet. */
static bool misplaced(const struct found *have, int n, const struct found *mark)
{
	int first = first_queue_position(have, n, mark->family, mark->r.argv[0]);

	return is_mark_rule(&mark->r) && first != 0 && mark->position > first;
}

/* "iptables -w -I CHAIN POSITION ARGS...": the rule inserted at a position of its chain. */
static int insert_rule(const struct rule *r, int position)
{
	struct rule at = *r;
	char pos[16];

	snprintf(pos, sizeof(pos), "%d", position);
	at.argc = 0;
	push(&at, r->argv[0]);
	push(&at, pos);
	for (int i = 1; i < r->argc; i++)
		push(&at, r->argv[i]);
	return run_rule(&at, "-I", false);
}

/*
 * Puts each mark rule in front of its chain's queueing rules: a missing one
 * is inserted there (or appended to a chain holding none of ours yet), and
 * one left behind a queueing rule (by a version that had none) is moved.
 * Returns how many changes failed.
 */
static int place_mark_rules(const struct rule *want, size_t nwant)
{
	static struct found have[256];
	int failures = 0;
	int nhave = find_tagged(have, (int)(sizeof(have) / sizeof(have[0])));

	if (nhave < 0)
		return 1;
	for (size_t i = 0; i < nwant; i++) {
		if (!is_mark_rule(&want[i]))
			continue;
		bool present = false;
		for (int j = 0; j < nhave; j++) {
			if (!same_rule(&have[j].r, &want[i]))
				continue;
			present = !misplaced(have, nhave, &have[j]);
			if (!present && run_rule(&want[i], "-D", false) != 0)
				failures++;
		}
		if (present)
			continue;
		int first = first_queue_position(have, nhave, want[i].family, want[i].argv[0]);
		if ((first ? insert_rule(&want[i], first) : run_rule(&want[i], "-A", false)) != 0) {
			print_rule("failed: ", &want[i], "-A");
			failures++;
			continue;
		}
		print_rule("added: ", &want[i], "-A");
		/* Positions after the insertion moved: read them again for the next chain. */
		free_found(have, nhave);
		nhave = find_tagged(have, (int)(sizeof(have) / sizeof(have[0])));
		if (nhave < 0)
			return failures + 1;
	}
	if (nhave > 0)
		free_found(have, nhave);
	return failures;
}

/* ---- commands ---- */

static int cmd_add(const struct hs_config *c)
{
	static struct rule want[MAX_RULES];
	static struct found have[256];
	size_t nwant = desired_rules(c, want);
	int failures = 0;

	if (dry_run) {
		for (size_t i = 0; i < nwant; i++)
			run_rule(&want[i], "-A", false);
		return 0;
	}
	/*
	 * Rules of an older configuration (another queue, chain or interface)
	 * go first, and so do second copies of ours: each rule once is the
	 * state add leaves, however the firewall looked before.
	 */
	static bool seen[MAX_RULES];
	memset(seen, 0, sizeof(seen));
	int nhave = find_tagged(have, (int)(sizeof(have) / sizeof(have[0])));
	for (int i = 0; i < nhave; i++) {
		int j = find_in(&have[i].r, want, nwant);
		if (j < 0) {
			if (!delete_all(&have[i].r))
				failures++;
		} else if (seen[j]) {
			if (run_rule(&have[i].r, "-D", false) != 0)
				failures++;
			else
				print_rule("removed duplicate: ", &have[i].r, "-A");
		}
		if (j >= 0)
			seen[j] = true;
	}
	if (nhave > 0)
		free_found(have, nhave);
	failures += place_mark_rules(want, nwant);
	for (size_t i = 0; i < nwant; i++) {
		if (is_mark_rule(&want[i]) || run_rule(&want[i], "-C", true) == 0)
			continue;
		if (run_rule(&want[i], "-A", false) != 0) {
			print_rule("failed: ", &want[i], "-A");
			failures++;
			continue;
		}
		print_rule("added: ", &want[i], "-A");
	}
	return failures ? 1 : 0;
}

static int cmd_del(const struct hs_config *c)
{
	static struct rule want[MAX_RULES];
	static struct found have[256];
	int failures = 0;

	if (c) {
		size_t nwant = desired_rules(c, want);
		for (size_t i = 0; i < nwant; i++) {
			if (dry_run)
				run_rule(&want[i], "-D", false);
			else if (!delete_all(&want[i]))
				failures++;
		}
	}
	if (dry_run)
		return 0;
	/* Then whatever else carries our tag: rules of an older configuration, duplicates. */
	int nhave = find_tagged(have, (int)(sizeof(have) / sizeof(have[0])));
	if (nhave < 0)
		return 1;
	for (int i = 0; i < nhave; i++)
		if (!delete_all(&have[i].r))
			failures++;
	free_found(have, nhave);
	return failures ? 1 : 0;
}

static int cmd_show(const struct hs_config *c)
{
	static struct rule want[MAX_RULES];
	static struct found have[256];
	size_t nwant = desired_rules(c, want);
	int nhave = find_tagged(have, (int)(sizeof(have) / sizeof(have[0])));
	bool in_step = nhave >= 0;

	static bool seen[MAX_RULES];
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < nhave; i++) {
		int j = find_in(&have[i].r, want, nwant);
		bool behind = j >= 0 && misplaced(have, nhave, &have[i]);
		const char *what = j < 0 ? "stale:     " : seen[j] ? "duplicate: " : behind ? "misplaced: " : "present:   ";
		print_rule(what, &have[i].r, "-A");
		in_step &= j >= 0 && !seen[j] && !behind;
		if (j >= 0)
			seen[j] = true;
	}
	for (size_t i = 0; i < nwant; i++) {
		bool found = false;
		for (int j = 0; j < nhave && !found; j++)
			found = same_rule(&want[i], &have[j].r);
		if (!found) {
			print_rule("missing:   ", &want[i], "-A");
			in_step = false;
		}
	}
	if (nhave > 0)
		free_found(have, nhave);
	return in_step ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *path = HS_DEFAULT_CONFIG_PATH;
	int opt;

	while ((opt = getopt(argc, argv, "c:nh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "add") != 0 && strcmp(cmd, "del") != 0 && strcmp(cmd, "show") != 0) {
		fprintf(stderr, "handshaked-rules: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	if (dry_run && strcmp(cmd, "show") == 0) {
		fprintf(stderr, "handshaked-rules: -n goes with add or del\n");
		return 2;
	}
	/* Output goes to the journal line by line, in order with iptables' own messages. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	static struct hs_config config;
	struct hs_diag diag;
	int rc = hs_config_load(path, &config, &diag);
	fputs(hs_diag_text(&diag), stderr);
	hs_diag_free(&diag);
	if (rc < 0) {
		/* Removing our rules must work even when the file is broken: that is when it matters. */
		if (strcmp(cmd, "del") == 0) {
			fprintf(stderr, "handshaked-rules: %s has errors; removing every rule tagged \"" TAG "\"\n",
				path);
			return cmd_del(NULL);
		}
		return 2;
	}
	if (strcmp(cmd, "add") == 0)
		return cmd_add(&config);
	if (strcmp(cmd, "del") == 0)
		return cmd_del(&config);
	return cmd_show(&config);
}
