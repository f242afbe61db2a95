# N clients joined to 10 of the witness rooms that never read (4 KiB receive buffers).
import socket, sys, time
port = int(sys.argv[1]); secs = float(sys.argv[2]); n = int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.2.%d.%d" % (i // 200, i % 200 + 1), 0)); s.connect(("127.0.0.1", port))
    rooms = ",".join("#r%d" % r for r in range(0, 100, 10))
    s.sendall(b"NICK sl%d\r\nUSER s 0 * :s\r\nJOIN %s\r\n" % (i, rooms.encode())); socks.append(s)
time.sleep(secs)
alive = 0
for s in socks:
    try:
        s.setblocking(False); s.recv(1)
        alive += 1
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print("sleepers: %d of %d still connected" % (alive, n))
