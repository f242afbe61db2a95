# 20 flooders in the witness room #r0, writing as fast as they can and reconnecting when cut.
import socket, sys, time
port = int(sys.argv[1]); secs = float(sys.argv[2]); n = int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket(); s.bind(("127.1.0.%d" % (i + 1), 0)); s.connect(("127.0.0.1", port))
    s.sendall(b"NICK fl%d\r\nUSER f 0 * :f\r\nJOIN #r0\r\n" % i); s.setblocking(False); socks.append(s)
line = b"PRIVMSG #r0 :" + b"x" * 60 + b"\r\n"
chunk = line * 200
end = time.time() + secs; sent = 0; cuts = 0
while time.time() < end and socks:
    for s in list(socks):
        try:
            sent += s.send(chunk) // len(line)
        except BlockingIOError:
            pass
        except OSError:
            socks.remove(s); cuts += 1
            # reconnect: an attacker keeps coming back
            try:
                t = socket.socket(); t.bind(("127.1.0.%d" % (len(socks) + cuts % 200 + 1), 0)); t.connect(("127.0.0.1", port))
                t.sendall(b"NICK fr%d\r\nUSER f 0 * :f\r\nJOIN #r0\r\n" % (cuts)); t.setblocking(False); socks.append(t)
            except OSError:
                pass
    time.sleep(0.001)
print("flooder: lines offered %d, cut %d times" % (sent, cuts))
