import errno, os, sys
directories, mode, name = sys.argv[1].split(","), sys.argv[2], sys.argv[3].encode()
def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
def read(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)
try:
    held = []
    if mode == "holder":
        for d in directories:
            fd = os.open(d + "/acquire", os.O_WRONLY)
            os.write(fd, name)
            held.append(fd)
        say("started")
    rounds = 0
    while True:
        for i, d in enumerate(directories):
            if mode == "holder":
                os.write(held[i], name)
                if read(d + "/owner") != name + b"\n":
                    say("error: owner of %s is not %s" % (d, name))
                    sys.exit(1)
            else:
                fd = os.open(d + ("/acquire" if rounds % 2 else "/acquire_force"), os.O_WRONLY)
                try:
                    os.write(fd, name)
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        raise
                finally:
                    os.close(fd)
                read(d + "/lockcount")
        rounds += 1
        if rounds == 1 and mode != "holder":
            say("started")
except OSError as e:
    say("lost " + errno.errorcode.get(e.errno, str(e.errno)))
