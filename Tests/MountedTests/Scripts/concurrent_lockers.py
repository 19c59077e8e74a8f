import errno, multiprocessing as mp, os, random, re, sys, time, traceback

directory, workers, rounds, slice_seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
acquire = os.path.join(directory, "acquire")
NAMES = ("A", "B")
COUNT = re.compile(r"^[0-9]+\n$")

def read(name):
    with open(os.path.join(directory, name), "rb") as f:
        return f.read().decode("ascii", "backslashreplace")

def name_of(code):
    return errno.errorcode.get(code, str(code))

def worker(index, barrier, counts, holding, ops, out):
    rng = random.Random(index * 7919 + os.getpid())
    held = []   # [fd, name, locks]
    found = []
    def violation(text):
        if len(found) < 20:
            found.append("worker %d: %s" % (index, text))
    done = 0
    try:
        for round in range(rounds):
            end = time.monotonic() + slice_seconds
            while time.monotonic() < end:
                done += 1
                mine = held[0][1] if held else None
                total = sum(h[2] for h in held)
                r = rng.random()
                if not held:
                    r = 0.0 if r < 0.6 else 0.99
                if r < 0.20:
                    name = rng.choice(NAMES)
                    fd = os.open(acquire, os.O_WRONLY)
                    try:
                        os.write(fd, name.encode())
                        if mine is not None:
                            violation("took %s through a second handle while holding %d of %s" % (name, total, mine))
                        held.append([fd, name, 1])
                    except OSError as e:
                        os.close(fd)
                        if e.errno != errno.EBUSY:
                            violation("acquire %s: %s" % (name, name_of(e.errno)))
                elif r < 0.30:
                    h = rng.choice(held)
                    try:
                        os.write(h[0], h[1].encode())
                        h[2] += 1
                    except OSError as e:
                        violation("nesting %s: %s" % (h[1], name_of(e.errno)))
                elif r < 0.35:
                    h = rng.choice(held)
                    other = "B" if h[1] == "A" else "A"
                    try:
                        os.write(h[0], other.encode())
                        violation("took %s while holding %d of %s" % (other, total, mine))
                        h[2] += 1
                    except OSError as e:
                        if e.errno != errno.EBUSY:
                            violation("acquire %s while holding %s: %s" % (other, mine, name_of(e.errno)))
                elif r < 0.75:
                    h = held.pop(rng.randrange(len(held)))
                    os.close(h[0])
                else:
                    owner, count = read("owner"), read("lockcount")
                    if not COUNT.match(count):
                        violation("lockcount reads %r" % count)
                    elif held and (owner != mine + "\n" or int(count) != total):
                        violation("holding %d of %s, read owner %r lockcount %r" % (total, mine, owner, count))
            # Every other checkpoint, everyone lets go just before
            # it: the checker must then see a free recorder.
            if round % 2 == 1:
                while held:
                    os.close(held.pop()[0])
            counts[index] = sum(h[2] for h in held)
            holding[index] = 0 if not held else NAMES.index(held[0][1]) + 1
            barrier.wait(timeout=30)   # the checker reads now
            barrier.wait(timeout=30)   # the checker is done
    except Exception:
        violation("crashed: " + traceback.format_exc().replace("\n", " | "))
        barrier.abort()
    finally:
        for h in held:
            os.close(h[0])
        ops[index] = done
        out.put(found)

if __name__ == "__main__":
    context = mp.get_context("fork")
    barrier = context.Barrier(workers + 1)
    counts = context.Array("i", workers)
    holding = context.Array("i", workers)
    ops = context.Array("i", workers)
    out = context.SimpleQueue()
    processes = [context.Process(target=worker, args=(i, barrier, counts, holding, ops, out)) for i in range(workers)]
    for p in processes:
        p.start()
    violations = []
    checkpoints = 0
    busy_checkpoints = 0
    try:
        for round in range(rounds):
            barrier.wait(timeout=30)
            owner, count = read("owner"), read("lockcount")
            total = sum(counts)
            names = set(NAMES[h - 1] for h in holding if h)
            holders = sum(1 for h in holding if h)
            checkpoints += 1
            busy_checkpoints += total > 0
            state = "owner %r lockcount %r; workers hold %d locks of %s" % (owner, count, total, sorted(names))
            if not COUNT.match(count) or int(count) != total:
                violations.append("checkpoint %d: lockcount is not the sum: %s" % (round, state))
            if (owner != "") != (total > 0):
                violations.append("checkpoint %d: owner and lockcount disagree: %s" % (round, state))
            if total > 0 and (len(names) != 1 or owner != next(iter(names)) + "\n"):
                violations.append("checkpoint %d: holders and owner differ: %s" % (round, state))
            if holders > 1:
                violations.append("checkpoint %d: %d workers hold locks: %s" % (round, holders, state))
            barrier.wait(timeout=30)
    except Exception:
        violations.append("checker: " + traceback.format_exc().replace("\n", " | "))
        barrier.abort()
    reports = [out.get() for p in processes]
    for p in processes:
        p.join(30)
        if p.exitcode != 0:
            violations.append("a worker exited with %s" % p.exitcode)
    for report in reports:
        violations.extend(report)
    owner, count = read("owner"), read("lockcount")
    if owner != "" or count != "0\n":
        violations.append("after all workers exited: owner %r lockcount %r" % (owner, count))
    for v in violations:
        print("VIOLATION", v)
    print("SUMMARY checkpoints=%d held=%d generation=%s ops=%d"
          % (checkpoints, busy_checkpoints, read("generation").strip(), sum(ops)))
