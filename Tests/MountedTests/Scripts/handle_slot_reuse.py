import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
fds = [os.open(a[0], os.O_WRONLY) for _ in range(1024)]
refused = 0
for _ in range(500):
    os.close(fds.pop())
    try:
        fds.append(os.open(a[0], os.O_WRONLY))
    except OSError as e:
        assert e.errno == errno.EMFILE, e
        refused += 1
        while True:
            try:
                fds.append(os.open(a[0], os.O_WRONLY)); break
            except OSError:
                pass
assert refused == 0, "%d of 500 opens right after a close got EMFILE" % refused
