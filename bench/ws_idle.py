#!/usr/bin/env python3
"""What a browser-side client costs the hub: idle WebSocket clients against idle IRC clients,
and the browser client's first load.

Usage: python3 bench/ws_idle.py [--clients N] [--burst K] [--timeout SECS] [--json]

Starts `target/release/obrol serve` (OBROL_BIN overrides the path) on a free loopback port,
without history or accounts and with 127.0.0.0/8 exempt from the per-address limits and the
line rate, three times, each a fresh process stopped by its PID when done (also on failure):

1. the page: fetches `/` and every asset it references (src=, href=, CSS url()), once each,
   and prints their sizes raw and gzip-compressed (each response on its own, as
   Content-Encoding: gzip would send it). Target: under 100 KB compressed.
2. IRC: N clients over plain TCP register (NICK/USER, wait for the end of the welcome) and
   each joins a room of its own (#idle<i>, as `obrol bench idle`); with all of them idle, the
   server's resident size (VmRSS in /proc/PID/status) against its size before they came.
3. WebSocket: the same N clients over IRCv3 WebSocket: HTTP upgrade to /ws with
   `Sec-WebSocket-Protocol: text.ircv3.net` and an Origin equal to Host, then one masked text
   frame per IRC line (a minimal client written here).

Both runs use the same shared port (HOST:PORT, told apart by first bytes), so the only
difference is the transport. Clients keep reading while they are held (and answer PING), so
nothing queues for them in the server. RSS is read 0.5 s after the last client joined (as
`obrol bench idle` does) and again after 5 s (the hub gives freed memory back once a burst
that grew it by 4 MiB or more in a second is over: `give_back_memory` in
crates/obrol/src/hub_cmd.rs); per-client figures
are (after - before) / N. Target: a WebSocket client <= 2x an IRC client. With --burst K each
client first asks for ~K KB of replies at once, as a busier client would have had: a WebSocket
connection keeps the buffers of its framing layer up to 4 KiB each (`tidy` in
crates/hub/src/transport/ws.rs), an IRC connection none.

Only 127.0.0.1 is contacted. Every phase has a deadline (--timeout, scaled with N); the
script raises its own RLIMIT_NOFILE (the server inherits it). Standard library only.
"""
import argparse
import asyncio
import base64
import concurrent.futures
import gzip
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OBROL = Path(os.environ.get("OBROL_BIN") or ROOT / "target" / "release" / "obrol")
HOST = "127.0.0.1"
# Clients connecting and registering at once (the rest wait their turn).
WINDOW = 200


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# the server


class Server:
    """`obrol serve` on a free loopback port; `stop()` ends it by its PID."""

    def __init__(self, clients, logdir):
        self.port = free_port()
        self.log = Path(logdir) / ("serve-%d.log" % self.port)
        self.cmd = [str(OBROL), "serve", "--listen", "%s:%d" % (HOST, self.port), "--no-console",
                    "--max-clients", str(clients + 100), "--exempt", "127.0.0.0/8"]
        self.proc = None

    def start(self):
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        want = ("listening on %s:%d" % (HOST, self.port)).encode()
        while want not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError("obrol serve did not start listening on %d: %s"
                                 % (self.port, self.tail()))
            time.sleep(0.05)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def tail(self, n=600):
        try:
            return self.log.read_bytes()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""

    def status_kib(self, field):
        """A kB field of /proc/PID/status (VmRSS:, VmHWM:)."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
        raise BenchError("no %s for PID %d" % (field, self.pid))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM (the hub says goodbye to its clients), SIGKILL after 10 s; by PID only."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# clients


# Connects and sends the first bytes (NICK and USER, or the HTTP upgrade) in one step of a
# thread: on the shared port the hub tells what a connection is by the bytes it sends within
# 300 ms (then it counts as a plain client), and an event loop busy with hundreds of clients
# can take longer than that to get back to a connection it has just opened.
DIALER = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="dial")


def dial_now(port, first):
    s = socket.create_connection((HOST, port), timeout=30)
    try:
        s.sendall(first)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


async def dial(port, first):
    sock = await asyncio.get_running_loop().run_in_executor(DIALER, dial_now, port, first)
    return await asyncio.open_connection(sock=sock)


class IrcClient:
    """IRC over TCP: lines ending in CR LF."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port, nick, user):
        reader, writer = await dial(port, ("NICK %s\r\nUSER %s\r\n" % (nick, user)).encode())
        return cls(reader, writer)

    def send(self, line):
        self.writer.write(line.encode() + b"\r\n")

    async def recv(self):
        """The next line, or None at the end of the connection."""
        line = await self.reader.readline()
        if not line:
            return None
        return line.rstrip(b"\r\n").decode(errors="replace")

    def close(self):
        self.writer.transport.abort()


