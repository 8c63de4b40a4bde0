/* bench_api: a minimal Extensions API + Telemetry API stand-in that times an extension [EXT].
 *
 *   bench_api [--invokes N] [--posts K] [--records R] [--shutdown-ms M] [--out FILE]
 *             [--child-times FILE] -- command [args...]
 *
 * Spawns the command with AWS_LAMBDA_RUNTIME_API pointing at itself (127.0.0.1, ephemeral
 * port), answers register / event/next / init|exit error / telemetry or logs subscription on
 * one thread (poll), and records CLOCK_MONOTONIC at: spawn, register received, first /next
 * received, each INVOKE written, each following /next received. With --posts it then POSTs K
 * batches of R records to the extension's listener (one in flight, as the platform does,
 * retrying a 503 after 1 ms), timing each answer. It reads the extension's VmHWM before
 * SHUTDOWN, and the VmHWM of its descendants (its child runtime) summed, and prints one JSON
 * object. With --child-times it joins the null child's receipt /
 * reply times (same clock) to split each invoke into the host's share and the child's.
 * Plain C, single-threaded, so its own cost is the same for every extension measured. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 16
#define MAX_INVOKES 100000

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static long long epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void die(const char* what) {
  fprintf(stderr, "bench_api: %s: %s\n", what, strerror(errno));
  exit(2);
}

struct conn {
  int fd;
  char* buf;
  size_t used, cap;
  int waiting_next; /* a /next request is parked on this connection */
};

static struct conn conns[MAX_CONN];
static int n_conns;
static pid_t child = -1;
static int listener_port = 0;
static long long t_spawn, t_register = -1, t_first_next = -1;
static long long sent[MAX_INVOKES], next_at[MAX_INVOKES];
static int invokes = 200, posts = 0, records = 1000, shutdown_ms = 10000;
static int invokes_sent = 0, shutdown_sent = 0, nexts = 0, errors_reported = 0;
static char error_type[256] = "";

static void send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* the extension went away; its exit is noticed by waitpid */
    p += w;
    n -= (size_t)w;
  }
}

static void respond(int fd, int status, const char* extra_headers, const char* body) {
  char head[1024];
  size_t n = strlen(body);
  int h = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n",
                   status, status == 200 ? "OK" : status == 202 ? "Accepted" : "Not Found",
                   extra_headers, n);
  /* One write per response: headers and body in one segment. */
  char* out = malloc((size_t)h + n);
  memcpy(out, head, (size_t)h);
  memcpy(out + h, body, n);
  send_all(fd, out, (size_t)h + n);
  free(out);
}

static void send_event(struct conn* c) {
  char body[1024];
  char headers[128];
  long long deadline = epoch_ms() + 3000;
  if (invokes_sent < invokes) {
    int i = invokes_sent;
    snprintf(body, sizeof body,
             "{\"eventType\":\"INVOKE\",\"deadlineMs\":%lld,\"requestId\":"
             "\"8476a536-e9f4-11e8-9739-%012d\",\"invokedFunctionArn\":"
             "\"arn:aws:lambda:us-east-1:123456789012:function:bench\",\"tracing\":{\"type\":"
             "\"X-Amzn-Trace-Id\",\"value\":\"Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent="
             "9a9197af755a6419;Sampled=1\"}}",
             deadline, i);
    snprintf(headers, sizeof headers, "Lambda-Extension-Event-Identifier: ev-%d\r\n", i);
    c->waiting_next = 0;
    respond(c->fd, 200, headers, body);
    sent[i] = now_ns();
    ++invokes_sent;
    return;
  }
  snprintf(body, sizeof body,
           "{\"eventType\":\"SHUTDOWN\",\"shutdownReason\":\"spindown\",\"deadlineMs\":%lld}",
           epoch_ms() + shutdown_ms);
  c->waiting_next = 0;
  respond(c->fd, 200, "Lambda-Extension-Event-Identifier: ev-shutdown\r\n", body);
  shutdown_sent = 1;
}

