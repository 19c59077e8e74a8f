// The request loop: libfuse's multi-threaded loop, plus the order in which
// requests came from the kernel.
//
// The kernel queues RELEASE (the last close of a file) before close(2)
// returns to its caller, but answers close(2) without waiting for it. With
// several workers, a request sent after close(2) returned can be handled
// before that RELEASE, and see locks that are already gone. So one worker at
// a time, the reader, takes requests from the kernel and numbers them, and a
// handler calls rfs_wait_for_earlier_releases() to wait until every RELEASE
// taken before its own request has been handled. That wait is normally
// nothing at all.
//
// The reader answers the request it took itself, and only then lets the
// next worker read: no thread hand-off stands between a request and its
// answer. Before anything that can take long — a call into the drive, a wait
// on a lock rule or for earlier RELEASEs — the handler calls
// rfs_pass_on_reading() (RecorderCore's `Blocking` does, for every wait and
// drive call), so a blocked handler never holds up the loop. Requests whose
// handlers were not written with that in mind (INIT, DESTROY, anything new)
// pass reading on before they start.
//
// A RELEASE whose handler is held in a hung drive is waited for only until
// the drive deadline (rfs_set_release_wait).

#include "CFuseShim.h"
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/fuse.h>

struct rfs_worker {
	pthread_t thread;
	struct rfs_worker *prev, *next;
	struct rfs_loop *loop;
};

struct rfs_release {
	uint64_t sequence;
	struct timespec deadline;	/* CLOCK_MONOTONIC; past it, no longer waited for */
};

struct rfs_loop {
	struct fuse_session *se;
	pthread_mutex_t receiving;	/* one worker reads from the kernel at a time */
	uint64_t sequence;		/* requests taken so far; under receiving */

	pthread_mutex_t lock;		/* the fields below */
	pthread_cond_t released;
	struct rfs_release *releases;	/* RELEASEs taken, not yet handled */
	size_t nreleases, capacity;
	atomic_size_t pending;		/* nreleases, read without the lock */
	struct rfs_worker workers;	/* list head */
	unsigned threads, idle, max_threads, max_idle;
	int error;
	sem_t finished;
};

/* Which RELEASEs later requests must wait for (see rfs_set_release_filter). */
static int (*release_matters)(uint64_t nodeid);
static int64_t release_wait_ns = 5000000000;

void rfs_set_release_filter(int (*filter)(uint64_t nodeid))
{
	release_matters = filter;
}

void rfs_set_release_wait(int64_t nanoseconds)
{
	release_wait_ns = nanoseconds;
}

static __thread struct rfs_loop *current_loop;
static __thread uint64_t current_sequence;
static __thread int is_reader;	/* this worker holds receiving */

void rfs_pass_on_reading(void)
{
	if (is_reader) {
		is_reader = 0;
		pthread_mutex_unlock(&current_loop->receiving);
	}
}

static int start_worker(struct rfs_loop *loop);

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

static void add_release(struct rfs_loop *loop, uint64_t sequence)
{
	pthread_mutex_lock(&loop->lock);
	if (loop->nreleases == loop->capacity) {
		size_t capacity = loop->capacity ? loop->capacity * 2 : 16;
		struct rfs_release *grown = realloc(loop->releases, capacity * sizeof(*grown));
		if (grown == NULL)
			abort();
		loop->releases = grown;
		loop->capacity = capacity;
	}
	loop->releases[loop->nreleases].sequence = sequence;
	loop->releases[loop->nreleases].deadline = after(release_wait_ns);
	loop->nreleases++;
	atomic_store(&loop->pending, loop->nreleases);
	pthread_mutex_unlock(&loop->lock);
}

static void remove_release(struct rfs_loop *loop, uint64_t sequence)
{
	pthread_mutex_lock(&loop->lock);
	for (size_t i = 0; i < loop->nreleases; i++) {
		if (loop->releases[i].sequence == sequence) {
			loop->releases[i] = loop->releases[--loop->nreleases];
			break;
		}
	}
	atomic_store(&loop->pending, loop->nreleases);
	pthread_cond_broadcast(&loop->released);
	pthread_mutex_unlock(&loop->lock);
}

void rfs_wait_for_earlier_releases(void)
{
	struct rfs_loop *loop = current_loop;
	if (loop == NULL || atomic_load(&loop->pending) == 0)
		return;
	rfs_pass_on_reading();
	pthread_mutex_lock(&loop->lock);
	for (;;) {
		/* A RELEASE whose handler is stuck past its deadline (a hung
		 * drive) is not waited for any longer. */
		struct timespec now, first = { 0, 0 };
		int earlier = 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (size_t i = 0; i < loop->nreleases; i++) {
			struct rfs_release *r = &loop->releases[i];
			if (r->sequence < current_sequence && before(&now, &r->deadline)) {
				if (!earlier || before(&r->deadline, &first))
					first = r->deadline;
				earlier = 1;
			}
		}
		if (!earlier)
			break;
		pthread_cond_timedwait(&loop->released, &loop->lock, &first);
	}
	pthread_mutex_unlock(&loop->lock);
}

/* Called with loop->lock held. */
static void unlink_worker(struct rfs_worker *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
}

static void unlock_receiving(void *argument)
{
	pthread_mutex_unlock(&((struct rfs_loop *)argument)->receiving);
}

/* Whether the handler of the request in buf passes reading on before it
 * blocks (see the top of this file). */
