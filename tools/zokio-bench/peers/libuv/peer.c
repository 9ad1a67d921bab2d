/* zokio-bench-peer-libuv: the raw libuv peer of zokio-bench (../PROTOCOL.md), in C11.
 *
 * The practical floor for anything built on libuv: one uv_loop_t run by the main thread
 * (--serve http --workers W: one per thread), callbacks, no task abstraction. Each workload is what a libuv programmer would write by hand;
 * workloads that need tasks, joins or channels are not listed (README.md says why).
 *
 *   zokio-bench-peer-libuv --version | --list
 *   zokio-bench-peer-libuv --run WORKLOAD --size N [--workers W]
 *   zokio-bench-peer-libuv --serve http --port P [--workers W]
 *
 * The measured part is timed with uv_hrtime(); every run checks its counts (and sums or bytes)
 * and ends with uv_loop_close() == 0, else exit 1 with one line on stderr. Usage errors exit 2.
 */
#define _DEFAULT_SOURCE /* mkstemp, gmtime_r under -std=c11 */

#include <llhttp.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "zokio-bench-peer-libuv"

/* --- errors, output --------------------------------------------------------------------- */

static const char* g_workload = "";

/* The workload ran but something is wrong: one line on stderr, exit 1. */
static _Noreturn void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, PROG ": %s: ", g_workload);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* Bad usage: one line on stderr, exit 2. */
static _Noreturn void usage_error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, PROG ": ");
  vfprintf(stderr, fmt, ap);
  fputs(" (see --help)\n", stderr);
  va_end(ap);
  exit(2);
}

static void check_uv(int rc, const char* what) {
  if (rc < 0) {
    fail("%s: %s", what, uv_strerror(rc));
  }
}

static void* xmalloc(size_t n) {
  void* p = malloc(n);
  if (p == NULL) {
    fail("out of memory (%zu bytes)", n);
  }
  return p;
}

/* Latency samples in nanoseconds (signed: a libuv timer may fire before the requested time,
 * because the loop's clock is whole milliseconds). */
typedef struct samples {
  int64_t* v;
  size_t n;
} samples;

