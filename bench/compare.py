#!/usr/bin/env python3
"""Driver for bench/compare: runs obrol and its peers through identical workloads.

Called by bench/compare (which builds obrol and installs the peers first). Standard library only.
Every generator run is stored as one compact JSON file under OUT/raw/; bench/report.py turns
those files into OUT/RESULTS.md and OUT/chart.svg (and can be re-run on its own).
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# bench/compare sets OBROL_BIN (from CARGO_TARGET_DIR); target/release/obrol otherwise.
OBROL = Path(os.environ.get("OBROL_BIN") or ROOT / "target" / "release" / "obrol").resolve()
CONF = BENCH / "conf"
JOINER = BENCH / "inspircd_joiner.py"
SEED = ROOT / "seed" / "server.py"

SERVER_CORE = "0"
LISTEN_BACKLOG = 4096
GEN_CORE = "1"
MSG_SIZE = 64
# A rung where the generator used this much of its core (or where p99 reached 1 s) says more
# about the generator or the backlog than about the server: it never counts as a saturation
# point (here: the basis of (f)) or as "met" (bench/report.py, same bound).
GEN_LIMIT = 95.0

# Workload parameters. "full" is what bench/RESULTS.md reports; "quick" only checks that the
# whole pipeline works (small client counts, 1 s runs) and its numbers mean little.
FULL = {
    "mode": "full",
    "warmup": 1.0,
    "duration": 3.0,
    # (s) shared rooms, the headline: 100 rooms of 100 members, 1,000 clients each in 10 rooms
    # (`--rooms-per-client 10`; obrol_bench::Membership gives every room exactly 100 members),
    # 10 senders, each in 10 rooms (disjoint, so every room has one sender) and speaking in
    # them in turn. The ladder is in offered deliveries/s (rate = deliveries / 99): 40k
    # doubling to 20.48M.
    "s": {"clients": 1000, "rooms": 100, "rooms_per_client": 10, "senders": 10,
          "deliveries": [40000 * 2 ** k for k in range(10)]},
    # (w) the same on the whole machine: server and generator not pinned (both may use both
    # cores), obrol with its default worker threads (one per core), InspIRCd as it is.
    "w": {"clients": 1000, "rooms": 100, "rooms_per_client": 10, "senders": 10,
          "deliveries": [40000 * 2 ** k for k in range(10)], "servers": ["obrol", "inspircd"]},
    # (a) 1 room x 1,000 clients, 1 sender: 10 msgs/s (9,990 deliveries/s) doubling to
    # 10,240 msgs/s (~10.2M deliveries/s), plus the 3,840 msgs/s (3.84M/s) target point.
    "a": {"clients": 1000, "rooms": 1, "senders": 1,
                    "rates": sorted([10 * 2 ** k for k in range(2, 11)] + [3840])},
    # (b) 100 rooms x 100 clients, 10 senders: 400 msgs/s (39,600 deliveries/s) doubling.
    "b": {"clients": 10000, "rooms": 100, "senders": 10,
          "rates": [400 * 2 ** k for k in range(10)]},
    # (c) idle clients, each registered in a room of its own; and a join storm into one room.
    "c": {"idle": [10000, 19000], "storm": 5000, "timeout": 300},
    # (d) (a) at 640 msgs/s (639,360 deliveries/s) with and without one stalled client.
    "d": {"clients": 1000, "rate": 640, "warmup": 1.0, "duration": 10.0},
    "seed_timeout": 30,
}
QUICK = {
    "mode": "quick",
    "warmup": 0.5,
    "duration": 1.0,
    "s": {"clients": 1000, "rooms": 100, "rooms_per_client": 10, "senders": 10,
          "deliveries": [40000, 640000]},
    "w": {"clients": 1000, "rooms": 100, "rooms_per_client": 10, "senders": 10,
          "deliveries": [40000, 640000], "servers": ["obrol", "inspircd"]},
    "a": {"clients": 100, "rooms": 1, "senders": 1, "rates": [10, 640, 3840]},
    "b": {"clients": 400, "rooms": 20, "senders": 4, "rates": [400, 6400]},
    "c": {"idle": [300, 600], "storm": 300, "timeout": 120},
    "d": {"clients": 100, "rate": 640, "warmup": 0.5, "duration": 1.5},
    "seed_timeout": 10,
}

SERVERS = ["obrol", "ngircd", "inspircd"]
WORKLOADS = ["s", "w", "a", "b", "c", "d", "f"]
LABEL = {"obrol": "obrol", "ngircd": "ngIRCd 26.1", "inspircd": "InspIRCd 3.15",
         "seed": "seed server.py"}


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Ports and processes


def port_range():
    lo, hi = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()
    return int(lo), int(hi)


def ephemeral_in_use():
    """Sockets (any state, TIME_WAIT included) holding an ephemeral port on 127.0.0.1.

    The generator binds every client to 127.0.0.1:0 before connecting, and such a bind cannot
    reuse a port still in TIME_WAIT, so a 10,000-client run needs 10,000 free ports.
    """
    lo, hi = port_range()
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            local = line.split(None, 2)[1]
            ip, port = local.split(":")
            if ip == "0100007F" and lo <= int(port, 16) <= hi:
                n += 1
    return n, hi - lo + 1


def wait_for_ports(needed, limit=150):
    """Waits (up to `limit` s) until `needed` ephemeral ports are free; returns seconds waited."""
    t0 = time.time()
    said = False
    while True:
        used, total = ephemeral_in_use()
        if total - used >= needed + 300:
            return time.time() - t0
        if time.time() - t0 > limit:
            log("  warning: only %d of %d ephemeral ports free after %.0f s; going on"
                % (total - used, total, limit))
            return time.time() - t0
        if not said:
            log("  waiting for %d free ephemeral ports (%d of %d in use, TIME_WAIT included)"
                % (needed, used, total))
            said = True
        time.sleep(2)


def listening(port):
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split(None, 4)
            if parts[1].endswith(want) and parts[3] == "0A":
                return True
    return False


class PortAllocator:
    """Hands out a fresh listening port for every server start (below the ephemeral range)."""

    def __init__(self):
        self.next = 21000 + (os.getpid() % 50) * 100

    def get(self):
        lo, _ = port_range()
        for _ in range(5000):
            p = self.next
            self.next += 1
            if self.next >= min(lo, 32000):
                self.next = 20000
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
            finally:
                s.close()
        raise RuntimeError("no free port")


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def listen_overflows():
    """TcpExt ListenOverflows: connections dropped because a listen backlog was full."""
    try:
        lines = open("/proc/net/netstat").read().splitlines()
    except OSError:
        return None
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], vals.split()[1:]))
            return int(d.get("ListenOverflows", 0))
    return None


def cpu_secs(pid):
    """User + system CPU seconds of a process so far."""
    try:
        stat = open("/proc/%d/stat" % pid).read()
    except OSError:
        return None
    f = stat[stat.rfind(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def loadavg():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return None


class ServerError(Exception):
    pass


class Server:
    """One fresh instance of a server under test, pinned to core 0 unless `pinned` is False."""

    def __init__(self, kind, ports, tmp, pinned=True):
        self.kind = kind
        self.pinned = pinned
        self.ports = ports
        self.tmp = tmp
        self.proc = None
        self.joiner = None
        self.port = None
        self.cmd = None
        self.logpath = None
        self.starts = 0

    def _command(self, port, rundir):
        if self.kind == "obrol":
            # The generator is one address with thousands of clients sending as fast as they
            # are told: exempt from the per-address limit, the unregistered cap and the line
            # rate, as the peers' configurations turn their flood protection off.
            return [str(OBROL), "serve", "--listen", "irc://127.0.0.1:%d" % port,
                    "--no-console", "--max-clients", "19500", "--exempt", "127.0.0.0/8"]
        if self.kind == "ngircd":
            conf = rundir / "ngircd.conf"
            text = (CONF / "ngircd.conf").read_text()
            conf.write_text(text.replace("@PORT@", str(port)).replace("@RUNDIR@", str(rundir)))
            return ["ngircd", "-n", "-f", str(conf)]
        if self.kind == "inspircd":
            conf = rundir / "inspircd.conf"
            text = (CONF / "inspircd.conf").read_text()
            conf.write_text(text.replace("@PORT@", str(port)).replace("@RUNDIR@", str(rundir)))
            (rundir / "motd.txt").write_text("bench\n")
            return ["inspircd", "--config", str(conf), "--nofork", "--nopid", "--runasroot"]
        if self.kind == "seed":
            return [sys.executable, "-u", str(SEED), "127.0.0.1", str(port)]
        raise ValueError(self.kind)

    def start(self, joiner_spec=None):
        self.stop()
        self.starts += 1
        self.port = self.ports.get()
        rundir = Path(self.tmp) / ("%s-%d" % (self.kind, self.starts))
        rundir.mkdir(parents=True, exist_ok=True)
        os.chmod(rundir, 0o777)  # ngIRCd drops to "nobody" and InspIRCd writes its log here
        cmd = self._command(self.port, rundir)
        self.cmd = (["taskset", "-c", SERVER_CORE] if self.pinned else []) + cmd
        self.logpath = rundir / "server.log"
        logf = open(self.logpath, "wb")
        popen_cmd, env, fds, lsock = self.cmd, None, (), None
        if self.kind == "ngircd":
            # ngIRCd's own listen() uses a compiled-in backlog of 10: 200 simultaneous
            # connects overflow it and the dropped SYNs back off exponentially, so the
            # generator's joins time out beyond ~1,400 clients. ngIRCd also accepts a
            # listening socket from its parent (systemd-style socket activation: LISTEN_PID,
            # LISTEN_FDS, fd 3), so the script listens with a 4096 backlog (like obrol's and
            # InspIRCd's) and hands the socket over.
            lsock = socket.socket()
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind(("127.0.0.1", self.port))
            lsock.listen(LISTEN_BACKLOG)
            fd = lsock.fileno()
            dup = "exec 3<&%d" % fd + ("" if fd == 3 else " %d<&-" % fd)
            popen_cmd = ["sh", "-c", dup + '; exec "$@"', "sh"] + self.cmd
            env = dict(os.environ, LISTEN_PID="1", LISTEN_FDS="1")
            fds = (fd,)
            self.cmd = ["LISTEN_PID=1", "LISTEN_FDS=1"] + self.cmd + [
                "3<>LISTENING_SOCKET(127.0.0.1:%d,backlog=%d)" % (self.port, LISTEN_BACKLOG)]
        self.proc = subprocess.Popen(popen_cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, cwd=rundir, env=env,
                                     pass_fds=fds, start_new_session=True)
        logf.close()
        if lsock is not None:
            lsock.close()
        deadline = time.time() + 15
        while not self.ready():
            if self.proc.poll() is not None or time.time() > deadline:
                tail = self.log_tail()
                self.stop()
                raise ServerError("%s did not start listening on port %d: %s"
                                  % (self.kind, self.port, tail))
            time.sleep(0.05)
        if self.kind == "inspircd" and joiner_spec:
            jcmd = (["taskset", "-c", GEN_CORE] if self.pinned else []) + [
                sys.executable, "-u", str(JOINER), str(self.port), joiner_spec]
            self.joiner = subprocess.Popen(jcmd, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE,
                                           stderr=open(rundir / "joiner.log", "wb"),
                                           start_new_session=True)
            line = self.joiner.stdout.readline()
            if b"ready" not in line:
                self.stop()
                raise ServerError("InspIRCd joiner did not become ready: %s"
                                  % (rundir / "joiner.log").read_text()[-300:])
        return self

    def ready(self):
        if not listening(self.port):
            return False
        if self.kind == "ngircd":  # the socket listens before ngIRCd runs: wait for its word
            try:
                return b" ready." in self.logpath.read_bytes()
            except OSError:
                return False
        return True

    @property
    def pid(self):
        return self.proc.pid

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def log_tail(self, n=400):
        try:
            return self.logpath.read_bytes()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""

    def log_count(self, pattern):
        try:
            return len(re.findall(pattern.encode(), self.logpath.read_bytes()))
        except OSError:
            return 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        for p in (self.joiner, self.proc):
            if p is None or p.poll() is not None:
                continue
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            except ProcessLookupError:
                pass
        self.joiner = None
        self.proc = None


# Lines each server logs when it drops a client that does not keep up.
DROP_PATTERNS = {
    "obrol": r"disconnecting slow consumer",
    "ngircd": r"[Ww]rite buffer|[Ss]end[Qq]",
    "inspircd": r"SendQ exceeded|RecvQ exceeded|Excess Flood",
    "seed": r"$^",
}


# ---------------------------------------------------------------------------------------------
# IRC helpers


def irc_register(port, nick, join=None, timeout=10.0, rcvbuf=None):
    """Registers `nick` properly (waits for 001 before JOIN); returns (socket, info dict)."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    t0 = time.time()
    s.connect(("127.0.0.1", port))
    s.sendall(("NICK %s\r\nUSER %s 0 * :%s\r\n" % (nick, nick, nick)).encode())
    buf = b""
    info = {}
    want = " 001 "
    while True:
        if time.time() - t0 > timeout:
            raise TimeoutError("no %r within %.0f s; got %r" % (want.strip(), timeout, buf[-200:]))
        data = s.recv(65536)
        if not data:
            raise ConnectionError("closed during registration: %r" % buf[-200:])
        buf += data
        for line in buf.split(b"\r\n"):
            if line.startswith(b"PING "):
                s.sendall(b"PONG " + line[5:] + b"\r\n")
        text = buf.decode(errors="replace")
        if want == " 001 " and " 001 " in text:
            info["registered_ms"] = round(1000 * (time.time() - t0), 1)
            if not join:
                break
            s.sendall(("JOIN %s\r\n" % join).encode())
            want = " 366 %s %s " % (nick, join)
        if want.startswith(" 366") and want in text:
            info["joined_ms"] = round(1000 * (time.time() - t0), 1)
            break
        buf = buf.replace(b"PING ", b"ping ")
    return s, info


