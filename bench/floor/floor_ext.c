/* floor extension: the least a Lambda extension can do [EXT].
 *
 * Registers for INVOKE and SHUTDOWN, then loops on /event/next over ONE keep-alive HTTP/1.1
 * socket, writing each event's body as one line to stdout (what extension-runner does with no
 * child), and exits after SHUTDOWN. No library beyond libc, no JSON parser (the SHUTDOWN test
 * is a substring search), static. The bench's "floor": what any extension must pay. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[1 << 20];
static size_t used;

static void die(const char* what) {
  fprintf(stderr, "floor: %s\n", what);
  exit(1);
}

static void send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) die("write");
    p += w;
    n -= (size_t)w;
  }
}

/* Reads one response; returns its body (NUL-terminated in buf) and copies the value of
 * `header` (if given) into out. The bytes of the response are consumed from buf. */
static size_t body_len;
static char* read_response(int fd, const char* header, char* out, size_t out_size) {
  char* end;
  while ((end = memmem(buf, used, "\r\n\r\n", 4)) == NULL) {
    ssize_t r = read(fd, buf + used, sizeof buf - used - 1);
    if (r <= 0) die("read");
    used += (size_t)r;
  }
  size_t head = (size_t)(end - buf) + 4;
  buf[head - 2] = 0;
  size_t length = 0;
  for (char* line = strstr(buf, "\r\n"); line && *line; line = strstr(line + 2, "\r\n")) {
    char* l = line + 2;
    if (strncasecmp(l, "Content-Length:", 15) == 0) length = strtoul(l + 15, NULL, 10);
    if (header && strncasecmp(l, header, strlen(header)) == 0 && l[strlen(header)] == ':') {
      char* v = l + strlen(header) + 1;
      while (*v == ' ') ++v;
      size_t n = strcspn(v, "\r");
      if (n >= out_size) n = out_size - 1;
      memcpy(out, v, n);
      out[n] = 0;
    }
  }
  if (head + length >= sizeof buf) die("response too large");
  while (used < head + length) {
    ssize_t r = read(fd, buf + used, sizeof buf - used - 1);
    if (r <= 0) die("read body");
    used += (size_t)r;
  }
  static char body[1 << 20];
  memcpy(body, buf + head, length);
  body[length] = 0;
  body_len = length;
  memmove(buf, buf + head + length, used - head - length);
  used -= head + length;
  return body;
}

int main(int argc, char** argv) {
  const char* api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api) die("AWS_LAMBDA_RUNTIME_API not set");
  const char* name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  (void)argc;
  char host[64];
  const char* colon = strrchr(api, ':');
  if (!colon || (size_t)(colon - api) >= sizeof host) die("bad AWS_LAMBDA_RUNTIME_API");
  memcpy(host, api, (size_t)(colon - api));
  host[colon - api] = 0;
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(colon + 1));
  if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
                &addr.sin_addr) != 1) {
    die("runtime API host must be an IPv4 address");
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  static const char events[] = "{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}";
  char request[1024];
  int n = snprintf(request, sizeof request,
                   "POST /2020-01-01/extension/register HTTP/1.1\r\nHost: %s\r\n"
                   "Lambda-Extension-Name: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   api, name, sizeof events - 1, events);
  send_all(fd, request, (size_t)n);
  char id[256] = "";
  read_response(fd, "Lambda-Extension-Identifier", id, sizeof id);
  if (!*id) die("register: no identifier");

  n = snprintf(request, sizeof request,
               "GET /2020-01-01/extension/event/next HTTP/1.1\r\nHost: %s\r\n"
               "Lambda-Extension-Identifier: %s\r\n\r\n",
               api, id);
  for (;;) {
    send_all(fd, request, (size_t)n);
    char* body = read_response(fd, NULL, NULL, 0);
    body[body_len] = '\n';
    send_all(1, body, body_len + 1);
    body[body_len] = 0;
    if (strstr(body, "\"SHUTDOWN\"")) return 0;
  }
}