static int cmp_i64(const void* a, const void* b) {
  const int64_t x = *(const int64_t*)a;
  const int64_t y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least permille/1000 of all samples at or below it,
 * rank ceil(permille * n / 1000) in integers (99 % of 100 samples is rank 99, exactly). */
static double rank_us(const samples* s, uint64_t permille) {
  uint64_t k = (permille * s->n + 999) / 1000;
  if (k < 1) {
    k = 1;
  }
  return (double)s->v[k - 1] / 1000.0;
}

/* The one JSON line of --run. */
static void report(uint64_t ops, uint64_t ns, samples* lat, const char* extra) {
  printf("{\"workload\":\"%s\",\"ops\":%" PRIu64 ",\"seconds\":%.9f", g_workload, ops,
         (double)ns / 1e9);
  if (lat != NULL && lat->n > 0) {
    qsort(lat->v, lat->n, sizeof lat->v[0], cmp_i64);
    printf(",\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f", rank_us(lat, 500), rank_us(lat, 990));
    if (lat->n >= 1000) {
      printf(",\"p999\":%.3f", rank_us(lat, 999));
    }
    printf(",\"max\":%.3f}", (double)lat->v[lat->n - 1] / 1000.0);
  }
  if (extra != NULL) {
    printf(",\"extra\":{%s}", extra);
  }
  printf("}\n");
  fflush(stdout);
}

/* Every run ends here: all handles closed by the workload, the loop drained, closed. */
static void finish_loop(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  const int rc = uv_loop_close(loop);
  if (rc != 0) {
    fail("uv_loop_close: %s (a handle or request was left open)", uv_strerror(rc));
  }
}

/* --- TCP helpers ------------------------------------------------------------------------- */

/* A write that owns a copy of what try_write could not send at once. */
typedef struct owned_write {
  uv_write_t req;
  char data[];
} owned_write;

/* Benchmarks: a failed write is a failed run. The HTTP server: the client went away. */
static bool g_write_errors_fatal = true;

static void owned_write_done(uv_write_t* req, int status) {
  if (status < 0 && g_write_errors_fatal) {
    fail("uv_write: %s", uv_strerror(status));
  }
  free(req->data);
}

/* Sends n bytes in order: uv_try_write first (what Node's stream wrap does too), the rest, if
 * any, copied into a uv_write with a callback. The caller's buffer is free on return. Returns 0
 * or a libuv error. */
static int stream_send(uv_stream_t* s, const char* data, size_t n) {
  uv_buf_t buf = uv_buf_init((char*)data, (unsigned)n);
  int sent = uv_try_write(s, &buf, 1);
  if (sent == UV_EAGAIN) {
    sent = 0;
  }
  if (sent < 0) {
    return sent;
  }
  if ((size_t)sent == n) {
    return 0;
  }
  const size_t rest = n - (size_t)sent;
  owned_write* w = xmalloc(sizeof *w + rest);
  memcpy(w->data, data + sent, rest);
  w->req.data = w;
  buf = uv_buf_init(w->data, (unsigned)rest);
  const int rc = uv_write(&w->req, s, &buf, 1, owned_write_done);
  if (rc < 0) {
    free(w);
  }
  return rc;
}

static void listen_loopback(uv_loop_t* loop, uv_tcp_t* listener, int port, uv_connection_cb cb,
                            struct sockaddr_in* bound) {
  struct sockaddr_in addr;
  check_uv(uv_ip4_addr("127.0.0.1", port, &addr), "uv_ip4_addr");
  check_uv(uv_tcp_init(loop, listener), "uv_tcp_init");
  check_uv(uv_tcp_bind(listener, (const struct sockaddr*)&addr, 0), "uv_tcp_bind");
  check_uv(uv_listen((uv_stream_t*)listener, 1024, cb), "uv_listen");
  int len = sizeof *bound;
  check_uv(uv_tcp_getsockname(listener, (struct sockaddr*)bound, &len), "uv_tcp_getsockname");
}

/* Runs the loop one turn at a time until *flag (set-up: connections established). */
static void run_until(uv_loop_t* loop, const bool* flag) {
  while (!*flag) {
    uv_run(loop, UV_RUN_ONCE);
  }
}

/* --- tcp_ping_pong, tcp_echo_many -------------------------------------------------------- */

enum { MSG = 64, ECHO_MAX_CONNS = 64 };

typedef struct echo_run echo_run;

typedef struct echo_server_conn {
  uv_tcp_t tcp;
  char buf[64 * 1024];
} echo_server_conn;

typedef struct echo_client {
  uv_tcp_t tcp;
  uv_connect_t connect;
  echo_run* run;
  uint64_t left; /* messages still to send */
  uint64_t seq;
  size_t got; /* bytes of the current echo received */
  uint64_t sent_at;
  char msg[MSG];
  char echo[MSG];
} echo_client;

struct echo_run {
  uv_loop_t loop;
  uv_tcp_t listener;
  echo_server_conn* servers[ECHO_MAX_CONNS];
  echo_client clients[ECHO_MAX_CONNS];
  int conns, accepted, connected;
  bool ready;
  int clients_done;
  uint64_t messages, t_end;
  samples lat; /* NULL v: no latency recorded */
};

static void echo_close_all(echo_run* r) {
  uv_close((uv_handle_t*)&r->listener, NULL);
  for (int i = 0; i < r->conns; ++i) {
    uv_close((uv_handle_t*)&r->clients[i].tcp, NULL);
    uv_close((uv_handle_t*)&r->servers[i]->tcp, NULL);
  }
}

static void echo_server_alloc(uv_handle_t* h, size_t hint, uv_buf_t* buf) {
  (void)hint;
  echo_server_conn* c = (echo_server_conn*)h;
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void echo_server_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  if (n < 0) {
    fail("server read: %s", uv_strerror((int)n));
  }
  if (n > 0) {
    check_uv(stream_send(s, buf->base, (size_t)n), "server write"); /* echo */
  }
}

static void echo_accept(uv_stream_t* l, int status) {
  check_uv(status, "listen");
  echo_run* r = l->loop->data;
  if (r->accepted == r->conns) {
    fail("unexpected connection");
  }
  echo_server_conn* c = xmalloc(sizeof *c);
  r->servers[r->accepted++] = c;
  check_uv(uv_tcp_init(l->loop, &c->tcp), "uv_tcp_init");
  check_uv(uv_accept(l, (uv_stream_t*)&c->tcp), "uv_accept");
  check_uv(uv_tcp_nodelay(&c->tcp, 1), "uv_tcp_nodelay");
  check_uv(uv_read_start((uv_stream_t*)&c->tcp, echo_server_alloc, echo_server_read),
           "uv_read_start");
  r->ready = r->accepted == r->conns && r->connected == r->conns;
}

static void echo_client_send(echo_client* c) {
  memcpy(c->msg, &c->seq, sizeof c->seq); /* a 64-bit sequence number, then a fixed pattern */
  c->got = 0;
  if (c->run->lat.v != NULL) {
    c->sent_at = uv_hrtime();
  }
  check_uv(stream_send((uv_stream_t*)&c->tcp, c->msg, MSG), "client write");
}

static void echo_client_alloc(uv_handle_t* h, size_t hint, uv_buf_t* buf) {
  (void)hint;
  echo_client* c = (echo_client*)h;
  *buf = uv_buf_init(c->echo + c->got, (unsigned)(MSG - c->got));
}

static void echo_client_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)buf;
  if (n < 0) {
    fail("client read: %s", uv_strerror((int)n));
  }
  echo_client* c = (echo_client*)s;
  c->got += (size_t)n;
  if (c->got < MSG) {
    return;
  }
  echo_run* r = c->run;
  if (memcmp(c->echo, c->msg, MSG) != 0) {
    fail("echo differs from the message sent");
  }
  if (r->lat.v != NULL) {
    r->lat.v[r->lat.n++] = (int64_t)(uv_hrtime() - c->sent_at);
  }
  r->messages++;
  c->seq++;
  if (--c->left > 0) {
    echo_client_send(c);
  } else if (++r->clients_done == r->conns) {
    r->t_end = uv_hrtime();
    echo_close_all(r);
  } else {
    uv_read_stop(s);
  }
}

static void echo_connected(uv_connect_t* req, int status) {
  check_uv(status, "connect");
  echo_client* c = req->data;
  echo_run* r = c->run;
  check_uv(uv_tcp_nodelay(&c->tcp, 1), "uv_tcp_nodelay");
  r->connected++;
  r->ready = r->accepted == r->conns && r->connected == r->conns;
}

