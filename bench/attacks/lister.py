# LIST against many rooms: C clients (64 per address) hold 50 rooms each, then a requester
# asks LIST again and again and reads the answers.
import socket, sys, time
port = int(sys.argv[1]); secs = float(sys.argv[2]); rooms = int(sys.argv[3])
holders = []
per = 20
for c in range((rooms + per - 1) // per):
    s = socket.socket(); s.bind(("127.2.%d.%d" % (c // 60, c % 60 + 1), 0)); s.connect(("127.0.0.1", port))
    names = ",".join("#room%d" % (c * per + j) for j in range(per)).encode()
    s.sendall(b"NICK h%d\r\nUSER s 0 * :s\r\nJOIN %s\r\n" % (c, names)); holders.append(s)
time.sleep(3)
for s in holders:
    s.setblocking(False)
    try:
        while s.recv(1 << 20): pass
    except (BlockingIOError, OSError): pass
q = socket.socket(); q.bind(("127.1.8.8", 0)); q.connect(("127.0.0.1", port))
q.sendall(b"NICK lister\r\nUSER l 0 * :l\r\n"); q.settimeout(10)
t0 = time.time(); lists = 0; got = 0; buf = b""
while time.time() - t0 < secs:
    q.sendall(b"LIST\r\n")
    while b" 323 " not in buf:
        d = q.recv(1 << 20)
        if not d: break
        buf += d
    got += buf.count(b" 322 "); buf = buf[buf.index(b" 323 ") + 5:] if b" 323 " in buf else b""
    lists += 1
    for s in holders:
        try:
            while s.recv(1 << 20): pass
        except (BlockingIOError, OSError): pass
print("lister: %d LISTs answered whole, %d rooms listed in all" % (lists, got))
