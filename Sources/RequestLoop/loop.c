// The request loop: libfuse's multi-threaded loop, plus the order in which
// requests came from the kernel. The long story, with the numbers behind it,
// is docs/request-loop.md.
//
// Why the order: the kernel queues RELEASE (the last close of a file) before
// close(2) returns, but does not wait for its answer, so with several workers
// a later request could still see the locks it drops. One worker at a time,
// the reader, takes requests from the kernel and numbers them, and a handler
// calls rfs_wait_for_earlier_releases(key) to wait for every earlier RELEASE
// with that key: the recorder of a lock handle that holds locks, 0 (nothing
// waits) for any other handle, so a slow drive delays only its own recorder.
//
// Why no hand-off: the reader answers what it took, and only then passes
// reading on. A handler about to wait passes it on first
// (rfs_pass_on_reading); a drive call is bracketed (rfs_drive_call_begins/
// ends), and the keeper passes reading on for a call still in the drive after
// DRIVE_CALL_GRACE_NS (RecorderCore's `BlockingHooks` make those calls).
// Requests not in reader_answers pass reading on before they start. The
// RELEASE of a lock file is answered by the reader like the rest: closing the
// claim beside the client's next request cost a worker's wake-up per cycle,
// more than it saved (docs/request-loop.md).
//
// Reading is a baton, a lock that the keeper can let go of for a worker
// stuck in a drive: each time a worker takes it is a turn, and a turn's
// baton is passed on exactly once, by whoever does it first.
//
// A RELEASE held in a hung drive is waited for only until release_wait_ns.
// Every RELEASE is tracked, keyed or not, so that a request can also wait
// for all of them (RFS_EVERY_RELEASE).

#define _GNU_SOURCE /* pthread_clockjoin_np */
#include "RequestLoop.h"
#include "CLinux.h"
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fuse.h>
#include <linux/futex.h>
#include <sys/syscall.h>

/* How long a drive call may hold reading before the keeper passes it on, how
 * often the keeper looks, and after how many quiet looks it sleeps. */
#define DRIVE_CALL_GRACE_NS 2000000
#define KEEPER_PERIOD_NS 2000000
#define KEEPER_QUIET_LOOKS 50
/* How long the end of the session waits for a worker before it sends the
 * wake signal again. */
#define WAKE_AGAIN_NS 10000000

struct rfs_worker {
	pthread_t thread;
	struct rfs_worker *prev, *next;
	struct rfs_loop *loop;
};

struct rfs_release {
	uint64_t sequence;
	uint64_t key;			/* what it orders; 0 nothing */
	struct timespec deadline;	/* CLOCK_MONOTONIC; past it, no longer waited for */
};

struct rfs_loop {
	struct fuse_session *se;
	struct rfs_loop_config config;
	atomic_uint baton;		/* 0 free, 1 taken, 2 taken and waited for */
	uint64_t turn;			/* turns taken so far; by the reader */
	atomic_uint_fast64_t passed;	/* turns whose baton has been passed on */
	uint64_t sequence;		/* requests taken so far; by the reader */

	atomic_uint_fast64_t call_turn;	/* the turn of a reader in a drive call, or 0 */
	atomic_int_fast64_t call_since;	/* when that call began (CLOCK_MONOTONIC ns) */
	atomic_uint_fast64_t calls;	/* drive calls begun by readers so far */
	atomic_int keeper_sleeps;	/* until the next drive call wakes it */
	pthread_mutex_t keeper_lock;
	pthread_cond_t keeper_wake;
	pthread_t keeper;
	int has_keeper;

	/* The fields below; its condition tells of a RELEASE handled. A futex
	 * lock (CLinux's rfs_monitor): a RELEASE takes it twice, and a
	 * broadcast with nobody waiting costs a load. */
	rfs_monitor lock;
	struct rfs_release *releases;	/* RELEASEs taken, not yet handled */
	size_t nreleases, capacity;
	atomic_size_t pending;		/* nreleases, read without the lock */
	atomic_size_t pending_keyed;	/* those with a key, likewise */
	struct rfs_worker workers;	/* list head */
	unsigned threads, max_threads, max_idle;
	/* Workers not serving a request. Counted without the lock (twice per
	 * request); the lock is taken only to start or end a worker. */
	atomic_uint idle;
	int error;
	sem_t finished;
};