/* conns connections, `total` messages of 64 bytes spread over them, one in flight on each. */
static void tcp_echo(int conns, uint64_t total, bool latency, uint64_t ops_per_message) {
  echo_run* r = calloc(1, sizeof *r);
  if (r == NULL) {
    fail("out of memory");
  }
  r->conns = conns;
  if (latency) {
    r->lat.v = xmalloc(total * sizeof r->lat.v[0]);
  }
  check_uv(uv_loop_init(&r->loop), "uv_loop_init");
  r->loop.data = r;
  struct sockaddr_in addr;
  listen_loopback(&r->loop, &r->listener, 0, echo_accept, &addr);
  for (int i = 0; i < conns; ++i) {
    echo_client* c = &r->clients[i];
    c->run = r;
    c->left = total / (uint64_t)conns + ((uint64_t)i < total % (uint64_t)conns ? 1 : 0);
    memset(c->msg, 'a' + i % 26, MSG);
    c->connect.data = c;
    check_uv(uv_tcp_init(&r->loop, &c->tcp), "uv_tcp_init");
    check_uv(uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr*)&addr, echo_connected),
             "uv_tcp_connect");
  }
  run_until(&r->loop, &r->ready);

  const uint64_t t0 = uv_hrtime();
  int active = 0;
  for (int i = 0; i < conns; ++i) {
    echo_client* c = &r->clients[i];
    if (c->left == 0) {
      continue;
    }
    active++;
    check_uv(uv_read_start((uv_stream_t*)&c->tcp, echo_client_alloc, echo_client_read),
             "uv_read_start");
    echo_client_send(c);
  }
  r->clients_done = conns - active;
  finish_loop(&r->loop);

  if (r->messages != total) {
    fail("%" PRIu64 " echoes, expected %" PRIu64, r->messages, total);
  }
  report(total * ops_per_message, r->t_end - t0, latency ? &r->lat : NULL, NULL);
  for (int i = 0; i < conns; ++i) {
    free(r->servers[i]);
  }
  free(r->lat.v);
  free(r);
}

static void run_tcp_ping_pong(uint64_t n) {
  tcp_echo(1, n, true, 1);
}

/* ops: client write, server read, server write, client read per message. */
static void run_tcp_echo_many(uint64_t n) {
  tcp_echo(ECHO_MAX_CONNS, n, false, 4);
}

/* --- tcp_stream ------------------------------------------------------------------------- */

enum { CHUNK = 64 * 1024 };

typedef struct stream_run {
  uv_loop_t loop;
  uv_tcp_t listener, server, client;
  uv_connect_t connect;
  uv_write_t write;
  bool accepted, connected, ready;
  uint64_t total, written, received, t_end;
  char chunk[CHUNK];
  char rbuf[CHUNK];
} stream_run;

static void stream_write_next(stream_run* r);

static void stream_wrote(uv_write_t* req, int status) {
  check_uv(status, "uv_write");
  stream_write_next(req->data);
}

/* One 64 KiB write in flight, the next from its callback. */
static void stream_write_next(stream_run* r) {
  if (r->written == r->total) {
    return;
  }
  uint64_t n = r->total - r->written;
  if (n > CHUNK) {
    n = CHUNK;
  }
  r->written += n;
  uv_buf_t buf = uv_buf_init(r->chunk, (unsigned)n);
  r->write.data = r;
  check_uv(uv_write(&r->write, (uv_stream_t*)&r->client, &buf, 1, stream_wrote), "uv_write");
}

static void stream_alloc(uv_handle_t* h, size_t hint, uv_buf_t* buf) {
  (void)hint;
  stream_run* r = h->loop->data;
  *buf = uv_buf_init(r->rbuf, sizeof r->rbuf);
}

static void stream_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)buf;
  if (n < 0) {
    fail("server read: %s", uv_strerror((int)n));
  }
  stream_run* r = s->loop->data;
  r->received += (uint64_t)n;
  if (r->received > r->total) {
    fail("server received %" PRIu64 " bytes, more than the %" PRIu64 " sent", r->received,
         r->total);
  }
  if (r->received == r->total) {
    r->t_end = uv_hrtime();
    uv_close((uv_handle_t*)&r->listener, NULL);
    uv_close((uv_handle_t*)&r->server, NULL);
    uv_close((uv_handle_t*)&r->client, NULL);
  }
}

static void stream_accept(uv_stream_t* l, int status) {
  check_uv(status, "listen");
  stream_run* r = l->loop->data;
  if (r->accepted) {
    fail("unexpected connection");
  }
  check_uv(uv_tcp_init(l->loop, &r->server), "uv_tcp_init");
  check_uv(uv_accept(l, (uv_stream_t*)&r->server), "uv_accept");
  check_uv(uv_tcp_nodelay(&r->server, 1), "uv_tcp_nodelay");
  r->accepted = true;
  r->ready = r->connected;
}

static void stream_connected(uv_connect_t* req, int status) {
  check_uv(status, "connect");
  stream_run* r = req->handle->loop->data;
  check_uv(uv_tcp_nodelay(&r->client, 1), "uv_tcp_nodelay");
  r->connected = true;
  r->ready = r->accepted;
}

static void run_tcp_stream(uint64_t n) {
  stream_run* r = calloc(1, sizeof *r);
  if (r == NULL) {
    fail("out of memory");
  }
  r->total = n;
  memset(r->chunk, 'z', sizeof r->chunk);
  check_uv(uv_loop_init(&r->loop), "uv_loop_init");
  r->loop.data = r;
  struct sockaddr_in addr;
  listen_loopback(&r->loop, &r->listener, 0, stream_accept, &addr);
  check_uv(uv_tcp_init(&r->loop, &r->client), "uv_tcp_init");
  check_uv(uv_tcp_connect(&r->connect, &r->client, (const struct sockaddr*)&addr, stream_connected),
           "uv_tcp_connect");
  run_until(&r->loop, &r->ready);

  const uint64_t t0 = uv_hrtime();
  check_uv(uv_read_start((uv_stream_t*)&r->server, stream_alloc, stream_read), "uv_read_start");
  stream_write_next(r);
  finish_loop(&r->loop);
  if (r->received != n) {
    fail("server received %" PRIu64 " bytes, expected %" PRIu64, r->received, n);
  }
  report(n, r->t_end - t0, NULL, NULL);
  free(r);
}

