import errno, os, resource, sys, time
sr0, sr1 = sys.argv[1], sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def say(*words):
    print(*words, flush=True)

def name_of(e):
    return errno.errorcode.get(e.errno, str(e.errno))

fds = []
try:
    for _ in range(1025):
        fds.append(os.open(sr0 + "/acquire", os.O_WRONLY))
    say("OPENED", len(fds))
except OSError as e:
    say("OPENED", len(fds), name_of(e))
for path in (sr0 + "/acquire_force", sr1 + "/acquire", sr1 + "/acquire_force"):
    try:
        os.close(os.open(path, os.O_WRONLY))
        say("OPEN", path, "OK")
    except OSError as e:
        say("OPEN", path, name_of(e))
# Files that take no handle still open.
for path in (sr0 + "/release", sr1 + "/release"):
    os.close(os.open(path, os.O_WRONLY))
written = 0
try:
    for _ in range(65537):
        os.write(fds[0], b"Hostile")
        written += 1
    say("WROTE", written)
except OSError as e:
    say("WROTE", written, name_of(e))
# Every file of the tree takes a handle (issue H): at the limit, a
# value file cannot be opened either, until a handle is closed.
def lockcount():
    try:
        with open(sr0 + "/lockcount") as f:
            say("LOCKCOUNT", f.read().strip())
    except OSError as e:
        say("LOCKCOUNT", name_of(e))
lockcount()
os.close(fds.pop())
lockcount()
fds.append(os.open(sr0 + "/acquire", os.O_WRONLY))
# Through the holding handle the lock would nest, but the uid has
# all its locks; through another handle it is refused first (one
# handle, one holder).
try:
    os.write(fds[0], b"Hostile\n")
    say("NESTED OK")
except OSError as e:
    say("NESTED", name_of(e))
try:
    os.write(fds[1], b"Hostile\n")
    say("OTHER OK")
except OSError as e:
    say("OTHER", name_of(e))
# One handle less: sr1 may be opened, but the uid has all its locks.
os.close(fds.pop())
deadline = time.monotonic() + 2
while True:
    try:
        other = os.open(sr1 + "/acquire", os.O_WRONLY)
        break
    except OSError as e:
        if time.monotonic() > deadline:
            say("SR1 open", name_of(e))
            raise
        time.sleep(0.01)
try:
    os.write(other, b"Hostile")
    say("SR1 OK")
except OSError as e:
    say("SR1", name_of(e))
say("READY")
while True:
    time.sleep(60)
