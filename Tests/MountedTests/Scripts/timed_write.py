import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
print("writing", flush=True)
start = time.monotonic()
try:
    os.write(fd, sys.argv[2].encode())
    outcome = "OK"
except OSError as e:
    outcome = errno.errorcode.get(e.errno, str(e.errno))
print(outcome, "%.3f" % (time.monotonic() - start), flush=True)
