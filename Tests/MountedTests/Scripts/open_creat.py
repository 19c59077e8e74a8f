fd = os.open(a[0], os.O_WRONLY | os.O_CREAT, 0o644)
assert os.write(fd, b"Creat") == 5
assert (open(a[1]).read(), open(a[2]).read()) == ("Creat\n", "1\n")
os.close(fd)
assert open(a[2]).read() == "0\n"