/* --- fs_read ------------------------------------------------------------------------------ */

enum { FS_FILE = 1 << 20, FS_BLOCK = 4096, FS_BLOCKS = FS_FILE / FS_BLOCK, FS_IN_FLIGHT = 16 };

/* Every byte of block b of the file. */
static unsigned char fs_fill(uint64_t block) {
  return (unsigned char)(block * 31u + 7u);
}

static uint64_t fs_block_of(uint64_t i) {
  return (i * 7919u) % FS_BLOCKS;
}

typedef struct fs_run fs_run;

typedef struct fs_slot {
  uv_fs_t req;
  fs_run* run;
  uint64_t block;
  char buf[FS_BLOCK];
} fs_slot;

struct fs_run {
  uv_loop_t loop;
  uv_file fd;
  uint64_t n, issued, completed, sum, t_end;
  fs_slot slots[FS_IN_FLIGHT];
};

static void fs_read_done(uv_fs_t* req);

static void fs_issue(fs_slot* s) {
  fs_run* r = s->run;
  s->block = fs_block_of(r->issued++);
  uv_buf_t buf = uv_buf_init(s->buf, FS_BLOCK);
  check_uv(
      uv_fs_read(&r->loop, &s->req, r->fd, &buf, 1, (int64_t)(s->block * FS_BLOCK), fs_read_done),
      "uv_fs_read");
}

static void fs_read_done(uv_fs_t* req) {
  fs_slot* s = req->data;
  fs_run* r = s->run;
  const ssize_t got = req->result;
  uv_fs_req_cleanup(req);
  if (got != FS_BLOCK) {
    fail("read %zd bytes at block %" PRIu64 ", expected %d", got, s->block, FS_BLOCK);
  }
  const unsigned char want = fs_fill(s->block);
  if ((unsigned char)s->buf[0] != want || (unsigned char)s->buf[FS_BLOCK - 1] != want) {
    fail("block %" PRIu64 " holds the wrong bytes", s->block);
  }
  r->sum += want;
  if (++r->completed == r->n) {
    r->t_end = uv_hrtime();
  } else if (r->issued < r->n) {
    fs_issue(s);
  }
}

static void run_fs_read(uint64_t n) {
  char path[] = "/tmp/" PROG "-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    fail("mkstemp: %s", strerror(errno));
  }
  unlink(path); /* the open descriptor keeps the file until the end */
  static char block[FS_BLOCK];
  for (uint64_t b = 0; b < FS_BLOCKS; ++b) {
    memset(block, fs_fill(b), sizeof block);
    if (write(fd, block, sizeof block) != (ssize_t)sizeof block) {
      fail("writing the temporary file: %s", strerror(errno));
    }
  }
  fs_run* r = calloc(1, sizeof *r);
  if (r == NULL) {
    fail("out of memory");
  }
  r->fd = fd;
  r->n = n;
  check_uv(uv_loop_init(&r->loop), "uv_loop_init");
  uint64_t want_sum = 0;
  for (uint64_t i = 0; i < n; ++i) {
    want_sum += fs_fill(fs_block_of(i));
  }

  const uint64_t t0 = uv_hrtime();
  for (int i = 0; i < FS_IN_FLIGHT && r->issued < n; ++i) {
    r->slots[i].run = r;
    r->slots[i].req.data = &r->slots[i];
    fs_issue(&r->slots[i]);
  }
  finish_loop(&r->loop);
  close(fd);
  if (r->completed != n || r->sum != want_sum) {
    fail("%" PRIu64 " reads with sum %" PRIu64 ", expected %" PRIu64 " with sum %" PRIu64,
         r->completed, r->sum, n, want_sum);
  }
  report(n, r->t_end - t0, NULL, NULL);
  free(r);
}

/* --- timer_precision_* ------------------------------------------------------------------ */

enum { LOAD_CALLBACKS = 64 };

typedef struct precision_run {
  uv_loop_t loop;
  uv_timer_t timer;
  uv_idle_t load[LOAD_CALLBACKS];
  bool loaded;
  uint64_t n, done, ms, requested_at, load_steps, t_end;
  samples lateness;
} precision_run;

static void precision_arm(precision_run* r);

static void precision_woke(uv_timer_t* t) {
  const uint64_t now = uv_hrtime();
  precision_run* r = t->data;
  r->lateness.v[r->lateness.n++] = (int64_t)(now - r->requested_at) - (int64_t)(r->ms * 1000000u);
  if (++r->done < r->n) {
    precision_arm(r);
    return;
  }
  r->t_end = now;
  uv_close((uv_handle_t*)&r->timer, NULL);
  for (int i = 0; r->loaded && i < LOAD_CALLBACKS; ++i) {
    uv_close((uv_handle_t*)&r->load[i], NULL);
  }
}

static void precision_arm(precision_run* r) {
  uv_update_time(&r->loop); /* the sleep starts now, not at the loop turn's start */
  r->requested_at = uv_hrtime();
  check_uv(uv_timer_start(&r->timer, precision_woke, r->ms, 0), "uv_timer_start");
}

/* One step of one of the 64 always-ready callbacks (the analogue of a task that yields). */
static void precision_load_step(uv_idle_t* h) {
  precision_run* r = h->data;
  r->load_steps++;
}

