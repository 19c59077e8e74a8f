import errno, os, sys
directory, name, stop = sys.argv[1], sys.argv[2], sys.argv[3]
cycles, failures = 0, []
def read(file):
    with open(os.path.join(directory, file)) as f:
        return f.read()
while not os.path.exists(stop) or cycles == 0:
    try:
        fd = os.open(os.path.join(directory, "acquire"), os.O_WRONLY)
        os.write(fd, name.encode())
        seen = (read("owner"), read("lockcount"))
        os.close(fd)
        after = read("lockcount")
        if seen != (name + "\n", "1\n") or after != "0\n":
            failures.append("cycle %d: held %r, after close %r" % (cycles, seen, after))
    except OSError as e:
        failures.append("cycle %d: %s" % (cycles, errno.errorcode.get(e.errno, str(e.errno))))
    cycles += 1
    if cycles % 20 == 0:
        print("CYCLE", cycles, flush=True)
    if len(failures) > 20:
        break
print("CYCLES", cycles)
for line in failures:
    print("FAILURE", line)
