import os, select, sys, time
files = ("owner", "lockcount", "generation", "holders")
fds = {os.open(os.path.join(sys.argv[1], f), os.O_RDONLY): f for f in files}
for fd in fds: os.read(fd, 4096)
p = select.poll()
for fd in fds: p.register(fd, select.POLLPRI | select.POLLERR)
print("before", sorted(fds[fd] for fd, _ in p.poll(0)), flush=True)
sys.stdin.readline()
ready = p.poll(5000)
woke = time.monotonic()
masks = set(mask for _, mask in ready)
print("woke", "%.6f" % woke, sorted(fds[fd] for fd, _ in ready),
      "mask", " ".join(str(m) for m in sorted(masks)), flush=True)
fd = [fd for fd, f in fds.items() if f == "owner"][0]
os.lseek(fd, 0, 0)
print("owner", os.read(fd, 100), flush=True)
print("after read", fds[fd] in sorted(fds[f] for f, _ in p.poll(0)), flush=True)
