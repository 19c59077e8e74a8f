import os, sys
for d in sys.argv[1:]:
    for f in ("owner", "lockcount", "holders", "generation"):
        fd = os.open(os.path.join(d, f), os.O_RDONLY)
        print(os.path.basename(d), f, repr(os.read(fd, 4096)))
        os.close(fd)
