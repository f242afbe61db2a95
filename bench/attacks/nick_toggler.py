# A /nick toggler among N clients that never read, all in the toggler's rooms (the bench's
# busy rooms #r0..#r90): every rename goes to every non-reader.
import socket, sys, time
port = int(sys.argv[1]); secs = float(sys.argv[2]); n = int(sys.argv[3])
rooms = ",".join("#r%d" % r for r in range(0, 100, 10)).encode()
socks = []
for i in range(n):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.2.%d.%d" % (i // 40, i % 40 + 1), 0)); s.connect(("127.0.0.1", port))
    s.sendall(b"NICK nr%d\r\nUSER s 0 * :s\r\nJOIN %s\r\n" % (i, rooms)); socks.append(s)
t = socket.socket(); t.bind(("127.1.9.9", 0)); t.connect(("127.0.0.1", port))
t.sendall(b"NICK tog\r\nUSER t 0 * :t\r\nJOIN %s\r\n" % rooms)
t.setblocking(False)
t0 = time.time(); sent = 0; k = 0
while time.time() - t0 < secs:
    try:
        t.send(b"NICK tog%d\r\n" % (k % 2)); k += 1; sent += 1
    except BlockingIOError:
        time.sleep(0.01)
    except OSError:
        break
    try:
        while t.recv(65536): pass
    except (BlockingIOError, OSError): pass
alive = 0
for s in socks:
    try:
        s.setblocking(False); s.recv(1); alive += 1
    except BlockingIOError: alive += 1
    except OSError: pass
print("toggler: %d renames written; %d of %d non-readers still connected" % (sent, alive, n))