static __thread struct rfs_loop *current_loop;
static __thread uint64_t current_sequence;
static __thread int is_reader;	/* this worker took the baton... */
static __thread uint64_t current_turn;	/* ...in this turn */

/* Lets go of the baton (as glibc unlocks a mutex): wakes a waiting worker,
 * if any. */
static void let_go_of_baton(struct rfs_loop *loop)
{
	if (atomic_exchange(&loop->baton, 0) == 2)
		syscall(SYS_futex, &loop->baton, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Passes the baton of `turn` on, unless that has been done already. */
static void pass_on(struct rfs_loop *loop, uint64_t turn)
{
	uint_fast64_t previous = turn - 1;
	if (atomic_compare_exchange_strong(&loop->passed, &previous, turn))
		let_go_of_baton(loop);
}

/* Takes the baton (as glibc takes a mutex); 0 when the session ended first. */
static int take_baton(struct rfs_loop *loop)
{
	unsigned expected = 0;
	if (atomic_compare_exchange_strong(&loop->baton, &expected, 1))
		return 1;
	while (atomic_exchange(&loop->baton, 2) != 0) {
		if (fuse_session_exited(loop->se))
			return 0;
		syscall(SYS_futex, &loop->baton, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
	}
	/* Taken after a wait, which the end of the session's signal may have
	 * ended: then it is let go again at once, instead of reading from the
	 * kernel until the next signal (and reading a request for nothing). */
	if (fuse_session_exited(loop->se)) {
		let_go_of_baton(loop);
		return 0;
	}
	return 1;
}

void rfs_pass_on_reading(void)
{
	if (is_reader) {
		is_reader = 0;
		pass_on(current_loop, current_turn);
	}
}

/* At the end of a request it answered as the reader, a worker that is still
 * the reader ends its turn without letting go of the baton, and reads the
 * next request in a new turn: letting go would wake a waiting worker only to
 * have it wait again (when this one took the baton back first) or to hand
 * the next request to a thread that must first be scheduled. 1 when it kept
 * the baton; 0 when its turn had been passed on already (by its handler or by
 * the keeper), and it must take the baton as any worker does. */
static int keep_reading(struct rfs_loop *loop)
{
	if (!is_reader)
		return 0;
	is_reader = 0;
	uint_fast64_t previous = current_turn - 1;
	return atomic_compare_exchange_strong(&loop->passed, &previous, current_turn);
}

static int64_t now_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

void rfs_drive_call_begins(void)
{
	struct rfs_loop *loop = current_loop;
	if (!is_reader)
		return;
	if (!loop->has_keeper)
		return rfs_pass_on_reading();
	atomic_store(&loop->call_since, now_ns());
	atomic_store(&loop->call_turn, current_turn);
	atomic_fetch_add(&loop->calls, 1);
	if (atomic_load(&loop->keeper_sleeps)) {
		pthread_mutex_lock(&loop->keeper_lock);
		atomic_store(&loop->keeper_sleeps, 0);
		pthread_cond_signal(&loop->keeper_wake);
		pthread_mutex_unlock(&loop->keeper_lock);
	}
}

void rfs_drive_call_ends(void)
{
	struct rfs_loop *loop = current_loop;
	uint_fast64_t turn = current_turn;
	if (is_reader)
		atomic_compare_exchange_strong(&loop->call_turn, &turn, 0);
}

static void unlock_mutex(void *mutex)
{
	pthread_mutex_unlock(mutex);
}

/* The keeper: passes the baton of a reader whose drive call outlasts the
 * grace. Cancelled at the end of the session. */
static void *keep(void *argument)
{
	struct rfs_loop *loop = argument;
	for (;;) {
		pthread_mutex_lock(&loop->keeper_lock);
		pthread_cleanup_push(unlock_mutex, &loop->keeper_lock);
		while (atomic_load(&loop->keeper_sleeps))
			pthread_cond_wait(&loop->keeper_wake, &loop->keeper_lock);
		pthread_cleanup_pop(1);

		uint_fast64_t seen = atomic_load(&loop->calls);
		for (int quiet = 0; quiet < KEEPER_QUIET_LOOKS;) {
			struct timespec period = { 0, KEEPER_PERIOD_NS };
			nanosleep(&period, NULL);
			uint_fast64_t turn = atomic_load(&loop->call_turn);
			if (turn != 0 && now_ns() - atomic_load(&loop->call_since) >= DRIVE_CALL_GRACE_NS
			    && atomic_compare_exchange_strong(&loop->call_turn, &turn, 0))
				pass_on(loop, turn);
			uint_fast64_t calls = atomic_load(&loop->calls);
			quiet = calls == seen && turn == 0 ? quiet + 1 : 0;
			seen = calls;
		}
		/* Sleeps, unless a call began meanwhile (it saw keeper_sleeps 0). */
		pthread_mutex_lock(&loop->keeper_lock);
		atomic_store(&loop->keeper_sleeps, 1);
		if (atomic_load(&loop->calls) != seen || atomic_load(&loop->call_turn) != 0)
			atomic_store(&loop->keeper_sleeps, 0);
		pthread_mutex_unlock(&loop->keeper_lock);
	}
	return NULL;
}

static int start_worker(struct rfs_loop *loop);

/* The signal that wakes the workers at the end of the session: the first
 * real-time signal glibc leaves to programs, which nothing else of the
 * daemon uses. Its handler does nothing; installed without SA_RESTART, it
 * makes a blocked read or futex wait fail with EINTR. */
static int wake_signal(void)
{
	return SIGRTMIN;
}

static void woken(int signal)
{
	(void)signal;
}


static struct timespec after(int64_t nanoseconds)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t total = now.tv_nsec + nanoseconds % 1000000000;
	now.tv_sec += nanoseconds / 1000000000 + total / 1000000000;
	now.tv_nsec = total % 1000000000;
	return now;
}

static int before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void count_pending(struct rfs_loop *loop)
{
	size_t keyed = 0;
	for (size_t i = 0; i < loop->nreleases; i++)
		keyed += loop->releases[i].key != 0;
	atomic_store(&loop->pending, loop->nreleases);
	atomic_store(&loop->pending_keyed, keyed);
}

static void add_release(struct rfs_loop *loop, uint64_t sequence, uint64_t key)
{
	rfs_monitor_lock(&loop->lock);
	if (loop->nreleases == loop->capacity) {
		size_t capacity = loop->capacity ? loop->capacity * 2 : 16;
		struct rfs_release *grown = realloc(loop->releases, capacity * sizeof(*grown));
		if (grown == NULL)
			abort();
		loop->releases = grown;
		loop->capacity = capacity;
	}
	loop->releases[loop->nreleases].sequence = sequence;
	loop->releases[loop->nreleases].key = key;
	loop->releases[loop->nreleases].deadline = after(loop->config.release_wait_ns);
	loop->nreleases++;
	count_pending(loop);
	rfs_monitor_unlock(&loop->lock);
}

static void remove_release(struct rfs_loop *loop, uint64_t sequence)
{
	rfs_monitor_lock(&loop->lock);
	for (size_t i = 0; i < loop->nreleases; i++) {
		if (loop->releases[i].sequence == sequence) {
			loop->releases[i] = loop->releases[--loop->nreleases];
			break;
		}
	}
	count_pending(loop);
	rfs_monitor_broadcast(&loop->lock);
	rfs_monitor_unlock(&loop->lock);
}

void rfs_wait_for_earlier_releases(uint64_t key)
{
	struct rfs_loop *loop = current_loop;
	if (loop == NULL || key == 0
	    || atomic_load(key == RFS_EVERY_RELEASE ? &loop->pending : &loop->pending_keyed) == 0)
		return;
	rfs_pass_on_reading();
	rfs_monitor_lock(&loop->lock);
	for (;;) {
		/* A RELEASE whose handler is stuck past its deadline (a hung
		 * drive) is not waited for any longer. */
		struct timespec now, first = { 0, 0 };
		int earlier = 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (size_t i = 0; i < loop->nreleases; i++) {
			struct rfs_release *r = &loop->releases[i];
			if (r->sequence < current_sequence && before(&now, &r->deadline)
			    && (key == RFS_EVERY_RELEASE || r->key == key)) {
				if (!earlier || before(&r->deadline, &first))
					first = r->deadline;
				earlier = 1;
			}
		}
		if (!earlier)
			break;
		rfs_monitor_wait(&loop->lock, &first);
	}
	rfs_monitor_unlock(&loop->lock);
}

/* Called with loop->lock held. */
static void unlink_worker(struct rfs_worker *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
}

/* Whether the reader answers the request in buf itself, still holding the
 * baton: its handler passes reading on before it blocks (see the top of this
 * file). */
static int reader_answers(const struct rfs_loop *loop, const struct fuse_buf *buf)
{
	if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(struct fuse_in_header))
		return 0;
	uint32_t opcode = ((const struct fuse_in_header *)buf->mem)->opcode;
	return opcode < 64 && (loop->config.reader_answers & ((uint64_t)1 << opcode));
}

/* Waits for the next request and takes it: > 0 with one in buf, 0 or an
 * error at the end of the session, -EINTR when woken by the end's signal
 * (wake_signal). Returns still the reader when it answers the request
 * itself (reader_answers). */
static int take(struct rfs_loop *loop, struct fuse_buf *buf, uint64_t *sequence, int *is_release, int kept)
{
	uint64_t key = 0;
	int res;
	if (!kept && !take_baton(loop))
		return 0;
	is_reader = 1;
	current_turn = ++loop->turn;
	res = fuse_session_receive_buf(loop->se, buf);
	if (res > 0) {
		*sequence = ++loop->sequence;
		const struct fuse_in_header *header = buf->mem;
		*is_release = !(buf->flags & FUSE_BUF_IS_FD)
			&& buf->size >= sizeof(*header) + sizeof(struct fuse_release_in)
			&& header->opcode == FUSE_RELEASE;
		if (*is_release) {
			const struct fuse_release_in *in = (const void *)(header + 1);
			key = loop->config.release_key == NULL ? 1
				: loop->config.release_key(loop->config.context, header->nodeid, in->fh);
			add_release(loop, *sequence, key);
		}
	}
	if (res <= 0 || !reader_answers(loop, buf))
		rfs_pass_on_reading();
	return res;
}

static void *worker(void *argument)
{
	struct rfs_worker *self = argument;
	struct rfs_loop *loop = self->loop;
	struct fuse_buf buf;
	memset(&buf, 0, sizeof(buf));
	current_loop = loop;
	/* Never cancelled: the end of the session wakes a worker blocked in
	 * the kernel's read or on the baton with wake_signal instead, so a
	 * request costs no switching of cancellation on and off (libfuse's
	 * loop does that twice a request). */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	sigset_t wake;
	sigemptyset(&wake);
	sigaddset(&wake, wake_signal());
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);

	int kept = 0;	/* the baton, from the request before (keep_reading) */
	while (!fuse_session_exited(loop->se)) {
		uint64_t sequence = 0;
		int is_release = 0;
		int res = take(loop, &buf, &sequence, &is_release, kept);
		kept = 0;
		if (res == -EINTR)
			continue;
		if (res <= 0) {
			if (res < 0 && res != -ENODEV) {
				rfs_monitor_lock(&loop->lock);
				loop->error = res;
				rfs_monitor_unlock(&loop->lock);
			}
			fuse_session_exit(loop->se);
			break;
		}

		/* Keep a worker ready for the kernel while this one works. */
		if (atomic_fetch_sub(&loop->idle, 1) == 1) {
			rfs_monitor_lock(&loop->lock);
			if (atomic_load(&loop->idle) == 0 && loop->threads < loop->max_threads)
				start_worker(loop);
			rfs_monitor_unlock(&loop->lock);
		}

		current_sequence = sequence;
		fuse_session_process_buf(loop->se, &buf);
		kept = keep_reading(loop);
		if (is_release)
			remove_release(loop, sequence);

		if (atomic_load(&loop->idle) >= loop->max_idle && !fuse_session_exited(loop->se)) {
			rfs_monitor_lock(&loop->lock);
			if (atomic_load(&loop->idle) < loop->max_idle || fuse_session_exited(loop->se)) {
				rfs_monitor_unlock(&loop->lock);
				atomic_fetch_add(&loop->idle, 1);
				continue;
			}
			/* Enough workers wait already: this one goes away. */
			unlink_worker(self);
			loop->threads--;
			/* Before the unlock: once off the list and unlocked, the
			 * end of the session may free the loop without waiting for
			 * this worker. */
			if (kept)
				let_go_of_baton(loop);
			rfs_monitor_unlock(&loop->lock);
			pthread_detach(self->thread);
			free(self);
			free(buf.mem);
			return NULL;
		}
		atomic_fetch_add(&loop->idle, 1);
	}

	if (kept)
		let_go_of_baton(loop);
	free(buf.mem);
	sem_post(&loop->finished);
	return NULL;
}