static void run_timer_precision(uint64_t n, uint64_t ms, bool loaded) {
  precision_run* r = calloc(1, sizeof *r);
  if (r == NULL) {
    fail("out of memory");
  }
  r->n = n;
  r->ms = ms;
  r->loaded = loaded;
  r->lateness.v = xmalloc(n * sizeof r->lateness.v[0]);
  check_uv(uv_loop_init(&r->loop), "uv_loop_init");
  check_uv(uv_timer_init(&r->loop, &r->timer), "uv_timer_init");
  r->timer.data = r;
  if (loaded) {
    for (int i = 0; i < LOAD_CALLBACKS; ++i) {
      check_uv(uv_idle_init(&r->loop, &r->load[i]), "uv_idle_init");
      r->load[i].data = r;
      check_uv(uv_idle_start(&r->load[i], precision_load_step), "uv_idle_start");
    }
  }
  const uint64_t t0 = uv_hrtime();
  precision_arm(r);
  finish_loop(&r->loop);
  if (r->done != n || r->lateness.n != n) {
    fail("%" PRIu64 " sleeps woke, expected %" PRIu64, r->done, n);
  }
  char extra[64];
  snprintf(extra, sizeof extra, "\"load_steps\":%" PRIu64, r->load_steps);
  if (loaded && r->load_steps == 0) {
    fail("the 64 load callbacks never ran");
  }
  report(n, r->t_end - t0, &r->lateness, loaded ? extra : NULL);
  free(r->lateness.v);
  free(r);
}

/* --- timers_100k_1ms ---------------------------------------------------------------------- */

typedef struct timers_run {
  uv_loop_t loop;
  uint64_t left, t_end;
} timers_run;

static void timers_woke(uv_timer_t* t) {
  timers_run* r = t->loop->data;
  if (--r->left == 0) {
    r->t_end = uv_hrtime();
  }
}

static void run_timers_100k_1ms(uint64_t n) {
  timers_run r = {.left = n};
  uv_timer_t* timers = xmalloc(n * sizeof *timers);
  check_uv(uv_loop_init(&r.loop), "uv_loop_init");
  r.loop.data = &r;
  uv_update_time(&r.loop);
  const uint64_t t0 = uv_hrtime();
  for (uint64_t i = 0; i < n; ++i) {
    check_uv(uv_timer_init(&r.loop, &timers[i]), "uv_timer_init");
    check_uv(uv_timer_start(&timers[i], timers_woke, 1, 0), "uv_timer_start");
  }
  uv_run(&r.loop, UV_RUN_DEFAULT); /* returns when no timer is active any more */
  if (r.left != 0) {
    fail("%" PRIu64 " of %" PRIu64 " timers never fired", r.left, n);
  }
  for (uint64_t i = 0; i < n; ++i) {
    uv_close((uv_handle_t*)&timers[i], NULL);
  }
  finish_loop(&r.loop);
  report(n, r.t_end - t0, NULL, NULL);
  free(timers);
}

/* --- timer_timeout ------------------------------------------------------------------------ */

typedef struct timeout_run {
  uv_loop_t loop;
  uv_timer_t deadline; /* the 1 s timeout */
  uv_idle_t op;        /* the operation: done on the next loop turn */
  uint64_t n, done, t_end;
} timeout_run;

static void timeout_expired(uv_timer_t* t) {
  (void)t;
  fail("a 1 s timeout fired, the operation it guards completes in one loop turn");
}

/* The operation completed: cancel its timeout; arm the next one. */
static void timeout_op_done(uv_idle_t* h) {
  timeout_run* r = h->data;
  check_uv(uv_timer_stop(&r->deadline), "uv_timer_stop");
  if (++r->done < r->n) {
    check_uv(uv_timer_start(&r->deadline, timeout_expired, 1000, 0), "uv_timer_start");
    return;
  }
  r->t_end = uv_hrtime();
  uv_close((uv_handle_t*)&r->deadline, NULL);
  uv_close((uv_handle_t*)&r->op, NULL);
}

static void run_timer_timeout(uint64_t n) {
  timeout_run r = {.n = n};
  check_uv(uv_loop_init(&r.loop), "uv_loop_init");
  check_uv(uv_timer_init(&r.loop, &r.deadline), "uv_timer_init");
  check_uv(uv_idle_init(&r.loop, &r.op), "uv_idle_init");
  r.op.data = &r;
  const uint64_t t0 = uv_hrtime();
  check_uv(uv_timer_start(&r.deadline, timeout_expired, 1000, 0), "uv_timer_start");
  check_uv(uv_idle_start(&r.op, timeout_op_done), "uv_idle_start");
  finish_loop(&r.loop);
  if (r.done != n) {
    fail("%" PRIu64 " timeouts cancelled, expected %" PRIu64, r.done, n);
  }
  report(n, r.t_end - t0, NULL, NULL);
}

/* --- spawn_many_remote -------------------------------------------------------------------- */

/* A unit of work posted to the loop from another thread: a heap-allocated closure. */
typedef struct work {
  struct work* next;
  void (*fn)(struct work*, void* ctx);
  uint64_t value;
} work;

typedef struct remote_run {
  uv_loop_t loop;
  uv_async_t wake;
  uv_mutex_t lock;
  work *head, *tail; /* guarded by lock */
  uint64_t n, ran, sum, t_end;
} remote_run;

static void remote_work(work* w, void* ctx) {
  remote_run* r = ctx;
  r->sum += w->value;
  r->ran++;
}

