/*
 * client: the load generator of scripts/bench. The same program runs against
 * recorderfs and against the floor filesystem; it times each operation with
 * clock_gettime(CLOCK_MONOTONIC) and prints, once the run is over, one line
 * per sample:
 *
 *     KEY VALUE            a latency in ns, or a scalar (see each mode)
 *     error KEY WHAT N     N operations of KEY failed with WHAT (an errno name)
 *
 * Modes (DIR is a recorder directory, e.g. MOUNT/r0):
 *
 *   cycle NAME OPS DIR...        open(DIR/acquire) + write(NAME) + close, round
 *                                robin over the DIRs: cycle, open, write, close
 *   nested NAME OPS DIR          writes of NAME on one acquire handle (a new
 *                                handle every 1000 writes): write
 *   read OPS DIR...              open + read + close of DIR/lockcount, round
 *                                robin: read
 *   contend OPS CLIENTS DIR      CLIENTS processes, each with its own name,
 *                                cycle on DIR at once, OPS cycles in all:
 *                                cycle (ns), throughput (cycles/s), busy_pct
 *   held NAME OPS PID DIR LEVEL...
 *                                for each LEVEL (rising): hold LEVEL acquire
 *                                handles open with NAME written once to each
 *                                (one handle, one holder: recorderfs takes the
 *                                first and refuses the others with EBUSY),
 *                                then OPS reads of lockcount (read_LEVEL), OPS
 *                                cycles with NAME (cycle_LEVEL; refused with
 *                                EBUSY by recorderfs, which counts as done),
 *                                and the VmRSS of PID in KiB (rss_LEVEL); at
 *                                the end closes them all and waits until
 *                                lockcount reads "0\n": close_all (ms)
 *   startup RESULT PATH -- COMMAND [ARG...]
 *                                runs COMMAND (a foreground daemon) as a child
 *                                and stats PATH in a tight loop until it
 *                                exists; writes "startup NS\npid PID\n" to
 *                                RESULT (or "failed STATUS"), then waits for
 *                                COMMAND and exits with its status
 *   stall OPS DEVICE DIR0 DIR1   OPS reads (open+read+close) of DIR1/owner on
 *                                an idle mount: idle; then, with a shared
 *                                flock held on DEVICE (DIR0's drive) and a
 *                                child's write to DIR0/acquire waiting on it
 *                                (a claim that hangs), 200 opens and closes
 *                                of DIR0/acquire without a write among OPS
 *                                more such reads: stalled, and the slowest
 *                                of them: slowest; and whether the claim
 *                                still waited when they were done: hung (1
 *                                or 0). Then lets the claim go.
 *   handover OPS DIR             OPS times: hold DIR/acquire, let a child
 *                                wait in a write to DIR/acquire_wait, close
 *                                the holder's handle; from that close(2) to
 *                                the child's write returning: handover
 *   listen PATH                  opens PATH (MOUNT/events), says "ready" and
 *                                never reads, until killed
 *   spawn OPS -- COMMAND [ARG...] fork + exec + wait of COMMAND, which must
 *                                exit 0: spawn
 *   excl OPS DEVICE              open(O_RDONLY|O_NONBLOCK|O_EXCL) + close: op
 *   flock OPS DEVICE             open + flock(LOCK_EX|LOCK_NB) + close: op
 *   tmpfs OPS FILE               open(O_WRONLY|O_CREAT|O_TRUNC) + write + close: op
 *   mountinfo OPS                open + read all + close of /proc/self/mountinfo: op
 *   uevent OPS FILE              pwrite("change") at 0 of FILE, a block device's
 *                                uevent attribute opened once (the re-probe
 *                                after a release): op
 *
 * Warm-up operations (a tenth of OPS, at most 20) come first and are not
 * recorded; with BENCH_NO_WARMUP set in the environment there are none, so
 * that a run does exactly OPS operations (the instruction counts of
 * scripts/bench divide by OPS).
 *
 * Build: cc -O2 client.c -o client
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "client: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long number(const char *text, const char *what)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno || *end || value < 0) {
		fprintf(stderr, "client: %s must be a number: %s\n", what, text);
		exit(2);
	}
	return value;
}

static long warmup(long ops)
{
	if (getenv("BENCH_NO_WARMUP") != NULL)
		return 0;
	return ops / 10 < 20 ? ops / 10 : 20;
}

/* ---- samples and errors ---- */

