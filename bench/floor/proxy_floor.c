/* proxy floor: the least a Runtime API proxy can add to an invocation on this machine.
 *
 * Usage: proxy_floor UPSTREAM_PORT HOOKS   (HOOKS: none | both | response)
 * Prints the port it listens on (127.0.0.1) on stdout, then serves one runtime connection at a
 * time, each over its own kept-alive connection to 127.0.0.1:UPSTREAM_PORT.
 *
 * It does what every proxy must and nothing more: each request is read whole (head to the blank
 * line, then Content-Length bytes; no other framing), sent upstream as it came, and the answer,
 * read the same way, sent back as it came. No header is parsed beyond Content-Length, nothing is
 * allocated per request, every call blocks. A "hook" is one round trip through two pipes to a
 * forked child written the same way: the body goes to it behind an 8-byte length in one
 * `writev`, it reads all of it and answers a line at once. With HOOKS=both the event goes to the
 * child before the runtime gets it (GET answers) and the response before the Runtime API does (POST
 * bodies); with HOOKS=response only the latter. That is what intercept mode's two hooks cost at the
 * very least, and with HOOKS=none what observe mode's forwarding does (docs/proxy.md, "Cost").
 * Each hook is timed as the proxy's are billed (request written -> reply read): when a runtime
 * connection ends, a line "hooks INVOCATIONS SECONDS" on stdout gives the invocations (POSTs)
 * served on it and its hooks' time, so that the floor, too, can be seen beyond its hooks' time.
 * Plain C; bench/proxy-cost.py builds it and pairs it with the direct path as it pairs the proxy.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE (8 << 20)

static char message[MAX_MESSAGE + 1];
static int to_child = -1, from_child = -1;
static double hook_seconds;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

static int send_full(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One HTTP/1.1 message from `fd` into `message`: its length, and where its body starts. */
static int read_message(int fd, size_t* length, size_t* body_at) {
  size_t have = 0;
  char* end = NULL;
  while (end == NULL) {
    if (have == MAX_MESSAGE) return -1;
    ssize_t r = recv(fd, message + have, MAX_MESSAGE - have, 0);
    if (r <= 0) return -1;
    have += (size_t)r;
    message[have] = 0;
    end = strstr(message, "\r\n\r\n");
  }
  *body_at = (size_t)(end + 4 - message);
  const char* field = strcasestr(message, "\r\ncontent-length:");
  size_t body = field != NULL && field < end ? strtoul(field + 17, NULL, 10) : 0;
  if (*body_at + body > MAX_MESSAGE) return -1;
  while (have < *body_at + body) {
    ssize_t r = recv(fd, message + have, *body_at + body - have, 0);
    if (r <= 0) return -1;
    have += (size_t)r;
  }
  *length = have;
  return 0;
}

/* The child: reads each length-prefixed message whole, in as few reads as the pipe allows, and
 * answers a line at once. */
static void serve_hooks(int in, int out) {
  static char body[MAX_MESSAGE + sizeof(uint64_t)];
  static const char reply[] = "{\"result\":null}\n";
  for (;;) {
    size_t have = 0;
    uint64_t n = 0;
    do {
      ssize_t r = read(in, body + have, sizeof body - have);
      if (r <= 0) _exit(0);
      have += (size_t)r;
      if (have >= sizeof n) memcpy(&n, body, sizeof n);
    } while (have < sizeof n || have < sizeof n + n);
    if (write(out, reply, sizeof reply - 1) != (ssize_t)(sizeof reply - 1)) _exit(0);
  }
}

static void start_child(void) {
  int down[2], up[2];
  if (pipe(down) != 0 || pipe(up) != 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(down[1]);
    close(up[0]);
    serve_hooks(down[0], up[1]);
  }
  close(down[0]);
  close(up[1]);
  to_child = down[1];
  from_child = up[0];
}

/* One write of the length and the body (a 1 MiB one fills the pipe and waits), one read back. */
static void hook(const char* body, size_t n) {
  const double start = now();
  uint64_t length = n;
  struct iovec parts[2] = {{&length, sizeof length}, {(void*)body, n}};
  size_t left = sizeof length + n;
  while (left > 0) {
    ssize_t w = writev(to_child, parts, 2);
    if (w <= 0) die("hook write");
    left -= (size_t)w;
    for (int i = 0; i < 2; ++i) {
      size_t used = (size_t)w < parts[i].iov_len ? (size_t)w : parts[i].iov_len;
      parts[i].iov_base = (char*)parts[i].iov_base + used;
      parts[i].iov_len -= used;
      w -= (ssize_t)used;
    }
  }
  char reply[64];
  size_t got = 0;
  do {
    ssize_t r = read(from_child, reply + got, sizeof reply - got);
    if (r <= 0) die("hook read");
    got += (size_t)r;
  } while (reply[got - 1] != '\n');
  hook_seconds += now() - start;
}

static int connect_upstream(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&at, sizeof at) != 0) die("connect upstream");
  return fd;
}

static void serve(int runtime, int upstream_port, int request_hook, int response_hook) {
  int upstream = connect_upstream(upstream_port);
  const int one = 1;
  setsockopt(runtime, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  unsigned long invocations = 0;
  hook_seconds = 0;
  for (;;) {
    size_t length, body_at;
    if (read_message(runtime, &length, &body_at) != 0) break;
    const int is_post = message[0] == 'P';
    invocations += is_post;
    if (is_post && response_hook) hook(message + body_at, length - body_at);
    if (send_full(upstream, message, length) != 0) break;
    if (read_message(upstream, &length, &body_at) != 0) break;
    if (!is_post && request_hook) hook(message + body_at, length - body_at);
    if (send_full(runtime, message, length) != 0) break;
  }
  close(upstream);
  close(runtime);
  printf("hooks %lu %.9f\n", invocations, hook_seconds);
  fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fputs("usage: proxy_floor UPSTREAM_PORT none|both|response\n", stderr);
    return 2;
  }
  const int both = strcmp(argv[2], "both") == 0;
  const int response = both || strcmp(argv[2], "response") == 0;
  if (response) start_child();
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in at = {.sin_family = AF_INET};
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof at;
  if (listener < 0 || bind(listener, (struct sockaddr*)&at, sizeof at) != 0 ||
      listen(listener, 16) != 0 || getsockname(listener, (struct sockaddr*)&at, &size) != 0) {
    die("listen");
  }
  printf("%d\n", ntohs(at.sin_port));
  fflush(stdout);
  for (;;) {
    int runtime = accept(listener, NULL, NULL);
    if (runtime < 0) die("accept");
    serve(runtime, atoi(argv[1]), both, response);
  }
}
