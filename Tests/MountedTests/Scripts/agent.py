import errno, fcntl, os, socket, sys
children = {}
sockets = {}
def reply(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
while True:
    line = sys.stdin.readline()
    if not line:
        break
    words = line.split()
    command, args = words[0], words[1:]
    try:
        if command == "open":
            flags = {"w": os.O_WRONLY, "r": os.O_RDONLY, "rw": os.O_RDWR,
                     "excl": os.O_RDONLY | os.O_NONBLOCK | os.O_EXCL}[args[1]]
            reply("OK %d" % os.open(args[0], flags))
        elif command == "write":
            reply("OK %d" % os.write(int(args[0]), bytes.fromhex(args[1] if len(args) > 1 else "")))
        elif command == "close":
            os.close(int(args[0]))
            reply("OK 0")
        elif command == "read":
            reply("OK %d" % len(os.read(int(args[0]), int(args[1]) if len(args) > 1 else 65536)))
        elif command == "flock":
            operation = {"sh": fcntl.LOCK_SH, "ex": fcntl.LOCK_EX, "un": fcntl.LOCK_UN}[args[1]]
            fcntl.flock(int(args[0]), operation | (fcntl.LOCK_NB if "nb" in args[2:] else 0))
            reply("OK 0")
        elif command == "dup":
            reply("OK %d" % os.dup(int(args[0])))
        elif command == "fork":
            # The child keeps every descriptor and, until told to
            # end, writes or closes one when told (childwrite,
            # childclose); it answers over a pipe of its own.
            r, w = os.pipe()
            back_r, back_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(w)
                os.close(back_r)
                orders = os.fdopen(r, "r")
                for order in orders:
                    what = order.split()
                    try:
                        if what[0] == "write":
                            answer = "OK %d" % os.write(int(what[1]), bytes.fromhex(what[2] if len(what) > 2 else ""))
                        else:
                            os.close(int(what[1]))
                            answer = "OK 0"
                    except OSError as e:
                        answer = "ERR " + errno.errorcode.get(e.errno, str(e.errno))
                    os.write(back_w, (answer + "\n").encode())
                os._exit(0)
            os.close(r)
            os.close(back_w)
            children[pid] = (w, os.fdopen(back_r, "r"))
            reply("OK %d" % pid)
        elif command in ("childwrite", "childclose"):
            w, back = children[int(args[0])]
            os.write(w, (" ".join([command[5:]] + args[1:]) + "\n").encode())
            reply(back.readline().strip() or "ERR child-gone")
        elif command == "endchild":
            pid = int(args[0])
            w, back = children.pop(pid)
            os.close(w)
            back.close()
            os.waitpid(pid, 0)
            reply("OK 0")
        elif command == "listen":
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(args[0])
            server.listen(1)
            sockets[server.fileno()] = server
            reply("OK %d" % server.fileno())
        elif command == "accept":
            connection, _ = sockets[int(args[0])].accept()
            sockets[connection.fileno()] = connection
            reply("OK %d" % connection.fileno())
        elif command == "connect":
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(args[0])
            sockets[connection.fileno()] = connection
            reply("OK %d" % connection.fileno())
        elif command == "sendfd":
            # SCM_RIGHTS: the receiver gets the same open file description.
            socket.send_fds(sockets[int(args[0])], [b"F"], [int(args[1])])
            reply("OK 0")
        elif command == "recvfd":
            _, fds, _, _ = socket.recv_fds(sockets[int(args[0])], 1, 1)
            reply("OK %d" % fds[0] if fds else "ERR no-descriptor")
        else:
            reply("ERR unknown-command")
    except OSError as e:
        reply("ERR " + errno.errorcode.get(e.errno, str(e.errno)))