struct series {
	const char *key;
	uint64_t *values;
	long count, capacity;
};

static struct series *series_new(const char *key, long capacity)
{
	struct series *s = calloc(1, sizeof(*s));
	s->key = strdup(key);
	s->capacity = capacity > 0 ? capacity : 1;
	s->values = malloc(sizeof(uint64_t) * s->capacity);
	if (!s->values)
		die("malloc");
	return s;
}

static void add(struct series *s, uint64_t value)
{
	if (s->count == s->capacity) {
		s->capacity *= 2;
		s->values = realloc(s->values, sizeof(uint64_t) * s->capacity);
		if (!s->values)
			die("realloc");
	}
	s->values[s->count++] = value;
}

static void print_series(struct series *s)
{
	for (long i = 0; i < s->count; i++)
		printf("%s %llu\n", s->key, (unsigned long long)s->values[i]);
}

#define MAX_ERRORS 64
static struct {
	char key[32];
	int code;
	long count;
} errors[MAX_ERRORS];

static void failed(const char *key, int code)
{
	for (int i = 0; i < MAX_ERRORS; i++) {
		if (errors[i].count == 0) {
			snprintf(errors[i].key, sizeof(errors[i].key), "%s", key);
			errors[i].code = code;
		}
		if (errors[i].code == code && strcmp(errors[i].key, key) == 0) {
			errors[i].count++;
			return;
		}
	}
}

static void print_errors(void)
{
	for (int i = 0; i < MAX_ERRORS && errors[i].count; i++) {
		const char *name = strerrorname_np(errors[i].code);
		printf("error %s %s %ld\n", errors[i].key, name ? name : "?", errors[i].count);
	}
}

static char *join(const char *dir, const char *file)
{
	char *path;
	if (asprintf(&path, "%s/%s", dir, file) < 0)
		die("asprintf");
	return path;
}

/* ---- the operations ---- */

/* open(acquire) + write(name) + close; 0 or the errno of the first failure. */
static int cycle_once(const char *acquire, const char *line, size_t length, uint64_t t[4])
{
	t[0] = now();
	int fd = open(acquire, O_WRONLY | O_CLOEXEC);
	t[1] = now();
	if (fd < 0)
		return errno;
	ssize_t written = write(fd, line, length);
	int code = written < 0 ? errno : (size_t)written != length ? EIO : 0;
	t[2] = now();
	if (close(fd) != 0 && code == 0)
		code = errno;
	t[3] = now();
	return code;
}

/* open + read + close of a value file; the bytes read, or -errno. */
static ssize_t read_once(const char *path, char *buffer, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t got = read(fd, buffer, size);
	int code = got < 0 ? errno : 0;
	close(fd);
	return code ? -code : got;
}

static char *name_line(const char *name, size_t *length)
{
	char *line;
	if (asprintf(&line, "%s\n", name) < 0)
		die("asprintf");
	*length = strlen(line);
	return line;
}

static int mode_cycle(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	size_t length;
	char *line = name_line(argv[0], &length);
	long ops = number(argv[1], "OPS");
	int dirs = argc - 2;
	char **paths = malloc(sizeof(char *) * dirs);
	for (int i = 0; i < dirs; i++)
		paths[i] = join(argv[2 + i], "acquire");
	struct series *cycle = series_new("cycle", ops), *op = series_new("open", ops),
		      *wr = series_new("write", ops), *cl = series_new("close", ops);
	long skip = warmup(ops);
	for (long i = 0; i < skip + ops; i++) {
		uint64_t t[4];
		const char *path = paths[i % dirs];
		int code = cycle_once(path, line, length, t);
		if (code) {
			failed("cycle", code);
			continue;
		}
		if (i < skip)
			continue;
		add(cycle, t[3] - t[0]);
		add(op, t[1] - t[0]);
		add(wr, t[2] - t[1]);
		add(cl, t[3] - t[2]);
	}
	print_series(cycle);
	print_series(op);
	print_series(wr);
	print_series(cl);
	print_errors();
	return 0;
}