static int passes_on(const struct fuse_buf *buf)
{
	if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(struct fuse_in_header))
		return 0;
	switch (((const struct fuse_in_header *)buf->mem)->opcode) {
	case FUSE_LOOKUP: case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_GETATTR:
	case FUSE_SETATTR: case FUSE_READLINK: case FUSE_OPEN: case FUSE_READ:
	case FUSE_WRITE: case FUSE_FLUSH: case FUSE_RELEASE: case FUSE_OPENDIR:
	case FUSE_READDIR: case FUSE_READDIRPLUS: case FUSE_RELEASEDIR: case FUSE_STATFS:
	case FUSE_ACCESS: case FUSE_GETXATTR: case FUSE_LISTXATTR:
		return 1;
	default:
		return 0;
	}
}

/* Waits for the next request and takes it: > 0 with one in buf, 0 or an
 * error at the end of the session. Returns still the reader when the
 * request's handler passes reading on itself. Cancelled here at the end of
 * the session. */
static int take(struct rfs_loop *loop, struct fuse_buf *buf, uint64_t *sequence, int *is_release)
{
	int res;
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	pthread_mutex_lock(&loop->receiving);
	pthread_cleanup_push(unlock_receiving, loop);
	res = fuse_session_receive_buf(loop->se, buf);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_pop(0);
	is_reader = 1;
	if (res > 0) {
		*sequence = ++loop->sequence;
		const struct fuse_in_header *header = buf->mem;
		*is_release = !(buf->flags & FUSE_BUF_IS_FD) && buf->size >= sizeof(*header)
			&& header->opcode == FUSE_RELEASE
			&& (release_matters == NULL || release_matters(header->nodeid));
		if (*is_release)
			add_release(loop, *sequence);
	}
	if (res <= 0 || !passes_on(buf))
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

	while (!fuse_session_exited(loop->se)) {
		uint64_t sequence = 0;
		int is_release = 0;
		int res = take(loop, &buf, &sequence, &is_release);
		if (res == -EINTR)
			continue;
		if (res <= 0) {
			if (res < 0 && res != -ENODEV) {
				pthread_mutex_lock(&loop->lock);
				loop->error = res;
				pthread_mutex_unlock(&loop->lock);
			}
			fuse_session_exit(loop->se);
			break;
		}

		/* Keep a worker ready for the kernel while this one works. */
		pthread_mutex_lock(&loop->lock);
		loop->idle--;
		if (loop->idle == 0 && loop->threads < loop->max_threads)
			start_worker(loop);
		pthread_mutex_unlock(&loop->lock);

		current_sequence = sequence;
		fuse_session_process_buf(loop->se, &buf);
		rfs_pass_on_reading();
		if (is_release)
			remove_release(loop, sequence);

		pthread_mutex_lock(&loop->lock);
		if (loop->idle >= loop->max_idle && !fuse_session_exited(loop->se)) {
			/* Enough workers wait already: this one goes away. */
			unlink_worker(self);
			loop->threads--;
			pthread_mutex_unlock(&loop->lock);
			pthread_detach(self->thread);
			free(self);
			free(buf.mem);
			return NULL;
		}
		loop->idle++;
		pthread_mutex_unlock(&loop->lock);
	}

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
	loop->idle++;
	return 0;
}

int rfs_session_loop_ordered(struct fuse_session *se, unsigned max_threads, unsigned idle_threads)
{
	struct rfs_loop *loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return -ENOMEM;
	loop->se = se;
	loop->max_threads = max_threads ? max_threads : 1;
	loop->max_idle = idle_threads ? idle_threads : 1;
	loop->workers.next = loop->workers.prev = &loop->workers;
	pthread_mutex_init(&loop->receiving, NULL);
	pthread_mutex_init(&loop->lock, NULL);
	pthread_condattr_t attributes;
	pthread_condattr_init(&attributes);
	pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
	pthread_cond_init(&loop->released, &attributes);
	pthread_condattr_destroy(&attributes);
	sem_init(&loop->finished, 0, 0);

	pthread_mutex_lock(&loop->lock);
	int rc = start_worker(loop);
	pthread_mutex_unlock(&loop->lock);

	/* A signal (through fuse_set_signal_handlers) or an unmount ends the
	 * session; a worker that sees it posts. */
	if (rc == 0) {
		while (!fuse_session_exited(se))
			sem_wait(&loop->finished);
	}

	/* As libfuse does: workers waiting for the kernel are cancelled, those
	 * in a request finish it (they disable cancellation meanwhile). */
	pthread_mutex_lock(&loop->lock);
	for (struct rfs_worker *w = loop->workers.next; w != &loop->workers; w = w->next)
		pthread_cancel(w->thread);
	pthread_mutex_unlock(&loop->lock);
	for (;;) {
		pthread_mutex_lock(&loop->lock);
		struct rfs_worker *w = loop->workers.next;
		if (w == &loop->workers) {
			pthread_mutex_unlock(&loop->lock);
			break;
		}
		unlink_worker(w);
		pthread_mutex_unlock(&loop->lock);
		pthread_join(w->thread, NULL);
		free(w);
	}

	if (rc == 0)
		rc = loop->error;
	fuse_session_reset(se);
	pthread_mutex_destroy(&loop->receiving);
	pthread_mutex_destroy(&loop->lock);
	pthread_cond_destroy(&loop->released);
	sem_destroy(&loop->finished);
	free(loop->releases);
	free(loop);
	return rc;
}
