import os, sys
for i in range(1000):
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.write(fd, b"Cycle")
    os.close(fd)