class WsClient(IrcClient):
    """IRC over WebSocket (IRCv3 text.ircv3.net): one masked text frame per line out, one
    line per message in."""

    @classmethod
    async def open(cls, port, nick, user):
        key = base64.b64encode(os.urandom(16)).decode()
        host = "%s:%d" % (HOST, port)
        reader, writer = await dial(port, (
            "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Protocol: text.ircv3.net\r\nOrigin: http://%s\r\n\r\n"
            % (host, key, host)).encode())
        status = await reader.readline()
        if not status.startswith(b"HTTP/1.1 101 "):
            writer.transport.abort()
            raise BenchError("upgrade refused: %r" % status)
        head = status + await reader.readuntil(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101 "):
            writer.transport.abort()
            raise BenchError("upgrade refused: %s" % lines[0])
        chosen = [l.split(":", 1)[1].strip() for l in lines
                  if l.lower().startswith("sec-websocket-protocol:")]
        if chosen != ["text.ircv3.net"]:
            writer.transport.abort()
            raise BenchError("subprotocol: %r" % chosen)
        c = cls(reader, writer)
        c.send("NICK %s" % nick)
        c.send("USER %s" % user)
        return c

    def send(self, line):
        payload = line.encode()
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)

    async def recv(self):
        message = b""
        while True:
            try:
                b0, b1 = await self.reader.readexactly(2)
                n = b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
                if b1 & 0x80:
                    raise BenchError("the server masked a frame")
                payload = await self.reader.readexactly(n)
            except asyncio.IncompleteReadError:
                return None
            opcode = b0 & 0x0F
            if opcode == 0x8:  # close
                return None
            if opcode == 0x9:  # a ping from the server: pong
                self.writer.write(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0\0\0\0"
                                  + payload)
                continue
            if opcode == 0xA:
                continue
            message += payload
            if b0 & 0x80:
                return message.decode(errors="replace")


# What a client asks after joining with --burst (each round ~1 KB of replies, in one read).
BURST = ("VERSION", "INFO", "ADMIN", "LUSERS", "MOTD", "TIME")


async def register(cls, port, i, room, burst=0):
    """A client that registered (the welcome read to its end) and joined `room`; with `burst`,
    it then asks for `burst` rounds of BURST at once and reads the answers."""
    nick = "%s%d" % ("w" if cls is WsClient else "i", i)
    c = await cls.open(port, nick, "u%d 0 * :idle %d" % (i, i))
    joined = False
    while True:
        line = await c.recv()
        if line is None:
            c.close()
            raise BenchError("client %d: closed during registration" % i)
        words = line.split(" ")
        if len(words) > 1 and words[0] == "PING":
            c.send("PONG %s" % words[1])
        elif len(words) > 1 and words[1] in ("376", "422") and not joined:
            c.send("JOIN %s" % room)
            joined = True
        elif len(words) > 1 and words[1] == "366":
            if not burst:
                return c
            for cmd in BURST * burst + ("PING :held",):
                c.send(cmd)
        elif len(words) > 3 and words[1] == "PONG" and words[3] in ("held", ":held"):
            return c
        elif len(words) > 1 and words[1] in ("433", "451", "405", "471", "473", "474"):
            c.close()
            raise BenchError("client %d: %s" % (i, line))
        elif words[0] == "ERROR":
            c.close()
            raise BenchError("client %d: %s" % (i, line))
        elif not line.startswith((":", "@", "PING ")):
            c.close()
            raise BenchError("client %d: not IRC (taken for a plain client?): %r" % (i, line))


