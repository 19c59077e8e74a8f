import errno, mmap, os, random, sys
directory, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
holder, holder_uid, singles = sys.argv[4].encode(), int(sys.argv[5]), sys.argv[6] == "1"
uid = os.getuid()
ALLOWED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;-_")
ALLOWED_LIST = sorted(ALLOWED)
FORBIDDEN = bytes(b for b in range(256) if b not in ALLOWED and b != 10)
rng = random.Random(seed)
problems = []

def name_of(code):
    return errno.errorcode.get(code, str(code))

def report(text):
    if len(problems) < 50:
        problems.append(text)

def parse(payload):
    body = payload[:-1] if payload.endswith(b"\n") else payload
    if 1 <= len(body) <= 63 and all(b in ALLOWED for b in body):
        return body
    return None

def expected(target, payload):
    """The errno a write must fail with, or None when it would take or drop a lock."""
    name = parse(payload)
    if name is None:
        return "EINVAL"
    if target == "release":
        if holder and name == holder:
            return None if uid in (0, holder_uid) else "EPERM"
        return "ENOLCK"
    if holder and (name != holder or uid != holder_uid):
        return "EBUSY"
    return None

def state():
    values = []
    for file in ("owner", "lockcount", "holders", "generation"):
        with open(os.path.join(directory, file), "rb") as f:
            values.append(f.read())
    return tuple(values)

def valid_name():
    return bytes(rng.choice(ALLOWED_LIST) for _ in range(rng.randint(1, 63)))

def malformed():
    kind = rng.randrange(9)
    name = valid_name()
    if kind == 0:    # any bytes, short
        return rng.randbytes(rng.randint(1, 80))
    if kind == 1:    # any bytes, up to 64 KiB
        return rng.randbytes(rng.randint(1, 65536))
    if kind == 2:    # one forbidden byte anywhere
        at = rng.randint(0, len(name))
        return name[:at] + bytes([rng.choice(FORBIDDEN)]) + name[at:]
    if kind == 3:    # a newline that is not the one trailing newline
        at = rng.randint(0, len(name) - 1)
        return rng.choice([name[:at] + b"\n" + name[at:], name + b"\n\n", name + b"\r\n", b"\n" + name])
    if kind == 4:    # too long, with or without the newline
        return bytes(rng.choice(ALLOWED_LIST) for _ in range(rng.randint(64, 300))) + rng.choice([b"", b"\n"])
    if kind == 5:    # newlines only
        return b"\n" * rng.randint(1, 5)
    if kind == 6:    # NUL
        return rng.choice([name + b"\0", b"\0" + name, name + b"\0" + name, b"\0"])
    if kind == 7:    # not ASCII, valid UTF-8 or not
        return name[:62] + rng.choice(["é".encode(), "日本".encode(), b"\xff", b"\xc3", b"\x80"])
    return valid_name()  # a valid name of another holder: EBUSY, ENOLCK or EPERM

def payloads():
    if singles:
        for value in range(256):
            yield [bytes([value])]
        for value in range(256):
            yield [b"Fuzz" + bytes([value]) + b"z"]
    for _ in range(count):
        if rng.random() < 0.15:
            # A valid name in pieces: each piece is judged alone.
            name = valid_name() + rng.choice([b"", b"\n"])
            cuts = sorted(rng.sample(range(1, len(name)), min(len(name) - 1, rng.randint(1, 4)))) if len(name) > 1 else []
            yield [name[a:b] for a, b in zip([0] + cuts, cuts + [len(name)])]
        else:
            yield [malformed()]

def attempt(label, action, wanted, target):
    before = state()
    try:
        action()
        got = "OK"
    except OSError as e:
        got = name_of(e.errno)
    after = state()
    if got != wanted:
        report("MISMATCH seed=%d target=%s %s: got %s, expected %s" % (seed, target, label, got, wanted))
    if after != before:
        report("CHANGED seed=%d target=%s %s: %r -> %r" % (seed, target, label, before, after))
    return got

for target in ("acquire", "acquire_force", "release"):
    path = os.path.join(directory, target)
    plain = os.open(path, os.O_WRONLY)
    append = os.open(path, os.O_WRONLY | os.O_APPEND)
    tally = {"writes": 0, "skipped": 0, "pieces": 0, "truncates": 0, "mmaps": 0}
    for index, pieces in enumerate(payloads()):
        if len(pieces) > 1:
            tally["pieces"] += 1
        for payload in pieces:
            wanted = expected(target, payload)
            if wanted is None:
                tally["skipped"] += 1
                continue
            method = rng.choice(("write", "pwrite", "append"))
            offset = rng.choice((0, rng.randint(1, 4096), rng.randint(0, 1 << 50)))
            if method == "write":
                action = lambda: os.write(plain, payload)
            elif method == "pwrite":
                action = lambda: os.pwrite(plain, payload, offset)
            else:
                action = lambda: os.write(append, payload)
            label = "#%d %s offset=%d len=%d payload=%s" % (index, method, offset, len(payload), payload[:40].hex())
            got = attempt(label, action, wanted, target)
            tally["writes"] += 1
            tally[got] = tally.get(got, 0) + 1
        if rng.random() < 0.05:
            size = rng.choice((1, 4096, rng.randint(2, 1 << 40)))
            attempt("ftruncate 0", lambda: os.ftruncate(plain, 0), "OK", target)
            attempt("ftruncate %d" % size, lambda: os.ftruncate(rng.choice((plain, append)), size), "EPERM", target)
            tally["truncates"] += 2
        if rng.random() < 0.03:
            for flags, prot in ((mmap.MAP_SHARED, mmap.PROT_WRITE), (mmap.MAP_SHARED, mmap.PROT_READ),
                                (mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)):
                attempt("mmap flags=%d prot=%d" % (flags, prot), lambda: mmap.mmap(plain, 4096, flags, prot), "EACCES", target)
                tally["mmaps"] += 1
    os.close(plain)
    os.close(append)
    print("SUMMARY target=%s %s" % (target, " ".join("%s=%d" % item for item in sorted(tally.items()))))
for line in problems:
    print(line)
