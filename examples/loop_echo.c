/* demo: a TCP echo server and its clients as tasks of one loop: one task per connection, every call suspends only its task */
/*
 * asyncio's echo server (asyncio.start_server with a handler per
 * connection) and a few clients, all in one thread: the server accepts on
 * a loopback port and starts a task per connection that sends back what it
 * receives; each client connects, sends three lines and checks the
 * answers. conc_accept, conc_recv, conc_send and conc_connect are the
 * ordinary calls outside a loop and go through io_uring inside one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <conc.h>

#define SEC	1000000000LL
#define CLIENTS	5

static struct sockaddr_in addr;

static int handle(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[256];
	ssize_t n;

	while ((n = conc_recv(fd, buf, sizeof(buf), 0, 5 * SEC)) > 0)
		if (conc_send(fd, buf, (size_t)n, MSG_NOSIGNAL, 5 * SEC) != n)
			break;
	close(fd);
	return 0;
}

static int server(void *arg)
{
	int lfd = *(int *)arg;

	for (int i = 0; i < CLIENTS; i++) {
		int fd = conc_accept(lfd, NULL, NULL, SOCK_CLOEXEC, 5 * SEC);
		conc_task *t;

		if (fd < 0)
			return 1;
		if (conc_go(&t, handle, (void *)(intptr_t)fd, NULL))
			return 1;
	}
	return 0;	/* conc_run joins the handlers */
}

static int client(void *arg)
{
	int id = (int)(intptr_t)arg, fd = socket(AF_INET, SOCK_STREAM, 0);
	char line[64], back[64];

	if (fd < 0 || conc_connect(fd, (struct sockaddr *)&addr, sizeof(addr), 5 * SEC))
		return 1;
	for (int i = 0; i < 3; i++) {
		int len = snprintf(line, sizeof(line), "client %d line %d", id, i);
		ssize_t got = 0;

		if (conc_send(fd, line, (size_t)len, MSG_NOSIGNAL, 5 * SEC) != len)
			return 1;
		while (got < len) {
			ssize_t n = conc_recv(fd, back + got, (size_t)(len - got), 0, 5 * SEC);

			if (n <= 0)
				return 1;
			got += n;
		}
		printf("client %d got back \"%.*s\"\n", id, len, back);
	}
	close(fd);
	return 0;
}

static int async_main(void *arg)
{
	conc_task *ts[CLIENTS + 1];
	int r;

	if (conc_go(&ts[0], server, arg, NULL))
		return 1;
	for (int i = 1; i <= CLIENTS; i++)
		if (conc_go(&ts[i], client, (void *)(intptr_t)i, NULL))
			return 1;
	r = conc_gather(ts, CLIENTS + 1, NULL, 0, 10 * SEC);
	printf("%d clients served by one thread: %s\n", CLIENTS, r ? "failed" : "ok");
	return r != 0;
}

int main(void)
{
	socklen_t len = sizeof(addr);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), code, r;

	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(lfd, 16) || getsockname(lfd, (struct sockaddr *)&addr, &len)) {
		perror("listen");
		return 1;
	}
	r = conc_run(async_main, &lfd, &code);
	close(lfd);
	if (r == -ENOSYS) {
		puts("this kernel has no io_uring: nothing to show");
		return 0;
	}
	return r < 0 || code;
}
