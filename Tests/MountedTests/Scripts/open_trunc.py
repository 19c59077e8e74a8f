fd = os.open(a[0], os.O_WRONLY | os.O_TRUNC)
assert open(a[1]).read() == "1\n"
try:
    os.write(fd, b"Holder\n")
    assert False, "a second handle nested"
except OSError as e:
    assert e.errno == errno.EBUSY, e
assert open(a[1]).read() == "1\n"
os.close(fd)