/* The plain thread: posts n closures to the loop, waking it through uv_async_send. */
static void remote_producer(void* arg) {
  remote_run* r = arg;
  for (uint64_t i = 0; i < r->n; ++i) {
    work* w = malloc(sizeof *w);
    if (w == NULL) {
      fail("out of memory");
    }
    w->next = NULL;
    w->fn = remote_work;
    w->value = i;
    uv_mutex_lock(&r->lock);
    if (r->tail != NULL) {
      r->tail->next = w;
    } else {
      r->head = w;
    }
    r->tail = w;
    uv_mutex_unlock(&r->lock);
    check_uv(uv_async_send(&r->wake), "uv_async_send");
  }
}

/* On the loop: take everything posted so far, run it. */
static void remote_drain(uv_async_t* h) {
  remote_run* r = h->data;
  uv_mutex_lock(&r->lock);
  work* w = r->head;
  r->head = r->tail = NULL;
  uv_mutex_unlock(&r->lock);
  while (w != NULL) {
    work* next = w->next;
    w->fn(w, r);
    free(w);
    w = next;
  }
  if (r->ran == r->n) {
    r->t_end = uv_hrtime();
    uv_close((uv_handle_t*)&r->wake, NULL);
  }
}

static void run_spawn_many_remote(uint64_t n) {
  remote_run r = {.n = n};
  check_uv(uv_loop_init(&r.loop), "uv_loop_init");
  check_uv(uv_mutex_init(&r.lock), "uv_mutex_init");
  check_uv(uv_async_init(&r.loop, &r.wake, remote_drain), "uv_async_init");
  r.wake.data = &r;
  uv_thread_t producer;
  const uint64_t t0 = uv_hrtime();
  check_uv(uv_thread_create(&producer, remote_producer, &r), "uv_thread_create");
  uv_run(&r.loop, UV_RUN_DEFAULT);
  check_uv(uv_thread_join(&producer), "uv_thread_join");
  finish_loop(&r.loop);
  uv_mutex_destroy(&r.lock);
  if (r.ran != n || r.sum != n * (n - 1) / 2) {
    fail("%" PRIu64 " closures ran with sum %" PRIu64 ", expected %" PRIu64, r.ran, r.sum, n);
  }
  report(n, r.t_end - t0, NULL, NULL);
}

/* --- --serve http ------------------------------------------------------------------------- */

typedef struct http_conn {
  uv_tcp_t tcp;
  llhttp_t parser;
  struct http_conn *prev, *next;
  size_t url_len;
  bool url_too_long, close_after;
  char url[16];
} http_conn;

/* One worker: a thread with its own uv_loop_t, listening on its duplicate of the one bound
 * socket (every loop accepts from it, as Zokio's workers share theirs). Worker 0 is the main
 * thread, which also owns the signal handles. */
typedef struct http_server {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t stop; /* sent by worker 0 on SIGTERM/SIGINT */
  uv_thread_t thread;
  http_conn* conns; /* every open connection, to close on stop */
  /* Shared by the worker's connections: parsing and answering happen in one read callback. */
  char rbuf[64 * 1024];
  char* out;
  size_t out_len, out_cap;
  time_t date_at;
  char date[40];
} http_server;

static llhttp_settings_t g_http_settings;
static http_server** g_http_workers;
static size_t g_http_worker_count;
static uv_signal_t g_sigterm, g_sigint;

static http_server* http_of(const uv_handle_t* h) {
  return h->loop->data;
}

static void http_out(http_server* s, const char* data, size_t n) {
  if (s->out_len + n > s->out_cap) {
    size_t cap = s->out_cap * 2 > s->out_len + n ? s->out_cap * 2 : s->out_len + n;
    char* p = realloc(s->out, cap);
    if (p == NULL) {
      fail("out of memory");
    }
    s->out = p;
    s->out_cap = cap;
  }
  memcpy(s->out + s->out_len, data, n);
  s->out_len += n;
}

static void http_closed(uv_handle_t* h) {
  free(h);
}

static void http_close(http_conn* c) {
  if (uv_is_closing((uv_handle_t*)&c->tcp)) {
    return;
  }
  http_server* s = http_of((uv_handle_t*)&c->tcp);
  if (c->prev != NULL) {
    c->prev->next = c->next;
  } else {
    s->conns = c->next;
  }
  if (c->next != NULL) {
    c->next->prev = c->prev;
  }
  uv_close((uv_handle_t*)&c->tcp, http_closed);
}

static int http_on_message_begin(llhttp_t* p) {
  http_conn* c = p->data;
  c->url_len = 0;
  c->url_too_long = false;
  return 0;
}

static int http_on_url(llhttp_t* p, const char* at, size_t n) {
  http_conn* c = p->data;
  if (c->url_len + n > sizeof c->url) {
    c->url_too_long = true;
    return 0;
  }
  memcpy(c->url + c->url_len, at, n);
  c->url_len += n;
  return 0;
}

static const char* http_date(http_server* s) {
  const time_t now = time(NULL);
  if (now != s->date_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    s->date_at = now;
  }
  return s->date;
}

/* One complete request: its response goes after the previous ones (pipelining keeps order). */
static int http_on_message_complete(llhttp_t* p) {
  http_conn* c = p->data;
  http_server* s = http_of((uv_handle_t*)&c->tcp);
  static const char plaintext[] = "/plaintext";
  const bool found = p->method == HTTP_GET && !c->url_too_long &&
                     c->url_len == sizeof plaintext - 1 &&
                     memcmp(c->url, plaintext, c->url_len) == 0;
  const bool keep_alive = llhttp_should_keep_alive(p) != 0;
  char head[256];
  const char* body = found ? "Hello, World!" : "Not Found";
  const int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                         "Date: %s\r\n%s\r\n",
                         found ? "200 OK" : "404 Not Found", strlen(body), http_date(s),
                         keep_alive ? "" : "Connection: close\r\n");
  http_out(s, head, (size_t)n);
  http_out(s, body, strlen(body));
  if (!keep_alive) {
    c->close_after = true;
    return HPE_PAUSED; /* nothing after this request is answered */
  }
  return 0;
}

