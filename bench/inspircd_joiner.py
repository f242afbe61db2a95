#!/usr/bin/env python3
"""SAJOIN helper for benchmarking InspIRCd 3 with `obrol bench`.

InspIRCd 3 finishes a client's registration only on its once-a-second background
tick, so the JOIN that `obrol bench` pipelines right after NICK/USER is refused
with 451 ("You have not registered") and the generator would wait for its
366 forever. This oper client watches the server's connect notices (snomask +c)
and SAJOINs every benchmark client (nick b<pid>x<i>) into the rooms the
generator expects, in the generator's order, so the generator sees the
JOIN/353/366 it waits for (it waits for the 366 of its last room).

Usage: inspircd_joiner.py PORT ROOMSPEC
  ROOMSPEC "r:N"      client i goes to #r<i % N>   (bench hub --rooms N)
  ROOMSPEC "r:N:K"    client i goes to its K rooms of N (bench hub --rooms N
                      --rooms-per-client K): the window of K consecutive rooms
                      (mod N) starting at starts[i % N], where starts lists
                      0, K, 2K, ... then 1, K+1, ... (obrol_bench::Membership)
  ROOMSPEC "idle"     client i goes to #idle<i>    (bench idle)
Prints "ready" on stdout once opered, then runs until killed.
Standard library only.
"""
import re
import socket
import sys
import time

NICK = "benchjoiner"
CONNECT = re.compile(rb"Client connecting on port \d+ \(class [^)]*\): (b\d+x(\d+))!")


def membership(rooms, per_client):
    """Client i's rooms, as `obrol bench hub --rooms-per-client` assigns them."""
    if not 1 <= per_client <= rooms:
        sys.exit("joiner: need 1 <= K <= N in r:N:K")
    starts = [r for c in range(per_client) for r in range(c, rooms, per_client)]
    return lambda i: ["#r%d" % ((starts[i % rooms] + j) % rooms) for j in range(per_client)]


def main():
    port = int(sys.argv[1])
    spec = sys.argv[2]
    if spec == "idle":
        rooms_of = lambda i: ["#idle%d" % i]  # noqa: E731
    else:
        parts = spec.split(":")
        if parts[0] != "r" or len(parts) not in (2, 3):
            sys.exit("joiner: bad ROOMSPEC %r (r:N, r:N:K or idle)" % spec)
        rooms_of = membership(int(parts[1]), int(parts[2]) if len(parts) == 3 else 1)
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(("NICK %s\r\nUSER %s 0 * :%s\r\n" % (NICK, NICK, NICK)).encode())
    buf = b""
    state = "reg"
    deadline = time.time() + 20
    while state != "ready":
        if time.time() > deadline:
            sys.exit("joiner: could not oper up (state %s): %r" % (state, buf[-300:]))
        data = s.recv(65536)
        if not data:
            sys.exit("joiner: server closed the connection")
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(b"PING "):
                s.sendall(b"PONG " + line[5:].strip() + b"\r\n")
            parts = line.split()
            if len(parts) > 1 and parts[1] == b"001" and state == "reg":
                s.sendall(b"OPER benchjoiner benchjoiner\r\n")
                state = "oper"
            elif len(parts) > 1 and parts[1] == b"381" and state == "oper":
                s.sendall(("MODE %s +s +c\r\n" % NICK).encode())
                state = "ready"
            elif len(parts) > 1 and parts[1] in (b"491", b"464"):
                sys.exit("joiner: OPER refused: %r" % line)
    print("ready", flush=True)
    s.settimeout(None)
    joined = 0
    while True:
        data = s.recv(1 << 20)
        if not data:
            return
        buf += data
        out = []
        lines = buf.split(b"\n")
        buf = lines.pop()
        for line in lines:
            if line.startswith(b"PING "):
                out.append(b"PONG " + line[5:].strip() + b"\r\n")
                continue
            m = CONNECT.search(line)
            if m:
                nick = m.group(1).decode()
                for room in rooms_of(int(m.group(2))):
                    out.append(("SAJOIN %s %s\r\n" % (nick, room)).encode())
                joined += 1
        if out:
            s.sendall(b"".join(out))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