/* A "VmHWM:" or "VmRSS:" line of /proc/PID/status, in kB (-1 when missing). */
static long status_kb(pid_t pid, const char* key) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE* f = fopen(path, "r");
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, strlen(key)) == 0) kb = strtol(line + strlen(key), NULL, 10);
  }
  fclose(f);
  return kb;
}

static long vm_hwm_kb(pid_t pid) { return status_kb(pid, "VmHWM:"); }

/* The summed VmHWM of every descendant of `root` (the extension's child runtime and whatever
 * that started): what the extension costs beside its own process. -1 when there is none. */
static long descendants_hwm_kb(pid_t root) {
  enum { kMaxProcs = 8192 };
  static pid_t pids[kMaxProcs], parents[kMaxProcs];
  int n = 0;
  DIR* proc = opendir("/proc");
  struct dirent* entry;
  while (proc && n < kMaxProcs && (entry = readdir(proc)) != NULL) {
    char path[300], stat[512];
    pid_t pid = (pid_t)atoi(entry->d_name);
    if (pid <= 0) continue;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE* f = fopen(path, "r");
    if (!f) continue;
    size_t got = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[got] = 0;
    char* after_name = strrchr(stat, ')'); /* the name may hold blanks and parentheses */
    int ppid = 0;
    if (after_name && sscanf(after_name + 1, " %*c %d", &ppid) == 1) {
      pids[n] = pid;
      parents[n++] = (pid_t)ppid;
    }
  }
  if (proc) closedir(proc);
  static pid_t found[kMaxProcs];
  int n_found = 0;
  long total = -1;
  found[n_found++] = root;
  for (int k = 0; k < n_found; ++k) {
    for (int j = 0; j < n && n_found < kMaxProcs; ++j) {
      if (parents[j] != found[k]) continue;
      found[n_found++] = pids[j];
      long kb = vm_hwm_kb(pids[j]);
      if (kb >= 0) total = (total < 0 ? 0 : total) + kb;
    }
  }
  return total;
}

/* --- the telemetry side: POST batches to the extension's listener ----------------------- */

static char* batch;
static size_t batch_len;
static double post_ms[100000];
static int posts_done, retries_503;
static long long t_first_post = -1, t_last_post_done = -1;
static long hwm_after_posts = -1, rss_before_posts = -1;

static void make_batch(void) {
  size_t cap = (size_t)records * 200 + 16;
  batch = malloc(cap);
  size_t n = 0;
  batch[n++] = '[';
  for (int i = 0; i < records; ++i) {
    n += (size_t)snprintf(batch + n, cap - n,
                          "%s{\"time\":\"2026-12-01T00:00:00.%03dZ\",\"type\":\"function\","
                          "\"record\":\"START bench log line %06d: something the function "
                          "printed, about a hundred bytes long\"}",
                          i ? "," : "", i % 1000, i);
  }
  batch[n++] = ']';
  batch_len = n;
}

/* One POST on a blocking keep-alive socket; returns the status. */
static int post_once(int fd) {
  char head[256];
  int h = snprintf(head, sizeof head,
                   "POST / HTTP/1.1\r\nHost: sandbox.localdomain:%d\r\nContent-Type: "
                   "application/json\r\nContent-Length: %zu\r\n\r\n",
                   listener_port, batch_len);
  send_all(fd, head, (size_t)h);
  send_all(fd, batch, batch_len);
  static char in[65536];
  size_t used = 0;
  char* end;
  while ((end = memmem(in, used, "\r\n\r\n", 4)) == NULL) {
    ssize_t r = read(fd, in + used, sizeof in - used - 1);
    if (r <= 0) return -1;
    used += (size_t)r;
  }
  in[used] = 0;
  size_t head_len = (size_t)(end - in) + 4, length = 0;
  char* cl = strcasestr(in, "\r\nContent-Length:");
  if (cl && cl < end) length = strtoul(cl + 17, NULL, 10);
  while (used < head_len + length) {
    ssize_t r = read(fd, in + used, sizeof in - used - 1);
    if (r <= 0) return -1;
    used += (size_t)r;
  }
  return atoi(in + 9);
}

