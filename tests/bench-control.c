/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Control socket under load: the real iommutuned on the generated
 * 300-group server fixture (shipped configuration plus a drop-in: advise
 * mode, a 100 ms tick), 200 clients each doing status round trips for a few
 * seconds. Prints the round-trip latency (median, p90, p99, max), the
 * throughput, the daemon's CPU time, and how steady the tick stayed: the
 * daemon's tick counter against the elapsed time, and the spacing of watch
 * updates (one per tick). Then two abusive loads, each alone: 250 watchers
 * that never read (the tick rate and the daemon's RSS), and one client
 * pipelining 170 savings requests per write (the tick rate, and the round
 * trip of a status client meanwhile). Figures only; asserts nothing.
 *
 * The 200 clients run closed loops (each sends its next request as soon as
 * the answer is in), so the machine is saturated and, by Little's law, the
 * mean round trip is 200 / throughput: latency here is the machine's
 * capacity, shared between the daemon and the load generator on the same
 * cores. The run prints both sides' CPU time per round trip (the daemon's
 * from /proc, the clients' from getrusage), the time the daemon waited for
 * a CPU while runnable, and the reply's size, so the daemon's own cost can
 * be told from the clients' and from the machine's other work.
 *
 * The load generator (the mode, printed first):
 *  - epoll (the default): the 200 connections, one request outstanding on
 *    each, driven from LOAD_THREADS threads (epoll:N for N) with
 *    non-blocking sockets in an epoll set, as wrk or memtier do;
 *  - threads: 200 threads, each a blocking write and read (the README's
 *    figures before the epoll mode). Each round trip then costs the daemon
 *    a full wakeup (its recv() of the request already wakes the client
 *    blocked in read() on that socket, unix_write_space()) and the client
 *    a context switch, more CPU per round trip than the daemon's own: it
 *    measured the clients as much as the daemon.
 *
 * Usage: bench-control [SECONDS [epoll[:THREADS]|threads]] (default 5 epoll)
 * Environment: IOMMUTUNED, SERVER_FIXTURE, SHIPPED_CONF (set by meson).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "util.h"

#define CLIENTS 200
#define LOAD_THREADS 2 /* the event-driven load's threads by default: one per core here */
#define INTERVAL_MS 100
#define STATUS "{\"v\":1,\"cmd\":\"status\"}\n"

static char sock_path[108];
static atomic_bool stop, watch_stop;

typedef struct Samples {
        uint64_t *v;
        size_t n, alloc;
} Samples;

static void samples_add(Samples *s, uint64_t v) {
        if (greedy_realloc((void **) &s->v, &s->alloc, s->n + 1, sizeof(uint64_t)) == 0)
                s->v[s->n++] = v;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static uint64_t pct(const Samples *s, double p) {
        size_t i = (size_t) (p * (double) (s->n - 1) + 0.5);

        return s->n ? s->v[i] : 0;
}

static int connect_daemon(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        memcpy(sa.sun_path, sock_path, sizeof(sock_path));
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                return -errno;
        }
        return fd;
}

/* Reads one line into buf (kept across calls); returns its length or -1.
 * The last line read is r->line, until the next call or reader_done(). */
typedef struct Reader {
        char *buf, *line;
        size_t len, alloc;
} Reader;

static void reader_done(Reader *r) {
        free(r->buf);
        free(r->line);
}

static ssize_t read_line(int fd, Reader *r, char **ret_line) {
        for (;;) {
                char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
                ssize_t n;

                if (nl) {
                        size_t l = (size_t) (nl - r->buf);

                        free(r->line);
                        r->line = strndup(r->buf, l);
                        memmove(r->buf, nl + 1, r->len - l - 1);
                        r->len -= l + 1;
                        if (ret_line)
                                *ret_line = r->line;
                        return (ssize_t) l;
                }
                if (greedy_realloc((void **) &r->buf, &r->alloc, r->len + 65536, 1) < 0)
                        return -1;
                n = read(fd, r->buf + r->len, r->alloc - r->len);
                if (n <= 0)
                        return -1;
                r->len += (size_t) n;
        }
}

/* One status round trip on a fresh connection; the parsed reply's data. */
static json_object *status_once(void) {
        Reader r = {};
        json_object *o = NULL;
        char *line;
        int fd = connect_daemon();

        if (fd < 0)
                return NULL;
        if (write(fd, STATUS, strlen(STATUS)) == (ssize_t) strlen(STATUS) && read_line(fd, &r, &line) >= 0)
                o = json_tokener_parse(line);
        close(fd);
        reader_done(&r);
        return o;
}

static int64_t status_int(json_object *o, const char *key) {
        json_object *d = json_object_object_get(o, "data");

        return json_object_get_int64(json_object_object_get(d, key));
}

typedef struct Client {
        pthread_t thread;
        Samples lat_ns;
        size_t failures;
} Client;

static pthread_barrier_t start_line;

static void *client_thread(void *userdata) {
        Client *c = userdata;
        Reader r = {};
        int fd = connect_daemon();

        pthread_barrier_wait(&start_line);
        if (fd < 0) {
                c->failures++;
                return NULL;
        }
        while (!atomic_load(&stop)) {
                uint64_t t0 = now_monotonic_ns();

                if (write(fd, STATUS, strlen(STATUS)) != (ssize_t) strlen(STATUS) || read_line(fd, &r, NULL) < 0) {
                        c->failures++;
                        break;
                }
                samples_add(&c->lat_ns, now_monotonic_ns() - t0);
        }
        close(fd);
        reader_done(&r);
        return NULL;
}

/* One connection of the event-driven load: a closed loop, the next request
 * written when the whole answer is in. */
typedef struct LoadConn {
        int fd;
        uint64_t t0; /* when its request was written */
} LoadConn;

typedef struct LoadThread {
        pthread_t thread;
        LoadConn *conns;
        size_t n;
        Samples lat_ns;
        size_t failures;
} LoadThread;

static int load_send(LoadConn *c) {
        c->t0 = now_monotonic_ns();
        return write(c->fd, STATUS, strlen(STATUS)) == (ssize_t) strlen(STATUS) ? 0 : -1;
}

/* Reads what c's socket holds; 1 when the answer's newline is in (its last
 * byte: one request is outstanding), 0 when more is to come, -1 on an
 * error or EOF. */
static int load_receive(LoadConn *c) {
        char buf[16384];

        for (;;) {
                ssize_t n = read(c->fd, buf, sizeof(buf));

                if (n < 0)
                        return errno == EAGAIN ? 0 : -1;
                if (n == 0)
                        return -1;
                if (buf[n - 1] == '\n')
                        return 1; /* one request, one line: its end */
        }
}

/* Drives its share of the connections from one epoll set of non-blocking
 * sockets, as wrk or memtier do: the load generator's cost is a read and a
 * write per round trip, and it sleeps once per batch of answers, not once
 * per answer. */
static void *load_thread(void *userdata) {
        LoadThread *t = userdata;
        int ep = epoll_create1(EPOLL_CLOEXEC);

        for (size_t i = 0; i < t->n; i++) {
                LoadConn *c = &t->conns[i];
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

                c->fd = connect_daemon();
                if (ep < 0 || c->fd < 0 || fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0 ||
                    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
                        t->failures++;
                        if (c->fd >= 0)
                                close(c->fd);
                        c->fd = -1;
                }
        }
        pthread_barrier_wait(&start_line);
        for (size_t i = 0; i < t->n; i++)
                if (t->conns[i].fd >= 0 && load_send(&t->conns[i]) < 0)
                        t->failures++;
        while (!atomic_load(&stop)) {
                struct epoll_event ev[64];
                int n = epoll_wait(ep, ev, ELEMENTSOF(ev), 100);

                for (int i = 0; i < n; i++) {
                        LoadConn *c = ev[i].data.ptr;
                        int r = load_receive(c);

                        if (r > 0) {
                                samples_add(&t->lat_ns, now_monotonic_ns() - c->t0);
                                r = load_send(c);
                        }
                        if (r < 0) {
                                t->failures++;
                                (void) epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                close(c->fd);
                                c->fd = -1;
                        }
                }
        }
        for (size_t i = 0; i < t->n; i++)
                if (t->conns[i].fd >= 0)
                        close(t->conns[i].fd);
        if (ep >= 0)
                close(ep);
        return NULL;
}

/* Timestamps every watch update: one per tick. */
static Samples watch_arrivals;
static void *watch_thread(void *unused) {
        static const char req[] = "{\"v\":1,\"cmd\":\"watch\"}\n";
        Reader r = {};
        int fd = connect_daemon();

        if (fd < 0 || write(fd, req, sizeof(req) - 1) != sizeof(req) - 1 || read_line(fd, &r, NULL) < 0)
                return NULL; /* the first reply answers the request itself */
        while (!atomic_load(&watch_stop)) {
                struct pollfd p = { .fd = fd, .events = POLLIN };

                if (poll(&p, 1, 200) <= 0)
                        continue;
                if (read_line(fd, &r, NULL) < 0)
                        break;
                samples_add(&watch_arrivals, now_monotonic_ns());
                while (r.len && memchr(r.buf, '\n', r.len)) { /* several queued: all arrived now */
                        (void) read_line(fd, &r, NULL);
                        samples_add(&watch_arrivals, now_monotonic_ns());
                }
        }
        close(fd);
        reader_done(&r);
        return NULL;
}

static double proc_cpu_s(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long utime, stime;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        p = fgets(buf, sizeof(buf), f);
        fclose(f);
        p = p ? strrchr(buf, ')') : NULL;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
                return -1;
        return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

/* The time pid has spent runnable on a runqueue without a CPU (the
 * scheduler's wait time), in seconds; -1 without schedstats. */
static double proc_wait_s(pid_t pid) {
        char path[64];
        unsigned long long run_ns, wait_ns;
        FILE *f;
        int n;

        snprintf(path, sizeof(path), "/proc/%d/schedstat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        n = fscanf(f, "%llu %llu", &run_ns, &wait_ns);
        fclose(f);
        return n == 2 ? (double) wait_ns / 1e9 : -1;
}

static double self_cpu_s(void) {
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return -1;
        return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The bytes of one status reply, its newline included. */
static size_t status_reply_bytes(void) {
        Reader r = {};
        char *line;
        ssize_t n = -1;
        int fd = connect_daemon();

        if (fd < 0)
                return 0;
        if (write(fd, STATUS, strlen(STATUS)) == (ssize_t) strlen(STATUS))
                n = read_line(fd, &r, &line);
        close(fd);
        reader_done(&r);
        return n < 0 ? 0 : (size_t) n + 1;
}

static void print_latency(const char *what, Samples *s) {
        qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
        printf("%-28s %8zu round trips: median %7.3f ms, p90 %7.3f ms, p99 %7.3f ms, max %7.3f ms\n", what, s->n,
               pct(s, 0.5) / 1e6, pct(s, 0.9) / 1e6, pct(s, 0.99) / 1e6, s->n ? s->v[s->n - 1] / 1e6 : 0.0);
}

static long proc_rss_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

/* The daemon's tick counter over `seconds` of whatever load runs. */
static void report_ticks(const char *what, double seconds, pid_t pid) {
        json_object *before = status_once(), *after;
        uint64_t t0 = now_monotonic_ns(), t1;
        long rss0 = proc_rss_kib(pid), rss_max = rss0;

        for (double t = 0; t < seconds; t += 0.1) {
                long rss;

                usleep(100000);
                rss = proc_rss_kib(pid);
                if (rss > rss_max)
                        rss_max = rss;
        }
        after = status_once();
        t1 = now_monotonic_ns();
        if (before && after) {
                int64_t ticks = status_int(after, "ticks") - status_int(before, "ticks");
                double expected = (t1 - t0) / 1e6 / INTERVAL_MS;

                printf("%-28s %" PRId64 " ticks in %.2f s, %.1f expected (%.1f%%); daemon RSS %ld -> max %ld KiB\n",
                       what, ticks, (t1 - t0) / 1e9, expected, 100.0 * (double) ticks / expected, rss0, rss_max);
        } else
                printf("%-28s status failed\n", what);
        json_object_put(before);
        json_object_put(after);
}

/* 250 watchers that subscribe and never read again. */
static void run_stuck_watchers(double seconds, pid_t pid) {
        static const char req[] = "{\"v\":1,\"cmd\":\"watch\"}\n";
        enum { N = 250 };
        int fds[N], n = 0;

        for (int i = 0; i < N; i++) {
                fds[i] = connect_daemon();
                if (fds[i] >= 0 && write(fds[i], req, sizeof(req) - 1) == sizeof(req) - 1)
                        n++;
        }
        printf("%-28s %d connected\n", "250 stuck watchers:", n);
        report_ticks("... tick counter:", seconds, pid);
        for (int i = 0; i < N; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
}

/* One client writes 170 savings requests per write, as fast as the daemon
 * takes them; a thread reads the answers. */
static atomic_size_t pipelined_answers;
static void *pipeline_reader(void *userdata) {
        int fd = *(int *) userdata;
        char buf[65536];
        ssize_t n;

        while ((n = read(fd, buf, sizeof(buf))) > 0)
                for (ssize_t i = 0; i < n; i++)
                        pipelined_answers += buf[i] == '\n';
        return NULL;
}

static void *pipeline_writer(void *userdata) {
        static const char req[] = "{\"v\":1,\"cmd\":\"savings\"}\n";
        int fd = *(int *) userdata;
        char block[170 * (sizeof(req) - 1)];

        for (size_t i = 0; i < 170; i++)
                memcpy(block + i * (sizeof(req) - 1), req, sizeof(req) - 1);
        while (!atomic_load(&stop))
                if (write(fd, block, sizeof(block)) != (ssize_t) sizeof(block))
                        break;
        shutdown(fd, SHUT_WR);
        return NULL;
}

static void run_pipelining(double seconds, pid_t pid, size_t *failures) {
        pthread_t reader, writer;
        Samples lat = {};
        Client c = {};
        int fd = connect_daemon();

        if (fd < 0)
                return;
        atomic_store(&stop, false);
        pthread_create(&reader, NULL, pipeline_reader, &fd);
        pthread_create(&writer, NULL, pipeline_writer, &fd);
        pthread_barrier_init(&start_line, NULL, 2);
        pthread_create(&c.thread, NULL, client_thread, &c);
        pthread_barrier_wait(&start_line);
        report_ticks("pipelining client: ticks:", seconds, pid);
        atomic_store(&stop, true);
        pthread_join(c.thread, NULL);
        pthread_join(writer, NULL);
        pthread_join(reader, NULL);
        close(fd);
        pthread_barrier_destroy(&start_line);
        printf("%-28s %zu savings answers (%.0f/s)\n", "... pipelined:", (size_t) pipelined_answers,
               pipelined_answers / seconds);
        print_latency("... a status client meanwhile:", &c.lat_ns);
        *failures += c.failures;
        free(c.lat_ns.v);
        free(lat.v);
}

/* n connections in closed loops, driven from `threads` event loops. */
static void run_event_clients(int n, int threads, double seconds, Samples *all, size_t *failures) {
        LoadThread *t = calloc((size_t) threads, sizeof(LoadThread));
        LoadConn *conns = calloc((size_t) n, sizeof(LoadConn));

        atomic_store(&stop, false);
        pthread_barrier_init(&start_line, NULL, (unsigned) threads + 1);
        for (int i = 0; i < threads; i++) {
                size_t from = (size_t) n * (size_t) i / (size_t) threads,
                       to = (size_t) n * (size_t) (i + 1) / (size_t) threads;

                t[i] = (LoadThread) { .conns = conns + from, .n = to - from };
                pthread_create(&t[i].thread, NULL, load_thread, &t[i]);
        }
        pthread_barrier_wait(&start_line);
        usleep((useconds_t) (seconds * 1e6));
        atomic_store(&stop, true);
        for (int i = 0; i < threads; i++) {
                pthread_join(t[i].thread, NULL);
                for (size_t k = 0; k < t[i].lat_ns.n; k++)
                        samples_add(all, t[i].lat_ns.v[k]);
                *failures += t[i].failures;
                free(t[i].lat_ns.v);
        }
        pthread_barrier_destroy(&start_line);
        free(conns);
        free(t);
}

static void run_clients(int n, double seconds, Samples *all, size_t *failures) {
        Client *c = calloc((size_t) n, sizeof(Client));

        atomic_store(&stop, false);
        pthread_barrier_init(&start_line, NULL, (unsigned) n + 1);
        for (int i = 0; i < n; i++)
                pthread_create(&c[i].thread, NULL, client_thread, &c[i]);
        pthread_barrier_wait(&start_line);
        usleep((useconds_t) (seconds * 1e6));
        atomic_store(&stop, true);
        for (int i = 0; i < n; i++) {
                pthread_join(c[i].thread, NULL);
                for (size_t k = 0; k < c[i].lat_ns.n; k++)
                        samples_add(all, c[i].lat_ns.v[k]);
                *failures += c[i].failures;
                free(c[i].lat_ns.v);
        }
        pthread_barrier_destroy(&start_line);
        free(c);
}

int main(int argc, char *argv[]) {
        const char *daemon = getenv("IOMMUTUNED"), *fixture = getenv("SERVER_FIXTURE"),
                   *shipped = getenv("SHIPPED_CONF");
        double seconds = argc > 1 ? atof(argv[1]) : 5.0;
        const char *mode = argc > 2 ? argv[2] : "epoll";
        bool threads_mode = streq(mode, "threads");
        int load_threads = LOAD_THREADS;
        char dir[] = "/tmp/bench-control.XXXXXX", cmd[4096], conf[256], sys[1024], proc[1024], state[256],
             log[256];
        Samples one = {}, many = {};
        size_t failures = 0;
        json_object *before, *after;
        uint64_t t_before, t_after;
        double cpu_before, cpu_after, self_before, self_after, wait_before, wait_after;
        pthread_t watcher;
        struct rlimit rl;
        pid_t pid;
        int fd = -1, status;
        FILE *f;

        if (strncmp(mode, "epoll:", strlen("epoll:")) == 0)
                load_threads = atoi(mode + strlen("epoll:"));
        else if (!threads_mode && !streq(mode, "epoll"))
                load_threads = 0;
        if (!daemon || !fixture || !shipped || seconds <= 0 || load_threads < 1 || load_threads > CLIENTS) {
                fprintf(stderr, "usage: bench-control [SECONDS [epoll[:THREADS]|threads]]; needs IOMMUTUNED, "
                        "SERVER_FIXTURE, SHIPPED_CONF\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1024) {
                rl.rlim_cur = rl.rlim_max < 1024 ? rl.rlim_max : 1024;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (!mkdtemp(dir))
                return perror("mkdtemp"), 1;
        snprintf(sock_path, sizeof(sock_path), "%s/iommutuned.sock", dir);
        snprintf(conf, sizeof(conf), "%s/iommutuned.conf", dir);
        snprintf(state, sizeof(state), "%s/state", dir);
        snprintf(log, sizeof(log), "%s/daemon.log", dir);
        snprintf(sys, sizeof(sys), "%s/sys", fixture);
        snprintf(proc, sizeof(proc), "%s/proc", fixture);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && mkdir '%s/conf.d'", shipped, conf, dir);
        if (system(cmd) != 0)
                return fprintf(stderr, "Failed to copy %s\n", shipped), 1;
        snprintf(cmd, sizeof(cmd), "%s/conf.d/50-bench.conf", dir);
        f = fopen(cmd, "we");
        if (!f)
                return perror(cmd), 1;
        fprintf(f, "[daemon]\nmode = advise\nadmin_group =\ninterval_ms = %d\n", INTERVAL_MS);
        fclose(f);

        pid = fork();
        if (pid == 0) {
                int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                if (lfd >= 0)
                        dup2(lfd, STDERR_FILENO);
                execl(daemon, daemon, "--config", conf, "--socket", sock_path, "--sysfs-root", sys, "--proc-root", proc,
                      "--state-dir", state, (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 100 && fd < 0; i++) {
                usleep(100000);
                fd = connect_daemon();
        }
        if (fd < 0) {
                fprintf(stderr, "iommutuned did not come up; its log:\n");
                snprintf(cmd, sizeof(cmd), "cat '%s' >&2", log);
                (void) !system(cmd);
                kill(pid, SIGTERM);
                return 1;
        }
        close(fd);
        usleep(3 * INTERVAL_MS * 1000); /* a few ticks in, past the first scan */

        printf("iommutuned on the 300-group fixture, tick %d ms, %.1f s per run\n", INTERVAL_MS, seconds);
        if (threads_mode)
                printf("%-28s threads: %d threads, each one client's blocking write and read\n", "load generator:",
                       CLIENTS);
        else
                printf("%-28s epoll: %d connections on %d thread(s), non-blocking sockets in an epoll set\n",
                       "load generator:", CLIENTS, load_threads);
        run_clients(1, seconds < 1 ? seconds : 1, &one, &failures);
        print_latency("1 client, status:", &one);

        pthread_create(&watcher, NULL, watch_thread, NULL);
        usleep(2 * INTERVAL_MS * 1000);
        before = status_once();
        t_before = now_monotonic_ns();
        cpu_before = proc_cpu_s(pid);
        wait_before = proc_wait_s(pid);
        self_before = self_cpu_s();
        if (threads_mode)
                run_clients(CLIENTS, seconds, &many, &failures);
        else
                run_event_clients(CLIENTS, load_threads, seconds, &many, &failures);
        cpu_after = proc_cpu_s(pid);
        wait_after = proc_wait_s(pid);
        self_after = self_cpu_s();
        t_after = now_monotonic_ns();
        after = status_once();
        atomic_store(&watch_stop, true);
        pthread_join(watcher, NULL);

        print_latency("200 clients, status:", &many);
        printf("%-28s %.0f round trips/s, %zu failed; daemon CPU %.2f s in %.2f s (%.0f%% of one core)\n",
               "throughput:", many.n / seconds, failures, cpu_after - cpu_before, (t_after - t_before) / 1e9,
               100.0 * (cpu_after - cpu_before) / ((t_after - t_before) / 1e9));
        if (wait_before >= 0 && wait_after >= 0)
                printf("%-28s the daemon waited runnable for a CPU %.2f s of the %.2f s (%.0f%%): the machine's "
                       "other work and the load generator\n", "daemon's scheduling wait:", wait_after - wait_before,
                       (t_after - t_before) / 1e9, 100.0 * (wait_after - wait_before) / ((t_after - t_before) / 1e9));
        if (many.n)
                printf("%-28s daemon %.1f us, the 200 clients %.1f us; status reply %zu bytes; "
                       "200 / throughput = %.2f ms (Little's law: the mean round trip of a saturated closed loop)\n",
                       "CPU per round trip:", (cpu_after - cpu_before) * 1e6 / (double) many.n,
                       (self_after - self_before) * 1e6 / (double) many.n, status_reply_bytes(),
                       1e3 * CLIENTS / ((double) many.n / seconds));
        if (before && after) {
                int64_t ticks = status_int(after, "ticks") - status_int(before, "ticks");
                double expected = (t_after - t_before) / 1e6 / INTERVAL_MS;

                printf("%-28s %" PRId64 " ticks in %.2f s under load, %.1f expected at %d ms (%.1f%%)\n",
                       "tick counter:", ticks, (t_after - t_before) / 1e9, expected, INTERVAL_MS,
                       100.0 * (double) ticks / expected);
        }
        if (watch_arrivals.n > 2) {
                Samples gaps = {};

                for (size_t i = 1; i < watch_arrivals.n; i++)
                        if (watch_arrivals.v[i] >= t_before && watch_arrivals.v[i] <= t_after)
                                samples_add(&gaps, watch_arrivals.v[i] - watch_arrivals.v[i - 1]);
                qsort(gaps.v, gaps.n, sizeof(uint64_t), cmp_u64);
                printf("%-28s %zu updates under load: spacing median %.1f ms, p99 %.1f ms, min %.1f ms, max %.1f ms\n",
                       "watch (one per tick):", gaps.n, pct(&gaps, 0.5) / 1e6, pct(&gaps, 0.99) / 1e6,
                       gaps.n ? gaps.v[0] / 1e6 : 0.0, gaps.n ? gaps.v[gaps.n - 1] / 1e6 : 0.0);
                free(gaps.v);
        }
        json_object_put(before);
        json_object_put(after);

        usleep(3 * INTERVAL_MS * 1000);
        run_stuck_watchers(seconds, pid);
        usleep(3 * INTERVAL_MS * 1000);
        run_pipelining(seconds, pid, &failures);
        if (failures)
                printf("%zu failures\n", failures);

        free(one.v);
        free(many.v);
        free(watch_arrivals.v);

        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        (void) !system(cmd);
        return 0;
}
