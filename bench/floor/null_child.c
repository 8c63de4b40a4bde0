/* null child: a runner-protocol child (docs/runner-protocol.md) that does nothing.
 *
 * Answers the startup request with {"ok":true} (plus "handles": $NULL_CHILD_HANDLES, a JSON
 * array, when set) and every request at once with a null result.
 * For each request it records CLOCK_MONOTONIC when the line was complete (receipt) and just
 * before writing the reply, so the bench can split an invoke into the host's share and the
 * child's. TELEMETRY requests are counted by their records ("type" keys). The times are kept
 * in memory and written at EOF to $NULL_CHILD_TIMES, one line per request:
 *   <kind I|T|S|?> <receipt ns> <reply ns> <records>
 * Plain C, no allocation on the request path beyond growing the line buffer. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUESTS 200000

struct entry {
  char kind;
  long long receipt, reply;
  long records;
};

static struct entry entries[MAX_REQUESTS];
static size_t n_entries;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void write_all(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w <= 0) exit(1);
    p += w;
    n -= (size_t)w;
  }
}

/* Counts occurrences of `needle` in [p, p+n). */
static long count(const char* p, size_t n, const char* needle) {
  long c = 0;
  size_t k = strlen(needle);
  const char* end = p + n;
  while ((p = memmem(p, (size_t)(end - p), needle, k)) != NULL) {
    ++c;
    p += k;
  }
  return c;
}

static void handle(const char* line, size_t n, long long receipt, int first) {
  char reply[512];
  if (first) {
    const char* handles = getenv("NULL_CHILD_HANDLES");
    if (handles && *handles) {
      char ready[512];
      int len = snprintf(ready, sizeof ready, "{\"ok\":true,\"handles\":%s}\n", handles);
      if (len <= 0 || (size_t)len >= sizeof ready) {
        fputs("null_child: NULL_CHILD_HANDLES is too long\n", stderr);
        exit(2);
      }
      write_all(ready, (size_t)len);
    } else {
      write_all("{\"ok\":true}\n", 12);
    }
    return;
  }
  struct entry* e = n_entries < MAX_REQUESTS ? &entries[n_entries++] : NULL;
  const char* key = memmem(line, n, "\"aws_request_id\":\"", 18);
  char id[200] = "";
  if (key) {
    const char* s = key + 18;
    const char* q = memchr(s, '"', (size_t)(line + n - s));
    size_t len = q ? (size_t)(q - s) : 0;
    if (len >= sizeof id) len = sizeof id - 1;
    memcpy(id, s, len);
    id[len] = 0;
  }
  char kind = '?';
  long records = 0;
  /* The event follows the context (a few KiB at most: a client context is at most 3.5 KB) and
   * its eventType comes first, so only the line's head is searched: a null hook given a 1 MiB
   * payload must not scan it three times over. */
  const size_t head = n < 8192 ? n : 8192;
  if (memmem(line, head, "\"eventType\":\"INVOKE\"", 20)) kind = 'I';
  else if (memmem(line, head, "\"eventType\":\"SHUTDOWN\"", 22)) kind = 'S';
  else if (memmem(line, head, "\"eventType\":\"TELEMETRY\"", 23)) {
    kind = 'T';
    records = count(line, n, "\"type\":");
  }
  int len = snprintf(reply, sizeof reply,
                     "{\"result\":null,\"errortype\":\"\",\"invokeid\":\"%s\"}\n", id);
  if (e) {
    e->kind = kind;
    e->receipt = receipt;
    e->records = records;
    e->reply = now_ns();
  }
  write_all(reply, (size_t)len);
}

int main(void) {
  size_t cap = 1 << 16, used = 0, scanned = 0;
  char* buf = malloc(cap);
  int first = 1;
  if (!buf) return 1;
  for (;;) {
    if (cap - used < 4096) {
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf) return 1;
    }
    ssize_t r = read(0, buf + used, cap - used);
    if (r <= 0) break;
    long long receipt = now_ns();
    used += (size_t)r;
    size_t start = 0;
    char* nl;
    while ((nl = memchr(buf + scanned, '\n', used - scanned)) != NULL) {
      size_t end = (size_t)(nl - buf);
      handle(buf + start, end - start, receipt, first);
      first = 0;
      start = end + 1;
      scanned = start;
    }
    scanned = used;
    memmove(buf, buf + start, used - start);
    used -= start;
    scanned -= start;
  }
  const char* path = getenv("NULL_CHILD_TIMES");
  if (path && *path) {
    FILE* f = fopen(path, "w");
    if (f) {
      for (size_t i = 0; i < n_entries; ++i) {
        fprintf(f, "%c %lld %lld %ld\n", entries[i].kind, entries[i].receipt, entries[i].reply,
                entries[i].records);
      }
      fclose(f);
    }
  }
  return 0;
}
