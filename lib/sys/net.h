/*
 * Socket calls for the loop's I/O outside a loop (lib/loop/io.c). Same rule
 * as sys.h: each returns the kernel's result, -errno on failure.
 */
#ifndef CONC_SYS_NET_H
#define CONC_SYS_NET_H

#include <sys/socket.h>
#include "sys.h"

static inline long sys_recv(int fd, void *buf, size_t len, int flags)
{
	return __CONC_SC(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
}

static inline long sys_send(int fd, const void *buf, size_t len, int flags)
{
	return __CONC_SC(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

static inline int sys_accept4(int fd, struct sockaddr *a, socklen_t *alen,
			      int flags)
{
	return (int)__CONC_SC(SYS_accept4, fd, a, alen, flags);
}

static inline int sys_connect(int fd, const struct sockaddr *a, socklen_t alen)
{
	return (int)__CONC_SC(SYS_connect, fd, a, alen);
}

/* The socket's pending error (SO_ERROR), as -errno, or 0. */
static inline int sys_sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	int r = (int)__CONC_SC(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &len);

	return r < 0 ? r : -err;
}

#endif