static void http_alloc(uv_handle_t* h, size_t hint, uv_buf_t* buf) {
  (void)hint;
  http_server* s = http_of(h);
  *buf = uv_buf_init(s->rbuf, sizeof s->rbuf);
}

static void http_shut(uv_shutdown_t* req, int status) {
  (void)status;
  http_close(req->data);
  free(req);
}

static void http_read(uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  http_conn* c = (http_conn*)st;
  http_server* s = http_of((uv_handle_t*)st);
  if (n < 0) { /* EOF or a reset: the client is gone */
    http_close(c);
    return;
  }
  if (n == 0) {
    return;
  }
  s->out_len = 0;
  const llhttp_errno_t err = llhttp_execute(&c->parser, buf->base, (size_t)n);
  if (err != HPE_OK && err != HPE_PAUSED) {
    static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";
    http_out(s, bad, sizeof bad - 1);
    c->close_after = true;
  }
  if (s->out_len > 0 && stream_send(st, s->out, s->out_len) < 0) {
    http_close(c);
    return;
  }
  if (c->close_after) {
    uv_read_stop(st);
    uv_shutdown_t* req = xmalloc(sizeof *req);
    req->data = c;
    if (uv_shutdown(req, st, http_shut) < 0) {
      free(req);
      http_close(c);
    }
  }
}

static void http_accept(uv_stream_t* l, int status) {
  if (status < 0) {
    return; /* e.g. EMFILE: the next connection may succeed */
  }
  http_server* s = http_of((uv_handle_t*)l);
  http_conn* c = calloc(1, sizeof *c);
  if (c == NULL) {
    fail("out of memory");
  }
  check_uv(uv_tcp_init(l->loop, &c->tcp), "uv_tcp_init");
  if (uv_accept(l, (uv_stream_t*)&c->tcp) < 0) {
    uv_close((uv_handle_t*)&c->tcp, http_closed);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  llhttp_init(&c->parser, HTTP_REQUEST, &g_http_settings);
  c->parser.data = c;
  c->next = s->conns;
  if (s->conns != NULL) {
    s->conns->prev = c;
  }
  s->conns = c;
  if (uv_read_start((uv_stream_t*)&c->tcp, http_alloc, http_read) < 0) {
    http_close(c);
  }
}

/* On the worker's own loop: stop listening, close every connection and the stop handle. */
static void http_stop(uv_async_t* h) {
  http_server* s = http_of((uv_handle_t*)h);
  uv_close((uv_handle_t*)&s->listener, NULL);
  while (s->conns != NULL) {
    http_close(s->conns);
  }
  uv_close((uv_handle_t*)&s->stop, NULL);
}

/* SIGTERM or SIGINT (on worker 0, the main thread): stop every worker, close the signals. */
static void http_signalled(uv_signal_t* h, int signum) {
  (void)h;
  (void)signum;
  for (size_t i = 0; i < g_http_worker_count; ++i) {
    check_uv(uv_async_send(&g_http_workers[i]->stop), "uv_async_send");
  }
  uv_close((uv_handle_t*)&g_sigterm, NULL);
  uv_close((uv_handle_t*)&g_sigint, NULL);
}

static http_server* http_worker_new(void) {
  http_server* s = calloc(1, sizeof *s);
  if (s == NULL) {
    fail("out of memory");
  }
  check_uv(uv_loop_init(&s->loop), "uv_loop_init");
  s->loop.data = s;
  check_uv(uv_async_init(&s->loop, &s->stop, http_stop), "uv_async_init");
  return s;
}

static void http_worker_run(void* arg) {
  http_server* s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
  finish_loop(&s->loop);
}

static int serve_http(int port, size_t workers) {
  g_write_errors_fatal = false;
  llhttp_settings_init(&g_http_settings);
  g_http_settings.on_message_begin = http_on_message_begin;
  g_http_settings.on_url = http_on_url;
  g_http_settings.on_message_complete = http_on_message_complete;
  g_http_worker_count = workers;
  g_http_workers = xmalloc(workers * sizeof *g_http_workers);
  for (size_t i = 0; i < workers; ++i) {
    g_http_workers[i] = http_worker_new();
  }
  /* Bind once, on worker 0; every other worker listens on a duplicate of that socket. */
  http_server* main_worker = g_http_workers[0];
  struct sockaddr_in bound;
  listen_loopback(&main_worker->loop, &main_worker->listener, port, http_accept, &bound);
  uv_os_fd_t fd;
  check_uv(uv_fileno((uv_handle_t*)&main_worker->listener, &fd), "uv_fileno");
  for (size_t i = 1; i < workers; ++i) {
    http_server* s = g_http_workers[i];
    const int copy = dup(fd);
    if (copy < 0) {
      fail("dup: %s", strerror(errno));
    }
    check_uv(uv_tcp_init(&s->loop, &s->listener), "uv_tcp_init");
    check_uv(uv_tcp_open(&s->listener, copy), "uv_tcp_open");
    check_uv(uv_listen((uv_stream_t*)&s->listener, 1024, http_accept), "uv_listen");
  }
  check_uv(uv_signal_init(&main_worker->loop, &g_sigterm), "uv_signal_init");
  check_uv(uv_signal_init(&main_worker->loop, &g_sigint), "uv_signal_init");
  check_uv(uv_signal_start(&g_sigterm, http_signalled, SIGTERM), "uv_signal_start");
  check_uv(uv_signal_start(&g_sigint, http_signalled, SIGINT), "uv_signal_start");
  for (size_t i = 1; i < workers; ++i) {
    check_uv(uv_thread_create(&g_http_workers[i]->thread, http_worker_run, g_http_workers[i]),
             "uv_thread_create");
  }
  printf("{\"listening\":%d}\n", ntohs(bound.sin_port));
  fflush(stdout);
  http_worker_run(main_worker);
  for (size_t i = 1; i < workers; ++i) {
    check_uv(uv_thread_join(&g_http_workers[i]->thread), "uv_thread_join");
  }
  for (size_t i = 0; i < workers; ++i) {
    free(g_http_workers[i]->out);
    free(g_http_workers[i]);
  }
  free(g_http_workers);
  return 0;
}

/* --- command line ------------------------------------------------------------------------- */

typedef struct workload {
  const char* name;
  uint64_t default_size;
  void (*run)(uint64_t n);
} workload;

static void run_timer_precision_1ms(uint64_t n) {
  run_timer_precision(n, 1, false);
}
static void run_timer_precision_10ms(uint64_t n) {
  run_timer_precision(n, 10, false);
}
static void run_timer_precision_1ms_loaded(uint64_t n) {
  run_timer_precision(n, 1, true);
}

static const workload k_workloads[] = {
    {"spawn_many_remote", 100000, run_spawn_many_remote},
    {"timer_timeout", 100000, run_timer_timeout},
    {"timers_100k_1ms", 100000, run_timers_100k_1ms},
    {"tcp_ping_pong", 20000, run_tcp_ping_pong},
    {"tcp_echo_many", 100000, run_tcp_echo_many},
    {"tcp_stream", 268435456, run_tcp_stream},
    {"fs_read", 20000, run_fs_read},
    {"timer_precision_1ms", 200, run_timer_precision_1ms},
    {"timer_precision_10ms", 50, run_timer_precision_10ms},
    {"timer_precision_1ms_loaded", 200, run_timer_precision_1ms_loaded},
};

static uint64_t parse_count(const char* flag, const char* text) {
  if (text == NULL) {
    usage_error("%s needs a value", flag);
  }
  char* end = NULL;
  errno = 0;
  const unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v == 0) {
    usage_error("%s: not a positive integer: '%s'", flag, text);
  }
  return (uint64_t)v;
}

