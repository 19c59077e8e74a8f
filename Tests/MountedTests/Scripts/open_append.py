fd = os.open(a[0], os.O_WRONLY | os.O_APPEND)
assert os.write(fd, b"Holder") == 6
assert os.write(fd, b"Holder") == 6
assert open(a[1]).read() == "2\n"
os.close(fd)
