# An unregistered crowd: N IRC connections, each from its own address (127.3.x.y), that never register, each
# sending a PING every 2 s; closed ones (evicted, timed out) reconnect. Runs for SECS.
import socket, sys, time, selectors
port = int(sys.argv[1]); secs = float(sys.argv[2]); n = int(sys.argv[3])
sel = selectors.DefaultSelector()
conns = {}
opened = closed = refused = 0
def open_one(i):
    global opened, refused
    s = socket.socket(); s.setblocking(False)
    try:
        s.bind(("127.3.%d.%d" % (i // 200, i % 200 + 1), 0))
        s.connect_ex(("127.0.0.1", port))
    except OSError:
        refused += 1; s.close(); return
    conns[s] = (i, time.time()); sel.register(s, selectors.EVENT_READ); opened += 1
t0 = time.time()
for i in range(n): open_one(i)
last_ping = time.time()
while time.time() - t0 < secs:
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            d = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            d = b""
        if not d:
            i, _ = conns.pop(s); sel.unregister(s); s.close(); closed += 1
            if time.time() - t0 < secs: open_one(i)
    if time.time() - last_ping > 2:
        last_ping = time.time()
        for s in list(conns):
            try: s.send(b"PING :x\r\n")
            except OSError: pass
print("unregistered crowd: %d opened, %d closed by the hub (and reopened), %d refused locally, %d open at the end" % (opened, closed, refused, len(conns)))
