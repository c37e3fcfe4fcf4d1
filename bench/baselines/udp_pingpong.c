/* Kernel UDP socket ping-pong: the latency baseline a wire is compared with. One binary,
 * two roles:
 *   udp-pingpong server --netns NS --bind IP --port P
 *   udp-pingpong client --netns NS --server IP --port P [--count N] [--warmup W] [--size B]
 * The client prints one JSON line with RTT percentiles in ns. Both block in recv() the way an
 * ordinary application does. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "udp-pingpong: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void enter_netns(const char *ns)
{
	if (!ns)
		return;
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		die(path);
	close(fd);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 2; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return def;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
		fprintf(stderr, "usage: udp-pingpong server|client --netns NS --port P [--bind IP | --server IP] ...\n");
		return 2;
	}
	enter_netns(arg(argc, argv, "--netns", NULL));
	int port = atoi(arg(argc, argv, "--port", "7600"));
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	char buf[9000];
	if (!strcmp(argv[1], "server")) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		inet_pton(AF_INET, arg(argc, argv, "--bind", "0.0.0.0"), &a.sin_addr);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			die("bind");
		fprintf(stderr, "ready\n");
		for (;;) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n > 0)
				sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
		}
	}
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, arg(argc, argv, "--server", ""), &to.sin_addr) != 1) {
		fprintf(stderr, "udp-pingpong: --server needs an IPv4 address\n");
		return 2;
	}
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
		die("connect");
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int count = atoi(arg(argc, argv, "--count", "1000")), warmup = atoi(arg(argc, argv, "--warmup", "50"));
	size_t size = (size_t)atoi(arg(argc, argv, "--size", "18"));
	if (count <= 0 || size < 8 || size > sizeof(buf)) {
		fprintf(stderr, "udp-pingpong: bad --count or --size\n");
		return 2;
	}
	uint64_t *rtt = calloc((size_t)count, sizeof(uint64_t));
	int got = 0, lost = 0;
	memset(buf, 0, size);
	for (int i = -warmup; i < count; i++) {
		uint64_t t0 = now_ns();
		memcpy(buf, &t0, 8);
		if (send(fd, buf, size, 0) < 0)
			die("send");
		ssize_t n;
		uint64_t echo = 0;
		do {   /* skip late echoes of earlier probes */
			n = recv(fd, buf, sizeof(buf), 0);
			if (n >= 8)
				memcpy(&echo, buf, 8);
		} while (n >= 8 && echo != t0);
		if (n < 8) {
			lost += i >= 0;
			continue;
		}
		if (i >= 0)
			rtt[got++] = now_ns() - t0;
	}
	if (got == 0) {
		fprintf(stderr, "udp-pingpong: no echo came back\n");
		return 1;
	}
	qsort(rtt, (size_t)got, sizeof(uint64_t), cmp_u64);
#define PCT(p) rtt[(size_t)((got - 1) * (p))]
	printf("{\"received\":%d,\"lost\":%d,\"rttNs\":{\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"min\":%llu,\"max\":%llu}}\n", got,
	       lost, (unsigned long long)PCT(0.5), (unsigned long long)PCT(0.99), (unsigned long long)PCT(0.999),
	       (unsigned long long)rtt[0], (unsigned long long)rtt[got - 1]);
	free(rtt);
	return 0;
}