async def hold(c, dropped):
    """Reads (and answers PING) while the client is held; counts it if the server drops it."""
    try:
        while True:
            line = await c.recv()
            if line is None:
                dropped.append(line)
                return
            if line.startswith("PING "):
                c.send("PONG " + line[5:])
    except (ConnectionError, BenchError):
        dropped.append(None)


async def idle_run(kind, clients, timeout, logdir, burst=0):
    cls = {"irc": IrcClient, "ws": WsClient}[kind]
    server = Server(clients, logdir).start()
    held, holders, dropped = [], [], []
    try:
        await asyncio.sleep(0.5)
        before = server.status_kib("VmRSS:")
        window = asyncio.Semaphore(WINDOW)

        async def one(i):
            async with window:
                c = await register(cls, server.port, i, "#idle%d" % i, burst)
            held.append(c)
            holders.append(asyncio.ensure_future(hold(c, dropped)))

        started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(clients))), timeout)
        except asyncio.TimeoutError:
            raise BenchError("%s: only %d of %d clients registered and joined within %.0f s"
                             % (kind, len(held), clients, timeout)) from None
        connect_secs = time.monotonic() - started
        await asyncio.sleep(0.5)
        after_half = server.status_kib("VmRSS:")
        await asyncio.sleep(4.5)
        after = server.status_kib("VmRSS:")
        peak = server.status_kib("VmHWM:")
        if dropped:
            raise BenchError("%s: the server dropped %d idle clients" % (kind, len(dropped)))
        if not server.alive():
            raise BenchError("%s: the server exited: %s" % (kind, server.tail()))
        return {
            "transport": kind,
            "clients": clients,
            "burst": burst,
            "connect_secs": round(connect_secs, 2),
            "rss_before_kib": before,
            "rss_after_half_s_kib": after_half,
            "rss_after_5_s_kib": after,
            "rss_peak_kib": peak,
            "kib_per_client_half_s": round((after_half - before) / clients, 2),
            "kib_per_client": round((after - before) / clients, 2),
            "server": " ".join(server.cmd).replace(str(ROOT) + "/", ""),
        }
    finally:
        for h in holders:
            h.cancel()
        for c in held:
            c.close()
        server.stop()


# ---------------------------------------------------------------------------------------------
# the page


async def http_get(port, path):
    """(status line, headers, body) of one GET (the hub answers one request per connection)."""
    reader, writer = await dial(port, (
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        % (path, HOST, port)).encode())
    try:
        data = await reader.read()
    finally:
        writer.transport.abort()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (l.partition(":") for l in lines[1:])}
    return lines[0], headers, body


def references(path, body):
    """Same-site URLs an asset refers to (HTML src=/href=, CSS url()), as absolute paths."""
    text = body.decode(errors="replace")
    if path.endswith(".css"):
        found = re.findall(r"url\(\s*['\"]?([^'\")]+)", text)
    elif path == "/" or path.endswith(".html"):
        found = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", text)
    else:
        return []
    out = []
    base = path.rsplit("/", 1)[0] + "/"
    for url in found:
        if re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I) or url.startswith(("//", "#")):
            continue  # another site, data:, an anchor
        url = url.split("#")[0]
        out.append(url if url.startswith("/") else base + url)
    return out


async def page_run(timeout, logdir):
    server = Server(10, logdir).start()
    try:
        async def crawl():
            assets, queue = [], ["/"]
            seen = set(queue)
            while queue:
                path = queue.pop(0)
                status, headers, body = await http_get(server.port, path)
                if " 200 " not in status + " ":
                    raise BenchError("GET %s: %s" % (path, status))
                assets.append({
                    "path": path,
                    "type": headers.get("content-type", ""),
                    "encoding": headers.get("content-encoding", "identity"),
                    "raw_bytes": len(body),
                    "gzip_bytes": len(gzip.compress(body, compresslevel=9, mtime=0)),
                })
                for ref in references(path, body):
                    if ref not in seen:
                        seen.add(ref)
                        queue.append(ref)
            return assets
        assets = await asyncio.wait_for(crawl(), timeout)
        return {
            "assets": assets,
            "raw_bytes": sum(a["raw_bytes"] for a in assets),
            "gzip_bytes": sum(a["gzip_bytes"] for a in assets),
        }
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard < want and hard != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