/* Called with loop->lock held. */
static int start_worker(struct rfs_loop *loop)
{
	struct rfs_worker *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->loop = loop;
	pthread_attr_t attributes;
	pthread_attr_init(&attributes);
	pthread_attr_setstacksize(&attributes, 1024 * 1024);
	int rc = pthread_create(&w->thread, &attributes, worker, w);
	pthread_attr_destroy(&attributes);
	if (rc != 0) {
		free(w);
		return -rc;
	}
	w->next = loop->workers.next;
	w->prev = &loop->workers;
	w->next->prev = w;
	loop->workers.next = w;
	loop->threads++;
	atomic_fetch_add(&loop->idle, 1);
	return 0;
}

int rfs_loop_run(struct fuse_session *se, const struct rfs_loop_config *config)
{
	struct sigaction action;
	memset(&action, 0, sizeof(action));
	action.sa_handler = woken;
	sigemptyset(&action.sa_mask);
	if (sigaction(wake_signal(), &action, NULL) != 0)
		return -errno;

	struct rfs_loop *loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return -ENOMEM;
	loop->se = se;
	loop->config = *config;
	loop->max_threads = config->max_threads ? config->max_threads : 1;
	loop->max_idle = config->idle_threads ? config->idle_threads : 1;
	loop->workers.next = loop->workers.prev = &loop->workers;
	atomic_store(&loop->keeper_sleeps, 1);
	pthread_mutex_init(&loop->keeper_lock, NULL);
	pthread_cond_init(&loop->keeper_wake, NULL);
	sem_init(&loop->finished, 0, 0);

	/* Without the keeper, drive calls pass reading on before they start. */
	pthread_attr_t keeper;
	pthread_attr_init(&keeper);
	pthread_attr_setstacksize(&keeper, 256 * 1024);
	loop->has_keeper = pthread_create(&loop->keeper, &keeper, keep, loop) == 0;
	pthread_attr_destroy(&keeper);

	rfs_monitor_lock(&loop->lock);
	int rc = start_worker(loop);
	rfs_monitor_unlock(&loop->lock);

	/* A signal (through fuse_set_signal_handlers) or an unmount ends the
	 * session; a worker that sees it posts. */
	if (rc == 0) {
		while (!fuse_session_exited(se))
			sem_wait(&loop->finished);
	}

	/* Workers waiting for the kernel or for the baton are woken by
	 * wake_signal (their read or futex fails with EINTR, and they see the
	 * session ended); those in a request finish it. A signal can come just
	 * before a worker blocks, so it is sent again until each has ended. */
	for (;;) {
		rfs_monitor_lock(&loop->lock);
		struct rfs_worker *w = loop->workers.next;
		if (w == &loop->workers) {
			rfs_monitor_unlock(&loop->lock);
			break;
		}
		for (struct rfs_worker *v = w; v != &loop->workers; v = v->next)
			pthread_kill(v->thread, wake_signal());
		rfs_monitor_unlock(&loop->lock);
		struct timespec limit = after(WAKE_AGAIN_NS);
		if (pthread_clockjoin_np(w->thread, NULL, CLOCK_MONOTONIC, &limit) != 0)
			continue;
		rfs_monitor_lock(&loop->lock);
		unlink_worker(w);
		rfs_monitor_unlock(&loop->lock);
		free(w);
	}

	if (loop->has_keeper) {
		pthread_cancel(loop->keeper);
		pthread_join(loop->keeper, NULL);
	}

	if (rc == 0)
		rc = loop->error;
	fuse_session_reset(se);
	pthread_mutex_destroy(&loop->keeper_lock);
	pthread_cond_destroy(&loop->keeper_wake);
	sem_destroy(&loop->finished);
	free(loop->releases);
	free(loop);
	return rc;
}
