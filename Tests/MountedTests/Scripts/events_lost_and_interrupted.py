import errno, os, signal, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print("open", flush=True)
sys.stdin.readline()
data = b""
os.set_blocking(fd, False)
try:
    while True:
        data += os.read(fd, 65536)
except BlockingIOError:
    pass
lines = data.decode().splitlines()
lost = [l for l in lines if l.startswith("lost ")]
last = "-" if not lines else "lost" if lines[-1].startswith("lost ") else lines[-1].split(" ")[2]
print("lines", len(lines), "lost", " ".join(lost), "last", last, flush=True)
os.set_blocking(fd, True)
def interrupted(*args):
    raise InterruptedError()
signal.signal(signal.SIGUSR1, interrupted)
print("reading", flush=True)
try:
    os.read(fd, 100)
    print("read returned", flush=True)
except InterruptedError:
    print("EINTR", flush=True)
