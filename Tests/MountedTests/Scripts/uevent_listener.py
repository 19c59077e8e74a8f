# Prints the kernel's uevents of one device, one line each: "ACTION SYNTH_UUID"
# ("-" when the event is not synthetic). Prints "ready" once it listens.
# Usage: uevent_listener.py DEVNAME   (e.g. loop3)
import socket, sys

name = sys.argv[1]
listener = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)  # NETLINK_KOBJECT_UEVENT
listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
listener.bind((0, 1))  # the kernel's group
print("ready", flush=True)
while True:
    message = listener.recv(1 << 16)
    fields = message.split(b"\0")
    values = dict(f.split(b"=", 1) for f in fields[1:] if b"=" in f)
    if values.get(b"DEVNAME", b"").split(b"/")[-1] != name.encode():
        continue
    print(values.get(b"ACTION", b"?").decode(), values.get(b"SYNTH_UUID", b"-").decode(), flush=True)
