import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print("open", flush=True)
if len(sys.argv) > 2:
    time.sleep(3600)
pending = b""
while True:
    pending += os.read(fd, 65536)
    while b"\n" in pending:
        line, pending = pending.split(b"\n", 1)
        print(line.decode().split(" ", 1)[1], flush=True)
