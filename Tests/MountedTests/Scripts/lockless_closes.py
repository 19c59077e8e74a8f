import os, sys, time
acquire, other, lockcount, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
slowest, reads = 0.0, 0
for i in range(count):
    os.close(os.open(acquire, os.O_WRONLY))
    for path in (other, lockcount):
        start = time.monotonic()
        fd = os.open(path, os.O_RDONLY)
        os.read(fd, 4096)
        os.close(fd)
        slowest = max(slowest, time.monotonic() - start)
        reads += 1
print(reads, "%.3f" % slowest, flush=True)
