import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b"Watched")
print("%.6f" % time.monotonic(), flush=True)
time.sleep(60)
