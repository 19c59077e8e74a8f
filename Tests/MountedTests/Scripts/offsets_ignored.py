fd = os.open(a[0], os.O_WRONLY); ap = os.open(a[0], os.O_WRONLY | os.O_APPEND)
for offset in (0, 1, 4095, 4096, 123456789, 1 << 40, (1 << 62) - 1000):
    assert os.pwrite(fd, b"Offset\n", offset) == 7, offset
try:
    os.write(ap, b"Offset")
    assert False, "a second handle nested"
except OSError as e:
    assert e.errno == errno.EBUSY, e
os.lseek(fd, 1 << 30, os.SEEK_SET)
assert os.write(fd, b"Offset") == 6
assert open(a[1]).read() == "8\n"
assert open(a[2]).read() == "Offset\n"
os.close(fd)
assert open(a[1]).read() == "0\n"
assert os.write(ap, b"Offset") == 6
assert os.write(ap, b"Offset") == 6
assert open(a[1]).read() == "2\n"
assert open(a[2]).read() == "Offset\n"
os.close(ap)
assert open(a[1]).read() == "0\n"