def verify(server):
    """Checks that a freshly started server accepts an IRC registration and a JOIN."""
    nick = "chk%d" % (os.getpid() % 100000)
    s, info = irc_register(server.port, nick, join="#check", timeout=10)
    s.sendall(b"QUIT :check done\r\n")
    s.close()
    return info


def probe_seed(port):
    """What the seed server answers to the generator's plain-protocol handshake."""
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(b"/nick probe\n/join r0\n")
    s.settimeout(2)
    buf = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    s.close()
    return buf.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# Runs


class Runner:
    def __init__(self, cfg, out, servers, rungs=None):
        self.cfg = cfg
        self.rungs = rungs
        self.out = Path(out)
        self.raw = self.out / "raw"
        self.servers = servers
        self.tmp = tempfile.mkdtemp(prefix="obrol-bench-")
        self.ports = PortAllocator()
        self.seq = 0
        self.live = []
        self.meta = {"mode": cfg["mode"], "started": now(), "cfg": cfg, "verify": {},
                     "excluded": {}, "versions": versions(), "machine": machine()}

    # -- bookkeeping

    def server(self, kind, pinned=True):
        s = Server(kind, self.ports, self.tmp, pinned)
        self.live.append(s)
        return s

    def cleanup(self):
        for s in self.live:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def save(self, rec):
        self.seq += 1
        rec["seq"] = self.seq
        name = "%03d-%s-%s-%s.json" % (self.seq, rec["workload"], rec["server"],
                                         re.sub(r"[^A-Za-z0-9]+", "_", str(rec.get("label", ""))))
        (self.raw / name).write_text(json.dumps(rec, separators=(",", ":"), sort_keys=True) + "\n")
        return rec

    def gen(self, args, timeout, pinned=True):
        pin = ["taskset", "-c", GEN_CORE] if pinned else []
        cmd = pin + [str(OBROL), "bench"] + [str(a) for a in args] + ["--json"]
        t0 = time.time()
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, "did not finish within %d s" % timeout, cmd, time.time() - t0
        if p.returncode != 0:
            err = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
            return None, err, cmd, time.time() - t0
        try:
            return json.loads(p.stdout), None, cmd, time.time() - t0
        except ValueError:
            return None, "unparsable output: %r" % p.stdout[:200], cmd, time.time() - t0

    def hub_args(self, srv, proto, clients, rooms, senders, rate, warmup, duration,
                 rooms_per_client=1):
        per = ["--rooms-per-client", rooms_per_client] if rooms_per_client != 1 else []
        return ["hub", "--addr", srv.addr, "--protocol", proto, "--clients", clients,
                "--rooms", rooms] + per + [
                "--senders", senders, "--rate", rate, "--size", MSG_SIZE,
                "--warmup", warmup, "--duration", duration, "--pid", srv.pid]

    def hub_run(self, workload, kind, label, proto, clients, rooms, senders, rate,
                warmup=None, duration=None, before_gen=None, extra=None, timeout=None,
                rooms_per_client=1, pinned=True):
        """Fresh server, one generator run, server stopped; returns the saved record."""
        warmup = self.cfg["warmup"] if warmup is None else warmup
        duration = self.cfg["duration"] if duration is None else duration
        srv = self.server(kind, pinned)
        rec = {"workload": workload, "server": kind, "label": label, "protocol": proto,
               "params": {"clients": clients, "rooms": rooms, "senders": senders, "rate": rate,
                          "rooms_per_client": rooms_per_client, "pinned": pinned,
                          "size": MSG_SIZE, "warmup": warmup, "duration": duration},
               "started": now()}
        try:
            srv.start(joiner_spec="r:%d:%d" % (rooms, rooms_per_client))
        except ServerError as e:
            rec["error"] = str(e)
            log("  %s: %s" % (kind, e))
            return self.save(rec)
        rec["server_cmd"] = " ".join(srv.cmd)
        try:
            rec["ports_wait_secs"] = round(wait_for_ports(clients + 10), 1)
            state = before_gen(srv) if before_gen else None
            rec["loadavg"] = loadavg()
            rec["server_rss_before_kib"] = rss_kib(srv.pid)
            if timeout is None:
                timeout = int(90 + clients * 0.03 + warmup + duration)
            ov = listen_overflows()
            c0 = cpu_secs(srv.pid)
            res, err, cmd, secs = self.gen(
                self.hub_args(srv, proto, clients, rooms, senders, rate, warmup, duration,
                              rooms_per_client),
                timeout, pinned)
            c1 = cpu_secs(srv.pid)
            if c0 is not None and c1 is not None:
                rec["server_cpu_secs_total"] = round(c1 - c0, 2)
            if ov is not None:
                rec["listen_overflows"] = listen_overflows() - ov
            rec["cmd"] = " ".join(cmd)
            rec["wall_secs"] = round(secs, 1)
            rec["server_alive_after"] = srv.alive()
            if extra:
                rec.update(extra(srv, state) or {})
            if res is not None:
                rec["result"] = res
            else:
                rec["error"] = err
        finally:
            rec["server_drops_logged"] = srv.log_count(DROP_PATTERNS[kind])
            srv.stop()
        return self.save(rec)

    # -- workloads

    def check_servers(self):
        for kind in list(self.servers):
            srv = self.server(kind)
            try:
                srv.start()
                info = verify(srv)
                self.meta["verify"][kind] = info
                log("%s accepts registration (001 after %.0f ms) and JOIN (366 after %.0f ms)"
                    % (LABEL[kind], info["registered_ms"], info["joined_ms"]))
            except Exception as e:  # noqa: BLE001
                log("%s: check failed: %s" % (LABEL[kind], e))
                self.meta["excluded"][kind] = "registration check failed: %s" % e
                self.servers.remove(kind)
            finally:
                srv.stop()

    def check_seed(self):
        """Can the generator drive the seed's server.py at all?"""
        srv = self.server("seed")
        try:
            srv.start()
        except ServerError as e:
            self.meta["seed"] = {"drivable": False, "why": str(e)}
            return
        info = {"server_cmd": " ".join(srv.cmd)}
        try:
            # No probe connection first: server.py never forgets a departed client, and the
            # first relay to its closed socket would kill the sender's thread.
            to = self.cfg["seed_timeout"]
            args = self.hub_args(srv, "raw", 2, 1, 1, 10, 0.5, 1)
            res, err, cmd, secs = self.gen(args, to)
            info.update({"cmd": " ".join(cmd), "timeout_secs": to, "wall_secs": round(secs, 1)})
            if res is not None and res.get("delivered", 0) > 0:
                info["drivable"] = True
                info["result"] = res
            else:
                info["drivable"] = False
                info["why"] = err or "no deliveries"
        finally:
            srv.stop()
        self.meta["seed"] = info
        rec = {"workload": "seedcheck", "server": "seed", "label": "check", "started": now()}
        rec.update(info)
        self.save(rec)
        log("seed server.py drivable by the generator: %s (%s)"
            % (info["drivable"], info.get("why", "")))

    def ladder(self, workload, kinds, proto, w, stop, pinned=True):
        """Runs the rungs of `w` in order for each server until `stop` says so twice.

        The rungs are w["rates"] (msgs/s over all senders, the label) or w["deliveries"]
        (offered deliveries/s, the label; rate = deliveries / (room size - 1), the rooms being
        equal). --rungs N keeps the first N.
        """
        per = w.get("rooms_per_client", 1)
        if "deliveries" in w:
            fanout = w["clients"] * per // w["rooms"] - 1
            rungs = [(d, d / fanout) for d in w["deliveries"]]
        else:
            rungs = [(r, r) for r in w["rates"]]
        if self.rungs is not None:
            rungs = rungs[:self.rungs]
        for kind in kinds:
            bad = 0
            for label, rate in rungs:
                log("(%s) %s: %d clients, %d rooms (%d per client), %d senders, %.6g msgs/s%s"
                    % (workload, LABEL[kind], w["clients"], w["rooms"], per, w["senders"], rate,
                       "" if pinned else ", unpinned"))
                rec = self.hub_run(workload, kind, label, proto, w["clients"], w["rooms"],
                                   w["senders"], rate, rooms_per_client=per, pinned=pinned)
                r = rec.get("result")
                if r:
                    log("    %.2f%% of %.0f deliveries/s, p99 %.1f ms, server CPU %.0f%%, "
                        "generator CPU %.0f%%" % (r["delivered_pct"],
                                                  r["offered_deliveries_per_sec"],
                                                  r["latency"]["p99_us"] / 1000,
                                                  r.get("server_cpu_pct") or 0,
                                                  r["bench_cpu_pct"]))
                else:
                    log("    failed: %s" % rec.get("error"))
                if r is None or stop(r):
                    bad += 1
                    if bad >= 2:
                        log("    stopping this ladder (stop condition met twice)")
                        break

    def workload_s(self):
        """Shared rooms, server and generator pinned to a core each."""
        self.ladder("s", list(self.servers), "irc", self.cfg["s"], shared_rooms_stop)

    def workload_w(self):
        """Shared rooms on the whole machine: nothing pinned, obrol with its default threads."""
        w = self.cfg["w"]
        kinds = [k for k in self.servers if k in w["servers"]]
        if not kinds:
            log("(w) none of %s selected; skipped" % ", ".join(w["servers"]))
            return
        self.ladder("w", kinds, "irc", w, shared_rooms_stop, pinned=False)

    def workload_a(self):
        w = self.cfg["a"]
        kinds = list(self.servers)
        if self.meta.get("seed", {}).get("drivable"):
            kinds.append("seed")
        for kind in kinds:
            # The seed's server.py speaks no protocol: it greets and relays raw bytes.
            proto = "raw" if kind == "seed" else "irc"
            self.ladder("a", [kind], proto, w, lambda r: r["delivered_pct"] < 50)

    def workload_b(self):
        self.ladder("b", list(self.servers), "irc", self.cfg["b"],
                    lambda r: r["delivered_pct"] < 90 or r["latency"]["p99_us"] > 1_000_000)

    def workload_c(self):
        c = self.cfg["c"]
        for kind in self.servers:
            for n in c["idle"]:
                log("(c) %s: %d idle clients" % (LABEL[kind], n))
                srv = self.server(kind)
                rec = {"workload": "c-idle", "server": kind, "label": n, "started": now(),
                       "params": {"clients": n, "timeout": c["timeout"]}}
                try:
                    srv.start(joiner_spec="idle")
                    rec["server_cmd"] = " ".join(srv.cmd)
                    rec["ports_wait_secs"] = round(wait_for_ports(n + 10), 1)
                    rec["loadavg"] = loadavg()
                    ov = listen_overflows()
                    res, err, cmd, secs = self.gen(
                        ["idle", "--addr", srv.addr, "--protocol", "irc", "--clients", n,
                         "--pid", srv.pid], c["timeout"])
                    if ov is not None:
                        rec["listen_overflows"] = listen_overflows() - ov
                    rec.update({"cmd": " ".join(cmd), "wall_secs": round(secs, 1)})
                    if res is not None:
                        rec["result"] = res
                        log("    %.2f KiB/client, %.0f registrations/s"
                            % (res.get("server_kib_per_client") or 0, res["connects_per_sec"]))
                    else:
                        rec["error"] = err
                        log("    failed: %s" % err)
                except ServerError as e:
                    rec["error"] = str(e)
                finally:
                    srv.stop()
                self.save(rec)
            n = c["storm"]
            log("(c) %s: join storm, %d clients into one room" % (LABEL[kind], n))
            rec = self.hub_run("c-storm", kind, n, "irc", n, 1, 1, 1, warmup=1.0, duration=1.0,
                               timeout=c["timeout"])
            r = rec.get("result")
            if r:
                log("    joined in %.2f s" % r["connect_secs"])
            else:
                log("    failed: %s" % rec.get("error"))

    def workload_d(self):
        d = self.cfg["d"]
        for kind in self.servers:
            for stalled in (False, True):
                log("(d) %s: %d clients at %d msgs/s, %s stalled client"
                    % (LABEL[kind], d["clients"], d["rate"], "one" if stalled else "no"))
                before = extra = None
                if stalled:
                    before = stall_start
                    extra = stall_finish
                rec = self.hub_run("d", kind, "stalled" if stalled else "baseline", "irc",
                                   d["clients"], 1, 1, d["rate"], warmup=d["warmup"],
                                   duration=d["duration"], before_gen=before, extra=extra)
                r = rec.get("result")
                if r:
                    log("    p99 %.1f ms, %.2f%% delivered%s"
                        % (r["latency"]["p99_us"] / 1000, r["delivered_pct"],
                           "; stalled client: %s" % rec.get("stall", {}).get("state")
                           if stalled else ""))
                else:
                    log("    failed: %s" % rec.get("error"))

    def workload_f(self):
        """Twice the saturation rate found in (b) (or (a) when (b) has none)."""
        runs = load_runs(self.raw)
        for kind in self.servers:
            for wl in ("b", "a"):
                sat = saturation(runs, wl, kind)
                if sat:
                    break
            if not sat:
                log("(f) %s: no saturation point found; skipped" % LABEL[kind])
                self.meta.setdefault("f_skipped", {})[kind] = "no healthy rung in (b) or (a)"
                continue
            w = self.cfg[wl]
            rate = 2 * sat["rate"]
            log("(f) %s: 2 x saturation of (%s) = %s msgs/s" % (LABEL[kind], wl, rate))
            rec = self.hub_run("f", kind, "%s-%s" % (wl, rate), "irc", w["clients"], w["rooms"],
                               w["senders"], rate,
                               extra=lambda srv, st, sat=sat, wl=wl: {"basis": dict(sat, workload=wl)})
            r = rec.get("result")
            if r:
                log("    %.2f%% delivered, %.0f deliveries/s (peak %.0f)"
                    % (r["delivered_pct"], r["deliveries_per_sec"], sat["peak"]))