async def main(args, logdir):
    # Page first (cheap), then IRC, then WebSocket: each on a fresh server.
    page = await page_run(30, logdir)
    runs = [await idle_run(kind, args.clients, args.timeout, logdir, args.burst)
            for kind in ("irc", "ws")]
    return page, runs


def fmt(n):
    return "{:,}".format(n)


def report(page, runs):
    print("First load of the browser client (each response compressed on its own):")
    for a in page["assets"]:
        print("  %-14s %-32s %7s B raw  %6s B gzip  (served %s)"
              % (a["path"], a["type"], fmt(a["raw_bytes"]), fmt(a["gzip_bytes"]), a["encoding"]))
    ok = page["gzip_bytes"] < 100 * 1000
    print("  total: %s B raw, %s B gzip (%.1f KB) -> target < 100 KB compressed: %s\n"
          % (fmt(page["raw_bytes"]), fmt(page["gzip_bytes"]), page["gzip_bytes"] / 1000,
             "met" if ok else "NOT MET"))
    print("Idle clients, each registered and in a room of its own%s (server: %s):"
          % (", after %d rounds of --burst" % runs[0]["burst"] if runs[0]["burst"] else "",
             runs[0]["server"]))
    for r in runs:
        print("  %-3s %s clients in %.2f s; RSS %s KiB before, %s KiB after 0.5 s, %s KiB after "
              "5 s (peak %s): %.2f KiB per client (%.2f at 0.5 s)"
              % (r["transport"], fmt(r["clients"]), r["connect_secs"], fmt(r["rss_before_kib"]),
                 fmt(r["rss_after_half_s_kib"]), fmt(r["rss_after_5_s_kib"]),
                 fmt(r["rss_peak_kib"]), r["kib_per_client"], r["kib_per_client_half_s"]))
    irc, ws = runs
    ratio = ws["kib_per_client"] / irc["kib_per_client"] if irc["kib_per_client"] > 0 else float("inf")
    ratio_half = (ws["kib_per_client_half_s"] / irc["kib_per_client_half_s"]
                  if irc["kib_per_client_half_s"] > 0 else float("inf"))
    print("  WebSocket / IRC: %.2fx after 5 s (%.2fx at 0.5 s) -> target <= 2x: %s"
          % (ratio, ratio_half, "met" if ratio <= 2 else "NOT MET"))
    return ratio, ratio_half


def cli():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=5000, help="idle clients per run (5000)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds for all clients of a run to register and join "
                        "(default 60 + N/50)")
    p.add_argument("--burst", type=int, default=0, metavar="K",
                   help="after joining, each client asks for K rounds of VERSION, INFO, ADMIN, "
                        "LUSERS, MOTD and TIME at once (~1 KB of replies a round) before it "
                        "idles: how a client's largest burst of output shows in what it keeps "
                        "(0)")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = p.parse_args()
    if args.clients < 1:
        p.error("--clients must be at least 1")
    if args.timeout is None:
        args.timeout = 60 + args.clients / 50
    if not OBROL.exists():
        sys.exit("no %s (cargo build --release, or set OBROL_BIN)" % OBROL)
    # Our N sockets and the server's N (it inherits the limit), with room to spare.
    have = raise_nofile(args.clients + 1024)
    if have < args.clients + 200:
        sys.exit("RLIMIT_NOFILE is %d; %d clients need more" % (have, args.clients))
    # A SIGTERM to the script runs the finally blocks (the servers are stopped).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="ws_idle-") as logdir:
        try:
            page, runs = asyncio.run(main(args, logdir))
        except BenchError as e:
            sys.exit("ws_idle: %s" % e)
    ratio, ratio_half = report(page, runs)
    if args.json:
        print(json.dumps({"page": page, "runs": runs, "ws_over_irc": round(ratio, 3),
                          "ws_over_irc_half_s": round(ratio_half, 3)}, indent=1))


if __name__ == "__main__":
    cli()