static void print_help(void) {
  puts("usage: " PROG " --version | --list | --help\n"
       "       " PROG " --run WORKLOAD [--size N] [--workers W]\n"
       "       " PROG " --serve http --port P [--workers W]\n"
       "The raw libuv peer of zokio-bench: one uv_loop_t, callbacks in C. One repetition of one\n"
       "workload per --run, one JSON line on stdout (tools/zokio-bench/peers/PROTOCOL.md).");
}

int main(int argc, char** argv) {
  const char* run = NULL;
  const char* serve = NULL;
  uint64_t size = 0, workers = 1, port = 0;
  bool have_port = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--version") == 0) {
      printf("libuv %s\n", uv_version_string());
      return 0;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_help();
      return 0;
    } else if (strcmp(a, "--list") == 0) {
      for (size_t k = 0; k < sizeof k_workloads / sizeof k_workloads[0]; ++k) {
        puts(k_workloads[k].name);
      }
      puts("http_plaintext");
      puts("http_connections");
      return 0;
    } else if (strcmp(a, "--run") == 0) {
      if (v == NULL) {
        usage_error("--run needs a workload");
      }
      run = v;
      ++i;
    } else if (strcmp(a, "--serve") == 0) {
      if (v == NULL) {
        usage_error("--serve needs a suite (http)");
      }
      serve = v;
      ++i;
    } else if (strcmp(a, "--size") == 0) {
      size = parse_count(a, v);
      ++i;
    } else if (strcmp(a, "--workers") == 0) {
      workers = parse_count(a, v);
      ++i;
    } else if (strcmp(a, "--port") == 0) {
      if (v != NULL && strcmp(v, "0") == 0) {
        port = 0;
      } else {
        port = parse_count(a, v);
      }
      if (port > 65535) {
        usage_error("--port: out of range: %s", v);
      }
      have_port = true;
      ++i;
    } else {
      usage_error("unknown argument '%s'", a);
    }
  }
  if ((run == NULL) == (serve == NULL)) {
    usage_error("give one of --run WORKLOAD, --serve http, --list, --version");
  }
  if (serve != NULL) {
    g_workload = "serve http";
    if (strcmp(serve, "http") != 0) {
      usage_error("--serve: unknown suite '%s' (only http)", serve);
    }
    if (!have_port) {
      usage_error("--serve http needs --port P");
    }
    if (workers > 256) {
      usage_error("--workers: at most 256, not %" PRIu64, workers);
    }
    return serve_http((int)port, (size_t)workers);
  }
  for (size_t k = 0; k < sizeof k_workloads / sizeof k_workloads[0]; ++k) {
    if (strcmp(run, k_workloads[k].name) == 0) {
      g_workload = k_workloads[k].name;
      k_workloads[k].run(size != 0 ? size : k_workloads[k].default_size);
      return 0;
    }
  }
  usage_error("unknown workload '%s' (--list shows this peer's)", run);
}