def shared_rooms_stop(r):
    """A bad rung of (s) or (w): as (b)'s, or the generator at its limit (climbing further
    would measure only the generator)."""
    return (r["delivered_pct"] < 90 or r["latency"]["p99_us"] > 1_000_000
            or r["bench_cpu_pct"] >= GEN_LIMIT)


def stall_start(srv):
    """Opens the stalled client: registers, joins #r0, then never reads again."""
    nick = "stall%d" % (os.getpid() % 100000)
    s, info = irc_register(srv.port, nick, join="#r0", timeout=15, rcvbuf=4096)
    info["nick"] = nick
    info["rcvbuf"] = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return (s, info)


def stall_finish(srv, state):
    """After the run: was the stalled client disconnected by the server?"""
    s, info = state
    s.settimeout(0.5)
    got = 0
    st = "still connected"
    t0 = time.time()
    try:
        while time.time() - t0 < 3:
            d = s.recv(1 << 20)
            if not d:
                st = "disconnected by the server"
                break
            got += len(d)
    except socket.timeout:
        pass
    except OSError as e:
        st = "disconnected by the server (%s)" % e.strerror
    s.close()
    info.update({"state": st, "bytes_left_unread": got})
    return {"stall": info}


def load_runs(raw):
    runs = []
    for p in sorted(Path(raw).glob("*.json")):
        try:
            runs.append(json.loads(p.read_text()))
        except ValueError:
            pass
    return runs


