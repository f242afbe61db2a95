# Newcomers during an attack: every 0.5 s one connects from a fresh address, registers and
# waits for its welcome (001). Prints how long each took.
import socket, sys, time
port = int(sys.argv[1]); secs = float(sys.argv[2]); delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0
time.sleep(delay)
t0 = time.time(); took = []; failed = 0; k = 0
while time.time() - t0 < secs:
    k += 1
    start = time.time()
    try:
        s = socket.socket(); s.settimeout(10)
        s.bind(("127.4.%d.%d" % (k // 200, k % 200 + 1), 0)); s.connect(("127.0.0.1", port))
        s.sendall(b"NICK probe%d\r\nUSER p 0 * :p\r\n" % k)
        buf = b""
        while b" 001 " not in buf:
            d = s.recv(4096)
            if not d: raise OSError("closed: %r" % buf[-200:])
            buf += d
        took.append(time.time() - start)
        s.close()
    except OSError as e:
        failed += 1; print("probe failed:", e)
    time.sleep(0.5)
took.sort()
if took:
    print("newcomers: %d welcomed, %d failed; welcome p50 %.1f ms, max %.1f ms" % (len(took), failed, 1000*took[len(took)//2], 1000*took[-1]))
else:
    print("newcomers: none welcomed, %d failed" % failed)
