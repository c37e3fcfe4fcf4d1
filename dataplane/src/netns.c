#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

int bn_netns__enter(struct bn_netns_guard *g, const char *netns, struct bn_error *e)
{
	g->saved_fd = -1;
	if (!netns || !netns[0])
		return 0;
	char path[256];
	if (strchr(netns, '/'))
		snprintf(path, sizeof(path), "%s", netns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", netns);
	int target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return bn_fail(e, errno, "netns_open", "network namespace %s not found (%s): %s", netns, path,
			       strerror(errno));
	g->saved_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (g->saved_fd < 0) {
		int err = errno;
		close(target);
		return bn_fail(e, err, "netns_save", "cannot open the current network namespace: %s", strerror(err));
	}
	if (setns(target, CLONE_NEWNET) < 0) {
		int err = errno;
		close(target);
		close(g->saved_fd);
		g->saved_fd = -1;
		return bn_fail(e, err, "netns_enter", "cannot enter network namespace %s: %s%s", netns, strerror(err),
			       err == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
	}
	close(target);
	return 0;
}

void bn_netns__leave(struct bn_netns_guard *g)
{
	if (g->saved_fd < 0)
		return;
	/* Failing to return would leave the JS thread in the wrong namespace; nothing sane follows. */
	if (setns(g->saved_fd, CLONE_NEWNET) < 0) {
		perror("banana: cannot return to the original network namespace");
		abort();
	}
	close(g->saved_fd);
	g->saved_fd = -1;
}