def saturation(runs, workload, kind):
    """Highest healthy rung (>= 99% delivered, p99 < 1 s, generator below GEN_LIMIT) and the
    peak deliveries/s. A generator-limited rung is no measure of the server's saturation."""
    rungs = [r for r in runs if r["workload"] == workload and r["server"] == kind
             and r.get("result")]
    if not rungs:
        return None
    healthy = [r for r in rungs if r["result"]["delivered_pct"] >= 99.0
               and r["result"]["latency"]["p99_us"] < 1_000_000
               and r["result"]["bench_cpu_pct"] < GEN_LIMIT]
    if not healthy:
        return None
    best = max(healthy, key=lambda r: r["params"]["rate"])
    # A rung with p99 >= 1 s delivered much of its count after the load stopped: no peak.
    measured = [r for r in rungs if r["result"]["latency"]["p99_us"] < 1_000_000
                and r["result"]["bench_cpu_pct"] < GEN_LIMIT]
    peak = max(measured, key=lambda r: r["result"]["deliveries_per_sec"])
    return {"rate": best["params"]["rate"],
            "offered": best["result"]["offered_deliveries_per_sec"],
            "peak": peak["result"]["deliveries_per_sec"],
            "peak_rate": peak["params"]["rate"]}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def versions():
    v = {}
    v["obrol"] = sh([str(OBROL), "--version"])
    v["ngircd"] = (sh(["ngircd", "--version"]).splitlines() or [""])[0]
    v["inspircd"] = sh(["dpkg-query", "-W", "-f=${Version}", "inspircd"])
    v["ngircd_pkg"] = sh(["dpkg-query", "-W", "-f=${Version}", "ngircd"])
    v["python"] = sys.version.split()[0]
    return v


