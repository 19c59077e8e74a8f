# Writers of acquire_wait sharing one open file (forked) while another
# handle holds the recorder: where each waits, a signal to one, then the
# holder's close. Prints one line per step.
import errno, os, select, signal, sys, time
d = sys.argv[1]
holder = os.open(d + "/acquire", os.O_WRONLY)
os.write(holder, b"Holder")
shared = os.open(d + "/acquire_wait", os.O_WRONLY)

def interrupted(*args):
    raise InterruptedError()

def writer(name):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(holder)
        signal.signal(signal.SIGUSR1, interrupted)
        try:
            os.write(shared, name.encode())
            outcome = "got"
        except InterruptedError:
            outcome = "EINTR"
        except OSError as e:
            outcome = errno.errorcode.get(e.errno, str(e.errno))
        os.write(w, outcome.encode())
        os._exit(0)
    os.close(w)
    for _ in range(1000):
        if open(f"/proc/{pid}/syscall").read().startswith("1 "):
            break
        time.sleep(0.01)
    return pid, r

def state(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]

def outcome(writer, seconds=5):
    ready, _, _ = select.select([writer[1]], [], [], seconds)
    return os.read(writer[1], 100).decode() if ready else "none"

first, second, third = writer("Shared"), writer("Shared"), writer("Shared")
time.sleep(0.1)
print("states", state(first[0]), state(second[0]), state(third[0]), flush=True)
os.kill(second[0], signal.SIGUSR1)
print("second", outcome(second, 2), flush=True)
os.close(holder)
print("first", outcome(first), flush=True)
print("third", outcome(third), flush=True)
print("owner", open(d + "/owner").read().strip(), "lockcount", open(d + "/lockcount").read().strip(), flush=True)