static int connect_listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)listener_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) die("connect listener");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* One POST per connection (the listener closes after each answer); the timing includes the
 * connect, as the platform's does. */
static void run_posts(void) {
  make_batch();
  rss_before_posts = status_kb(child, "VmRSS:");
  t_first_post = now_ns();
  while (posts_done < posts) {
    long long t = now_ns();
    int fd = connect_listener();
    int status = post_once(fd);
    long long done = now_ns();
    close(fd);
    if (status == 503) {
      ++retries_503;
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
      continue;
    }
    if (status != 200) {
      fprintf(stderr, "bench_api: listener answered %d\n", status);
      break;
    }
    post_ms[posts_done++] = (double)(done - t) / 1e6;
  }
  t_last_post_done = now_ns();
  hwm_after_posts = vm_hwm_kb(child);
}

/* --- requests from the extension ---------------------------------------------------------- */

static void handle_request(struct conn* c, const char* method, const char* path,
                           const char* head, const char* body, size_t body_len) {
  if (strstr(path, "/extension/register")) {
    t_register = now_ns();
    respond(c->fd, 200, "Lambda-Extension-Identifier: bench-ext-id\r\n",
            "{\"functionName\":\"bench\",\"functionVersion\":\"$LATEST\",\"handler\":"
            "\"app.handler\",\"accountId\":\"123456789012\"}");
  } else if (strstr(path, "/event/next")) {
    long long t = now_ns();
    if (t_first_next < 0) t_first_next = t;
    if (invokes_sent > 0 && invokes_sent <= invokes && nexts == invokes_sent) {
      next_at[invokes_sent - 1] = t;
    }
    ++nexts;
    c->waiting_next = 1;
    if (nexts == 1 && posts > 0 && listener_port > 0) run_posts();
    send_event(c);
  } else if (strstr(path, "/init/error") || strstr(path, "/exit/error")) {
    ++errors_reported;
    const char* h = strcasestr(head, "Lambda-Extension-Function-Error-Type:");
    if (h) sscanf(h + 37, " %255[^\r\n]", error_type);
    fprintf(stderr, "bench_api: extension reported %s %s: %.*s\n", path, error_type,
            (int)body_len, body);
    respond(c->fd, 202, "", "{\"status\":\"OK\"}");
  } else if (strstr(path, "/telemetry") || strstr(path, "/logs")) {
    /* destination.URI is http://<host>:<port>/ (sandbox.localdomain in Lambda). */
    const char* uri = strstr(body, "http://");
    const char* colon = uri ? strchr(uri + 7, ':') : NULL;
    if (colon) listener_port = atoi(colon + 1);
    respond(c->fd, 200, "", "\"OK\"");
  } else {
    fprintf(stderr, "bench_api: unexpected %s %s\n", method, path);
    respond(c->fd, 404, "", "{\"errorType\":\"NotFound\",\"errorMessage\":\"bench\"}");
  }
}

/* Parses as many complete requests as the buffer holds. */
static void on_data(struct conn* c) {
  for (;;) {
    char* end = memmem(c->buf, c->used, "\r\n\r\n", 4);
    if (!end) return;
    size_t head_len = (size_t)(end - c->buf) + 4, length = 0;
    char saved = c->buf[head_len - 1];
    c->buf[head_len - 1] = 0;
    char* cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (cl) length = strtoul(cl + 17, NULL, 10);
    c->buf[head_len - 1] = saved;
    if (c->used < head_len + length) return;
    char method[16] = "", path[512] = "";
    sscanf(c->buf, "%15s %511s", method, path);
    char* head = strndup(c->buf, head_len);
    char* body = strndup(c->buf + head_len, length);
    memmove(c->buf, c->buf + head_len + length, c->used - head_len - length);
    c->used -= head_len + length;
    handle_request(c, method, path, head, body, length);
    free(head);
    free(body);
  }
}

