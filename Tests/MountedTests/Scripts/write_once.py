import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY)
except OSError as e:
    print("open", errno.errorcode.get(e.errno, str(e.errno)))
    sys.exit()
try:
    print("OK", os.write(fd, bytes.fromhex(sys.argv[2])))
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
