// The request loop: libfuse's multi-threaded loop, plus the order in which
// requests came from the kernel.
//
// The kernel queues RELEASE (the last close of a file) before close(2)
// returns to its caller, but answers close(2) without waiting for it. With
// several workers, a request sent after close(2) returned can be handled
// before that RELEASE, and see locks that are already gone. Workers here
// take requests one at a time and number them; a handler calls
// rfs_wait_for_earlier_releases() to wait until every RELEASE taken before
// its own request has been handled. That wait is normally nothing at all.

#include "CFuseShim.h"
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fuse.h>

struct rfs_worker {
	pthread_t thread;
	struct rfs_worker *prev, *next;
	struct rfs_loop *loop;
};

struct rfs_loop {
	struct fuse_session *se;
	pthread_mutex_t receiving;	/* one worker reads from the kernel at a time */
	uint64_t sequence;		/* requests taken so far; under receiving */

	pthread_mutex_t lock;		/* the fields below */
	pthread_cond_t released;
	uint64_t *releases;		/* sequences of RELEASEs taken, not yet handled */
	size_t nreleases, capacity;
	atomic_size_t pending;		/* nreleases, read without the lock */
	struct rfs_worker workers;	/* list head */
	unsigned threads, idle, max_threads, max_idle;
	int error;
	sem_t finished;
};

/* Which RELEASEs later requests must wait for (see rfs_set_release_filter). */
static int (*release_matters)(uint64_t nodeid);

void rfs_set_release_filter(int (*filter)(uint64_t nodeid))
{
	release_matters = filter;
}

static __thread struct rfs_loop *current_loop;
static __thread uint64_t current_sequence;

static int start_worker(struct rfs_loop *loop);

static void add_release(struct rfs_loop *loop, uint64_t sequence)
{
	pthread_mutex_lock(&loop->lock);
	if (loop->nreleases == loop->capacity) {
		size_t capacity = loop->capacity ? loop->capacity * 2 : 16;
		uint64_t *grown = realloc(loop->releases, capacity * sizeof(*grown));
		if (grown == NULL)
			abort();
		loop->releases = grown;
		loop->capacity = capacity;
	}
	loop->releases[loop->nreleases++] = sequence;
	atomic_store(&loop->pending, loop->nreleases);
	pthread_mutex_unlock(&loop->lock);
}

static void remove_release(struct rfs_loop *loop, uint64_t sequence)
{
	pthread_mutex_lock(&loop->lock);
	for (size_t i = 0; i < loop->nreleases; i++) {
		if (loop->releases[i] == sequence) {
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
	pthread_mutex_lock(&loop->lock);
	for (;;) {
		int earlier = 0;
		for (size_t i = 0; i < loop->nreleases; i++)
			if (loop->releases[i] < current_sequence)
				earlier = 1;
		if (!earlier)
			break;
		pthread_cond_wait(&loop->released, &loop->lock);
	}
	pthread_mutex_unlock(&loop->lock);
}

static void unlock_receiving(void *argument)
{
	pthread_mutex_unlock(&((struct rfs_loop *)argument)->receiving);
}

/* Called with loop->lock held. */
static void unlink_worker(struct rfs_worker *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
}

static void *worker(void *argument)
{
	struct rfs_worker *self = argument;
	struct rfs_loop *loop = self->loop;
	struct fuse_buf buf;
	memset(&buf, 0, sizeof(buf));
	current_loop = loop;

	while (!fuse_session_exited(loop->se)) {
		int res;
		uint64_t sequence = 0;
		int is_release = 0;

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		pthread_mutex_lock(&loop->receiving);
		pthread_cleanup_push(unlock_receiving, loop);
		res = fuse_session_receive_buf(loop->se, &buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (res > 0) {
			sequence = ++loop->sequence;
			if (!(buf.flags & FUSE_BUF_IS_FD) && buf.size >= sizeof(struct fuse_in_header)) {
				const struct fuse_in_header *header = buf.mem;
				is_release = header->opcode == FUSE_RELEASE
					&& (release_matters == NULL || release_matters(header->nodeid));
			}
			if (is_release)
				add_release(loop, sequence);
		}
		pthread_cleanup_pop(1);

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

		/* Keep a worker waiting for the kernel while this one works. */
		pthread_mutex_lock(&loop->lock);
		loop->idle--;
		if (loop->idle == 0 && loop->threads < loop->max_threads)
			start_worker(loop);
		pthread_mutex_unlock(&loop->lock);

		current_sequence = sequence;
		fuse_session_process_buf(loop->se, &buf);
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
	pthread_cond_init(&loop->released, NULL);
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

	/* As libfuse does: workers waiting in read are cancelled, those in a
	 * request finish it (they disable cancellation meanwhile). */
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