def machine():
    m = {}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                m["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    m["nproc"] = os.cpu_count()
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                m["mem_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    m["kernel"] = os.uname().release
    m["os"] = ""
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                m["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    m["date"] = now()
    m["loadavg_start"] = open("/proc/loadavg").read().strip()
    m["nofile"] = sh(["sh", "-c", "ulimit -n"])
    m["port_range"] = "%d-%d" % port_range()
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short runs, small client counts")
    ap.add_argument("--out", default=None,
                    help="where RESULTS.md, chart.svg, raw/ go (default bench/; its raw/*.json "
                         "are replaced, so a partial run needs an explicit --out)")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help="comma-separated subset of %s" % ",".join(SERVERS))
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help="comma-separated subset of %s ((e) comes from (c))"
                         % ",".join(WORKLOADS))
    ap.add_argument("--rungs", type=int, default=None, metavar="N",
                    help="only the N lowest rungs of each ladder (a, b, s, w)")
    ap.add_argument("--check-args", action="store_true",
                    help="only check the arguments (exit 2 if they are wrong)")
    args = ap.parse_args()

    def usage(msg):
        print("bench/compare: %s" % msg, file=sys.stderr)
        sys.exit(2)

    cfg = QUICK if args.quick else FULL
    servers = [s for s in args.servers.split(",") if s]
    for s in servers:
        if s not in SERVERS:
            usage("unknown server %r" % s)
    wls = set(w for w in args.workloads.split(",") if w)
    for w in wls:
        if w not in WORKLOADS:
            usage("unknown workload %r (%s)" % (w, ",".join(WORKLOADS)))
    partial = (args.quick or args.rungs is not None or set(servers) != set(SERVERS)
               or wls != set(WORKLOADS))
    if args.out is None and partial:
        usage("a partial run (--quick, --rungs, --servers or --workloads) would replace "
              "the recorded bench/raw/; give it an --out DIR")
    if args.rungs is not None and args.rungs < 1:
        usage("--rungs needs N >= 1")
    if args.check_args:
        return
    out = Path(args.out or BENCH)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for p in raw.glob("*.json"):
        p.unlink()
    run = Runner(cfg, out, servers, args.rungs)
    run.meta["workloads"] = sorted(wls)
    run.meta["argv"] = sys.argv[1:]
    run.meta["rungs"] = args.rungs

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.time()
    try:
        log("mode %s; output in %s; servers: %s" % (cfg["mode"], out, ", ".join(servers)))
        run.check_servers()
        if "a" in wls:  # the seed's server.py takes part in (a) only
            run.check_seed()
        # The headline first: an interrupted run still has it.
        if "s" in wls:
            run.workload_s()
        if "w" in wls:
            run.workload_w()
        if "a" in wls:
            run.workload_a()
        if "b" in wls:
            run.workload_b()
        if "c" in wls:
            run.workload_c()
        if "d" in wls:
            run.workload_d()
        if "f" in wls:
            run.workload_f()
    except KeyboardInterrupt:
        log("interrupted; writing what was measured")
        run.meta["interrupted"] = True
    finally:
        run.cleanup()
        run.meta["finished"] = now()
        run.meta["elapsed_secs"] = round(time.time() - t0)
        (raw / "meta.json").write_text(json.dumps(run.meta, separators=(",", ":"),
                                                  sort_keys=True) + "\n")
    log("done in %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
