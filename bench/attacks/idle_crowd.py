# N idle plain connections from many addresses that never send or read.
import socket, sys, time
port = int(sys.argv[1]); secs = float(sys.argv[2]); n = int(sys.argv[3])
socks = []; refused = 0
t0 = time.time()
for i in range(n):
    try:
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind(("127.3.%d.%d" % (i // 20, i % 20 + 1), 0)); s.connect(("127.0.0.1", port)); socks.append(s)
    except OSError:
        refused += 1
time.sleep(max(0, secs - (time.time() - t0)))
alive = 0
for s in socks:
    try:
        s.setblocking(False); s.recv(1); alive += 1
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print("idle crowd: %d opened, %d refused, %d still connected" % (len(socks), refused, alive))