static double cmp_key;
static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  (void)cmp_key;
  return x < y ? -1 : x > y;
}

static void print_stats(FILE* out, const char* name, double* v, int n) {
  if (n <= 0) {
    fprintf(out, ",\"%s\":null", name);
    return;
  }
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  fprintf(out, ",\"%s\":{\"n\":%d,\"min\":%.4f,\"p50\":%.4f,\"p90\":%.4f,\"max\":%.4f}", name, n,
          v[0], v[n / 2], v[(n * 9) / 10], v[n - 1]);
}

int main(int argc, char** argv) {
  const char* out_path = NULL;
  const char* child_times = NULL;
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
    if (i + 1 >= argc) break;
    if (!strcmp(argv[i], "--invokes")) invokes = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--posts")) posts = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--records")) records = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--shutdown-ms")) shutdown_ms = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--out")) out_path = argv[++i];
    else if (!strcmp(argv[i], "--child-times")) child_times = argv[++i];
    else {
      fprintf(stderr, "bench_api: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (i >= argc - 1 || invokes > MAX_INVOKES || posts > 100000) {
    fprintf(stderr, "usage: bench_api [options] -- command [args...]\n");
    return 2;
  }
  char** command = argv + i + 1;
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (lfd < 0 || bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 16) != 0 ||
      getsockname(lfd, (struct sockaddr*)&addr, &len) != 0) {
    die("listen");
  }
  char api[64];
  snprintf(api, sizeof api, "127.0.0.1:%d", ntohs(addr.sin_port));
  setenv("AWS_LAMBDA_RUNTIME_API", api, 1);

  t_spawn = now_ns();
  child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(lfd);
    /* The extension's stdout is where its events go (CloudWatch in Lambda); its stderr is
     * $BENCH_EXT_LOG or nowhere. */
    int null_fd = open("/dev/null", O_WRONLY);
    const char* log = getenv("BENCH_EXT_LOG");
    int log_fd = log && *log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644) : null_fd;
    dup2(null_fd, 1);
    dup2(log_fd < 0 ? null_fd : log_fd, 2);
    execvp(command[0], command);
    _exit(127);
  }

  int status = 0, exited = 0;
  struct rusage usage;
  long hwm_before_shutdown = -1, children_hwm_before_shutdown = -1;
  long long give_up = now_ns() + 120LL * 1000000000LL;
  while (!exited) {
    struct pollfd fds[MAX_CONN + 1];
    fds[0].fd = lfd;
    fds[0].events = POLLIN;
    for (int k = 0; k < n_conns; ++k) {
      fds[k + 1].fd = conns[k].fd;
      fds[k + 1].events = POLLIN;
    }
    int ready = poll(fds, (nfds_t)n_conns + 1, 20);
    if (ready < 0 && errno != EINTR) die("poll");
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      int fd = accept(lfd, NULL, NULL);
      if (fd >= 0 && n_conns < MAX_CONN) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[n_conns].fd = fd;
        conns[n_conns].cap = 1 << 16;
        conns[n_conns].buf = malloc(conns[n_conns].cap);
        conns[n_conns].used = 0;
        conns[n_conns].waiting_next = 0;
        ++n_conns;
      } else if (fd >= 0) {
        close(fd);
      }
    }
    for (int k = 0; ready > 0 && k < n_conns; ++k) {
      if (!(fds[k + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      struct conn* c = &conns[k];
      if (c->cap - c->used < 4096) {
        c->cap *= 2;
        c->buf = realloc(c->buf, c->cap);
      }
      ssize_t r = read(c->fd, c->buf + c->used, c->cap - c->used);
      if (r <= 0) {
        close(c->fd);
        free(c->buf);
        conns[k] = conns[--n_conns];
        break; /* fds[] no longer matches conns[]; poll again */
      }
      c->used += (size_t)r;
      if (invokes_sent == invokes && !shutdown_sent && hwm_before_shutdown < 0 &&
          memmem(c->buf, c->used, "/event/next", 11)) {
        hwm_before_shutdown = vm_hwm_kb(child);
        children_hwm_before_shutdown = descendants_hwm_kb(child);
      }
      on_data(c);
    }
    pid_t w = wait4(child, &status, WNOHANG, &usage);
    if (w == child) exited = 1;
    if (!exited && now_ns() > give_up) {
      fprintf(stderr, "bench_api: extension did not finish in 120 s; killing it\n");
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      exited = 1;
    }
  }
  long long t_exit = now_ns();

  FILE* out = out_path ? fopen(out_path, "w") : stdout;
  if (!out) die("open --out");
  fprintf(out, "{\"exit_code\":%d,\"error_type\":\"%s\",\"invokes\":%d",
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), error_type,
          invokes_sent);
  fprintf(out, ",\"spawn_to_register_ms\":%.4f", t_register < 0 ? -1 : (t_register - t_spawn) / 1e6);
  fprintf(out, ",\"spawn_to_first_next_ms\":%.4f",
          t_first_next < 0 ? -1 : (t_first_next - t_spawn) / 1e6);
  fprintf(out, ",\"shutdown_to_exit_ms\":%.4f", (t_exit - t_spawn) / 1e6);
  fprintf(out, ",\"vm_hwm_kb\":%ld,\"maxrss_kb\":%ld", hwm_before_shutdown, usage.ru_maxrss);
  fprintf(out, ",\"children_vm_hwm_kb\":%ld", children_hwm_before_shutdown);
  static double per_invoke[MAX_INVOKES], share[MAX_INVOKES], child_part[MAX_INVOKES];
  int n = 0;
  for (int k = 0; k < invokes_sent; ++k) {
    if (next_at[k] > 0) per_invoke[n++] = (next_at[k] - sent[k]) / 1e6;
  }
  print_stats(out, "per_invoke_ms", per_invoke, n);
  int n_share = 0;
  long telemetry_records = 0;
  long long last_t_receipt = -1;
  if (child_times) {
    FILE* f = fopen(child_times, "r");
    char kind;
    long long receipt, reply;
    long recs;
    int k = 0;
    while (f && fscanf(f, " %c %lld %lld %ld", &kind, &receipt, &reply, &recs) == 4) {
      if (kind == 'T') {
        telemetry_records += recs;
        last_t_receipt = receipt;
      }
      if (kind != 'I') continue;
      if (k < invokes_sent && next_at[k] > 0) {
        share[n_share] = ((receipt - sent[k]) + (next_at[k] - reply)) / 1e6;
        child_part[n_share] = (reply - receipt) / 1e6;
        ++n_share;
      }
      ++k;
    }
    if (f) fclose(f);
  }
  print_stats(out, "host_share_ms", share, n_share);
  print_stats(out, "child_ms", child_part, n_share);
  if (posts > 0) {
    print_stats(out, "post_ms", post_ms, posts_done);
    fprintf(out, ",\"posts\":%d,\"records_per_post\":%d,\"retries_503\":%d", posts_done, records,
            retries_503);
    fprintf(out, ",\"vm_hwm_after_posts_kb\":%ld,\"vm_rss_before_posts_kb\":%ld", hwm_after_posts,
            rss_before_posts);
    fprintf(out, ",\"child_records\":%ld", telemetry_records);
    if (last_t_receipt > 0 && telemetry_records > 0) {
      fprintf(out, ",\"records_per_s\":%.0f",
              telemetry_records / ((last_t_receipt - t_first_post) / 1e9));
    }
  }
  fprintf(out, "}\n");
  if (out != stdout) fclose(out);
  return 0;
}