static int mode_nested(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	size_t length;
	char *line = name_line(argv[0], &length);
	long ops = number(argv[1], "OPS");
	char *path = join(argv[2], "acquire");
	struct series *wr = series_new("write", ops);
	long skip = warmup(ops);
	int fd = -1;
	for (long i = 0; i < skip + ops; i++) {
		if (i % 1000 == 0 || i == skip) {
			/* a fresh handle for the recorded writes, then every 1000 */
			if (fd >= 0)
				close(fd);
			fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0)
				die(path);
		}
		uint64_t t0 = now();
		ssize_t written = write(fd, line, length);
		uint64_t t1 = now();
		if (written < 0) {
			failed("write", errno);
			continue;
		}
		if (i >= skip)
			add(wr, t1 - t0);
	}
	if (fd >= 0)
		close(fd);
	print_series(wr);
	print_errors();
	return 0;
}

static int mode_read(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	long ops = number(argv[0], "OPS");
	int dirs = argc - 1;
	char **paths = malloc(sizeof(char *) * dirs);
	for (int i = 0; i < dirs; i++)
		paths[i] = join(argv[1 + i], "lockcount");
	struct series *rd = series_new("read", ops);
	long skip = warmup(ops);
	char buffer[64];
	for (long i = 0; i < skip + ops; i++) {
		uint64_t t0 = now();
		ssize_t got = read_once(paths[i % dirs], buffer, sizeof(buffer));
		uint64_t t1 = now();
		if (got < 0) {
			failed("read", (int)-got);
			continue;
		}
		if (i >= skip)
			add(rd, t1 - t0);
	}
	print_series(rd);
	print_errors();
	return 0;
}

/* Whether process `pid` is inside write(2) (x86_64 syscall 1). */
static int in_write(pid_t pid)
{
	char path[64], text[16] = "";
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	ssize_t got = read_once(path, text, sizeof(text) - 1);
	return got > 2 && text[0] == '1' && text[1] == ' ';
}

