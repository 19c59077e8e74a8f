import errno, os, signal, sys
def interrupted(*args):
    raise InterruptedError()
signal.signal(signal.SIGUSR1, interrupted)
fd = os.open(sys.argv[1], os.O_WRONLY)
print("waiting", flush=True)
try:
    os.write(fd, sys.argv[2].encode())
    print("got", sys.argv[2], flush=True)
    sys.stdin.read()
except InterruptedError:
    print("EINTR", flush=True)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