/* Reads of another recorder's owner while a claim hangs: see the top. */
static int mode_stall(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	long ops = number(argv[0], "OPS");
	char *acquire = join(argv[2], "acquire"), *owner = join(argv[3], "owner");
	char buffer[128];
	long skip = warmup(ops);
	struct series *idle = series_new("idle", ops), *stalled = series_new("stalled", ops);
	for (long i = 0; i < skip + ops; i++) {
		uint64_t t0 = now();
		ssize_t got = read_once(owner, buffer, sizeof(buffer));
		uint64_t t1 = now();
		if (got < 0)
			failed("idle", (int)-got);
		else if (i >= skip)
			add(idle, t1 - t0);
	}

	int device = open(argv[1], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (device < 0 || flock(device, LOCK_SH) != 0) {
		perror("client: stall: the device's shared flock");
		return 1;
	}
	pid_t writer = fork();
	if (writer == 0) {
		int fd = open(acquire, O_WRONLY);
		_exit(fd >= 0 && write(fd, "Stuck", 5) == 5 ? 0 : 1);
	}
	/* The claim is under way once the child waits in its write. */
	for (int i = 0; i < 20000 && !in_write(writer); i++) {
		if (waitpid(writer, NULL, WNOHANG) == writer) {
			writer = 0;
			break;
		}
		usleep(100);
	}
	for (long i = 0; i < skip + ops; i++) {
		if (i < 200) {
			int fd = open(acquire, O_WRONLY);
			if (fd < 0)
				failed("stalled_open", errno);
			else
				close(fd);
		}
		uint64_t t0 = now();
		ssize_t got = read_once(owner, buffer, sizeof(buffer));
		uint64_t t1 = now();
		if (got < 0)
			failed("stalled", (int)-got);
		else if (i >= skip)
			add(stalled, t1 - t0);
	}
	uint64_t slowest = 0;
	for (long i = 0; i < stalled->count; i++)
		slowest = stalled->values[i] > slowest ? stalled->values[i] : slowest;
	int hung = writer != 0 && waitpid(writer, NULL, WNOHANG) == 0;
	close(device);
	if (writer != 0)
		waitpid(writer, NULL, 0);
	print_series(idle);
	print_series(stalled);
	printf("hung %d\nslowest %llu\n", hung, (unsigned long long)slowest);
	print_errors();
	return 0;
}

/* The hand-over from a holder's close to a waiter: see the top. */
static int mode_handover(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	long ops = number(argv[0], "OPS");
	char *acquire = join(argv[1], "acquire"), *wait_path = join(argv[1], "acquire_wait");
	struct series *handover = series_new("handover", ops);
	long skip = warmup(ops);
	for (long i = 0; i < skip + ops; i++) {
		int holder = open(acquire, O_WRONLY);
		if (holder < 0 || write(holder, "First", 5) != 5) {
			failed("handover_hold", errno);
			if (holder >= 0)
				close(holder);
			continue;
		}
		int ends[2];
		if (pipe(ends) != 0)
			return 1;
		pid_t waiter = fork();
		if (waiter == 0) {
			close(ends[0]);
			close(holder);	/* the lock is the parent's alone */
			int fd = open(wait_path, O_WRONLY);
			uint64_t done = fd >= 0 && write(fd, "Second", 6) == 6 ? now() : 0;
			if (write(ends[1], &done, sizeof(done)) != sizeof(done))
				_exit(1);
			_exit(0);
		}
		close(ends[1]);
		while (!in_write(waiter))
			usleep(50);
		uint64_t t0 = now();
		close(holder);
		uint64_t done = 0;
		if (read(ends[0], &done, sizeof(done)) != sizeof(done) || done == 0)
			failed("handover", EIO);
		else if (i >= skip)
			add(handover, done - t0);
		close(ends[0]);
		waitpid(waiter, NULL, 0);
	}
	print_series(handover);
	print_errors();
	return 0;
}

/* Opens the events file and never reads it. */
static int mode_listen(int argc, char **argv)
{
	if (argc != 1)
		return 2;
	int fd = open(argv[0], O_RDONLY);
	if (fd < 0) {
		perror("client: listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

/* Whole processes: fork + exec + wait. */
static int mode_spawn(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "--") != 0)
		return 2;
	long ops = number(argv[0], "OPS");
	struct series *spawn = series_new("spawn", ops);
	long skip = warmup(ops);
	for (long i = 0; i < skip + ops; i++) {
		uint64_t t0 = now();
		pid_t child = fork();
		if (child == 0) {
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		int status = 0;
		waitpid(child, &status, 0);
		uint64_t t1 = now();
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed("spawn", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		else if (i >= skip)
			add(spawn, t1 - t0);
	}
	print_series(spawn);
	print_errors();
	return 0;
}

/* CLIENTS processes, each its own name, cycling on one recorder at once. */
static int mode_contend(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	long ops = number(argv[0], "OPS");
	long clients = number(argv[1], "CLIENTS");
	if (clients < 1 || clients > 256)
		return 2;
	char *path = join(argv[2], "acquire");
	long per = ops / clients > 0 ? ops / clients : 1;
	long skip = warmup(per);
	long total = per * clients;
	/* per cycle: latency, and its outcome (0, or an errno) */
	uint64_t *latency = mmap(NULL, sizeof(uint64_t) * total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *outcome = mmap(NULL, sizeof(int) * total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (latency == MAP_FAILED || outcome == MAP_FAILED)
		die("mmap");
	int go[2];
	if (pipe(go) != 0)
		die("pipe");
	pid_t *children = calloc(clients, sizeof(pid_t));
	for (long c = 0; c < clients; c++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the run */
			if (getppid() == 1)
				_exit(1);
			close(go[1]);
			char name[32], scratch;
			size_t length = (size_t)snprintf(name, sizeof(name), "Client%ld\n", c);
			uint64_t t[4];
			for (long i = 0; i < skip; i++)
				cycle_once(path, name, length, t);
			/* everybody starts when the parent closes the pipe */
			while (read(go[0], &scratch, 1) < 0 && errno == EINTR)
				;
			for (long i = 0; i < per; i++) {
				int code = cycle_once(path, name, length, t);
				latency[c * per + i] = t[3] - t[0];
				outcome[c * per + i] = code;
			}
			_exit(0);
		}
		children[c] = pid;
	}
	close(go[0]);
	usleep(100000); /* let every client finish its warm-up and block on the pipe */
	uint64_t start = now();
	close(go[1]);
	for (long c = 0; c < clients; c++) {
		int status;
		while (waitpid(children[c], &status, 0) < 0 && errno == EINTR)
			;
	}
	uint64_t elapsed = now() - start;
	long busy = 0;
	for (long i = 0; i < total; i++) {
		printf("cycle %llu\n", (unsigned long long)latency[i]);
		if (outcome[i] == EBUSY)
			busy++;
		else if (outcome[i])
			failed("contend", outcome[i]);
	}
	printf("throughput %.1f\n", (double)total * 1e9 / (double)elapsed);
	printf("busy_pct %.2f\n", 100.0 * (double)busy / (double)total);
	print_errors();
	return 0;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int mode_held(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	size_t length;
	char *line = name_line(argv[0], &length);
	long ops = number(argv[1], "OPS");
	pid_t pid = (pid_t)number(argv[2], "PID");
	char *acquire = join(argv[3], "acquire");
	char *lockcount = join(argv[3], "lockcount");
	int levels = argc - 4;
	long most = 0;
	for (int l = 0; l < levels; l++) {
		long level = number(argv[4 + l], "LEVEL");
		if (level > most)
			most = level;
	}
	/* room for the held handles, the cycles' own and stdio */
	struct rlimit limit;
	getrlimit(RLIMIT_NOFILE, &limit);
	rlim_t needed = (rlim_t)most + 256;
	if (limit.rlim_cur < needed) {
		limit.rlim_cur = needed;
		if (limit.rlim_max < needed)
			limit.rlim_max = needed;
		if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
			die("setrlimit(RLIMIT_NOFILE)");
	}
	int *fds = malloc(sizeof(int) * (most > 0 ? most : 1));
	long held = 0;
	long skip = warmup(ops);
	char buffer[64];
	for (int l = 0; l < levels; l++) {
		long level = number(argv[4 + l], "LEVEL");
		while (held < level) {
			int fd = open(acquire, O_WRONLY | O_CLOEXEC);
			if (fd < 0)
				die(acquire);
			/* The first handle takes the lock; the others, another
			 * handle each, are refused by recorderfs (not by the floor). */
			if (write(fd, line, length) != (ssize_t)length && (held == 0 || errno != EBUSY)) {
				fprintf(stderr, "client: holding handle %ld: %s\n", held, strerror(errno));
				exit(1);
			}
			fds[held++] = fd;
		}
		char key[32];
		snprintf(key, sizeof(key), "read_%ld", level);
		struct series *rd = series_new(key, ops);
		for (long i = 0; i < skip + ops; i++) {
			uint64_t t0 = now();
			ssize_t got = read_once(lockcount, buffer, sizeof(buffer));
			uint64_t t1 = now();
			if (got < 0)
				failed(key, (int)-got);
			else if (i >= skip)
				add(rd, t1 - t0);
		}
		snprintf(key, sizeof(key), "cycle_%ld", level);
		struct series *cy = series_new(key, ops);
		for (long i = 0; i < skip + ops; i++) {
			uint64_t t[4];
			int code = cycle_once(acquire, line, length, t);
			if (code && code != EBUSY)
				failed(key, code);
			else if (i >= skip)
				add(cy, t[3] - t[0]);
		}
		print_series(rd);
		print_series(cy);
		printf("rss_%ld %ld\n", level, rss_kib(pid));
		fflush(stdout);
	}
	uint64_t t0 = now();
	for (long i = 0; i < held; i++)
		close(fds[i]);
	/* the daemon has dropped them all once lockcount reads 0 */
	for (;;) {
		ssize_t got = read_once(lockcount, buffer, sizeof(buffer));
		if (got == 2 && memcmp(buffer, "0\n", 2) == 0)
			break;
		if (now() - t0 > 60ull * 1000000000u) {
			failed("close_all", ETIMEDOUT);
			break;
		}
		usleep(200);
	}
	printf("close_all %.3f\n", (double)(now() - t0) / 1e6);
	print_errors();
	return 0;
}

static int mode_startup(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[2], "--") != 0)
		return 2;
	const char *result = argv[0], *path = argv[1];
	char **command = argv + 3;
	uint64_t start = now();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execvp(command[0], command);
		fprintf(stderr, "client: cannot run %s: %s\n", command[0], strerror(errno));
		_exit(127);
	}
	/* written whole to RESULT.tmp, then renamed: a reader never sees half */
	char *temporary;
	if (asprintf(&temporary, "%s.tmp", result) < 0)
		die("asprintf");
	FILE *out = fopen(temporary, "we");
	if (!out)
		die(temporary);
	struct stat st;
	int status;
	for (;;) {
		if (stat(path, &st) == 0) {
			fprintf(out, "startup %llu\npid %d\n", (unsigned long long)(now() - start), (int)pid);
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(out, "failed %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			fclose(out);
			rename(temporary, result);
			return 1;
		}
		if (now() - start > 60ull * 1000000000u) {
			fprintf(out, "failed timeout\npid %d\n", (int)pid);
			break;
		}
		sched_yield();
	}
	fclose(out);
	if (rename(temporary, result) != 0)
		die(result);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One raw kernel operation, OPS times. */
static int mode_kernel(const char *mode, int argc, char **argv)
{
	int mountinfo = strcmp(mode, "mountinfo") == 0;
	if (argc != (mountinfo ? 1 : 2))
		return 2;
	long ops = number(argv[0], "OPS");
	const char *path = mountinfo ? "/proc/self/mountinfo" : argv[1];
	struct series *op = series_new("op", ops);
	long skip = warmup(ops);
	static char buffer[65536];
	/* recorderfs keeps the attribute open: only the write is timed */
	int uevent = -1;
	if (strcmp(mode, "uevent") == 0 && (uevent = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		die(path);
	for (long i = 0; i < skip + ops; i++) {
		int code = 0;
		uint64_t t0 = now();
		if (uevent >= 0) {
			if (pwrite(uevent, "change", 6, 0) != 6)
				code = errno ? errno : EIO;
		} else if (strcmp(mode, "excl") == 0) {
			int fd = open(path, O_RDONLY | O_NONBLOCK | O_EXCL | O_CLOEXEC);
			if (fd < 0)
				code = errno;
			else
				close(fd);
		} else if (strcmp(mode, "flock") == 0) {
			int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0)
				code = errno;
			else {
				if (flock(fd, LOCK_EX | LOCK_NB) != 0)
					code = errno;
				close(fd);
			}
		} else if (strcmp(mode, "tmpfs") == 0) {
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0)
				code = errno;
			else {
				if (write(fd, "Client\n", 7) != 7)
					code = errno ? errno : EIO;
				close(fd);
			}
		} else {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				code = errno;
			else {
				ssize_t got;
				while ((got = read(fd, buffer, sizeof(buffer))) > 0)
					;
				if (got < 0)
					code = errno;
				close(fd);
			}
		}
		uint64_t t1 = now();
		if (code)
			failed(mode, code);
		else if (i >= skip)
			add(op, t1 - t0);
	}
	print_series(op);
	print_errors();
	return 0;
}

int main(int argc, char **argv)
{
	static char out[1 << 20];
	setvbuf(stdout, out, _IOFBF, sizeof(out));
	if (argc < 2) {
		fprintf(stderr, "usage: client MODE ARGS... (see client.c)\n");
		return 2;
	}
	const char *mode = argv[1];
	int rc = 2;
	if (strcmp(mode, "cycle") == 0)
		rc = mode_cycle(argc - 2, argv + 2);
	else if (strcmp(mode, "nested") == 0)
		rc = mode_nested(argc - 2, argv + 2);
	else if (strcmp(mode, "read") == 0)
		rc = mode_read(argc - 2, argv + 2);
	else if (strcmp(mode, "contend") == 0)
		rc = mode_contend(argc - 2, argv + 2);
	else if (strcmp(mode, "held") == 0)
		rc = mode_held(argc - 2, argv + 2);
	else if (strcmp(mode, "handover") == 0)
		rc = mode_handover(argc - 2, argv + 2);
	else if (strcmp(mode, "listen") == 0)
		rc = mode_listen(argc - 2, argv + 2);
	else if (strcmp(mode, "spawn") == 0)
		rc = mode_spawn(argc - 2, argv + 2);
	else if (strcmp(mode, "stall") == 0)
		rc = mode_stall(argc - 2, argv + 2);
	else if (strcmp(mode, "startup") == 0)
		rc = mode_startup(argc - 2, argv + 2);
	else if (!strcmp(mode, "excl") || !strcmp(mode, "flock") || !strcmp(mode, "tmpfs") || !strcmp(mode, "mountinfo") ||
		 !strcmp(mode, "uevent"))
		rc = mode_kernel(mode, argc - 2, argv + 2);
	if (rc == 2)
		fprintf(stderr, "client: bad arguments for %s (see client.c)\n", mode);
	fflush(stdout);
	return rc;
}
