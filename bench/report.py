#!/usr/bin/env python3
"""Writes RESULTS.md and chart.svg from the raw JSON files of a bench/compare run.

Usage: python3 bench/report.py [OUT]   (OUT defaults to bench/; reads OUT/raw/*.json)
Standard library only; the chart is hand-written SVG.
"""
import json
import re
import math
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVERS = ["obrol", "ngircd", "inspircd", "seed"]
LABEL = {"obrol": "obrol", "ngircd": "ngIRCd 26.1", "inspircd": "InspIRCd 3.15",
         "seed": "seed server.py"}
COLOR = {"obrol": "#d62728", "ngircd": "#1f77b4", "inspircd": "#2ca02c", "seed": "#9467bd"}
DASH = {"obrol": "", "ngircd": "9,4", "inspircd": "3,3", "seed": "12,3,3,3"}
MARKER = {"obrol": "circle", "ngircd": "square", "inspircd": "triangle", "seed": "diamond"}
GEN_BOUND = 90.0  # generator CPU % above which a row is flagged
# A rung with the generator at or above GEN_LIMIT % of its core, or with p99 at or above 1 s,
# is *generator-limited* (or backlogged): it never counts as a server's saturation point or as
# "met". The same bound is in bench/compare.py.
GEN_LIMIT = 95.0
P99_LIMIT_US = 1_000_000
PRESERVE = "## What limits obrol now"

# Targets (for obrol). Keys are used by summary().
TARGETS = {
    "s": "(s) shared rooms (100 x 100, 10 senders in 10 rooms each): highest healthy rung",
    "w": "(w) the same on the whole machine (nothing pinned): highest healthy rung",
    "a": "(a) at 3.84M/s offered: 100% delivered, p99 <= 10 ms, CPU <= 60%",
    "b1": "(b) >= 2M deliveries/s with >= 99.9% delivered",
    "b2": "(b) p99 <= 20 ms (and >= 99.9% delivered) at 640k/s",
    "c1": "(c) <= 2 KiB per idle client",
    "c2": "(c) 19,000 idle clients held",
    "c3": "(c) join storm of 5,000 in <= 2 s at <= 3 KiB/client",
    "d": "(d) a stalled client changes the others' p99 by < 20%",
    "e": "(e) >= 20,000 registrations/s",
    "f": "(f) >= 90% of peak deliveries/s under 2x overload",
    "g": "(g) multicast",
    "h": "(h) history on: 3.84M/s in one room p99 <= 15 ms; shared rooms p99 within 20% of off; 50 replayed to 5,000 joiners <= 2 s; BEFORE and search <= 50 ms p99 on 10M",
    "i": "(i) browser client: an idle WebSocket client <= 2x an idle IRC client; first load < 100 KB compressed",
}
# Targets measured by hand or by another driver, not from bench/raw: their rows in the summary
# (written by hand with the numbers) and their sections are kept from the current RESULTS.md.
HAND = {
    "g": ("see section (g): measured by `bench/mcast/run`", "(no multicast)"),
    "h": ("see section (h2)", "(no history)"),
    "i": ("see section (i): measured by `bench/ws_idle.py`", "(not measured)"),
}
HAND_SECTIONS = ("## (g) Multicast", "## (h) History", "## (i) WebSocket")


# ---------------------------------------------------------------------------------------------
# formatting


def num(x):
    return "{:,.0f}".format(x)


def si(x):
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            v = x / div
            return ("%.3g" % v) + suf
    return "%.3g" % x


def lat(us):
    if us is None:
        return "–"
    if us >= 1_000_000:
        return "%.2f s" % (us / 1e6)
    if us >= 1000:
        return ("%.1f ms" % (us / 1000)) if us < 100_000 else ("%.0f ms" % (us / 1000))
    return "%d µs" % us


def pct(p):
    if p is None:
        return "–"
    if p >= 100.0:
        return "100%"
    if p >= 99.0:
        return "%.3f%%" % p
    return "%.1f%%" % p


def cpu(p):
    return "–" if p is None else "%.0f%%" % p


def us_per_delivery(r):
    c = r.get("server_cpu_pct")
    d = r.get("deliveries_per_sec") or 0
    if c is None or c <= 0 or d <= 0:
        return "–"
    return "%.2f µs" % (c / 100 * 1e6 / d)


def gen_cell(r):
    g = r["bench_cpu_pct"]
    if g >= GEN_LIMIT:
        return "%.0f%% ⚠ generator-limited" % g
    return ("%.0f%% ⚠" % g) if g > GEN_BOUND else ("%.0f%%" % g)


def gen_limited(x):
    """The generator, not the server, may have set this result."""
    return x["bench_cpu_pct"] >= GEN_LIMIT


def limited(x):
    """Why a result cannot count as saturation or "met": the generator at its limit, or a
    backlog (p99 >= 1 s: the load is not being carried, whoever is slow). None if it can."""
    if gen_limited(x):
        return "generator-limited"
    if x["latency"]["p99_us"] >= P99_LIMIT_US:
        return "p99 >= 1 s"
    return None


def mark(ok):
    return "–" if ok is None else ("met" if ok else "**not met**")


# ---------------------------------------------------------------------------------------------
# loading


def load(out):
    raw = Path(out) / "raw"
    runs = []
    meta = {}
    for p in sorted(raw.glob("*.json")):
        d = json.loads(p.read_text())
        if p.name == "meta.json":
            meta = d
        elif "workload" in d:
            runs.append(d)
    runs.sort(key=lambda r: r.get("seq", 0))
    return meta, runs


def pick(runs, workload, server=None, label=None):
    out = [r for r in runs if r["workload"] == workload
           and (server is None or r["server"] == server)
           and (label is None or str(r.get("label")) == str(label))]
    return out


def ok_result(runs, workload, server, label):
    for r in pick(runs, workload, server, label):
        if r.get("result"):
            return r
    return None


def servers_in(runs, meta):
    present = {r["server"] for r in runs if r["workload"] != "seedcheck"}
    return [s for s in SERVERS if s in present]


# ---------------------------------------------------------------------------------------------
# summary


def saturation(runs, workload, kind):
    """The highest healthy rung (>= 99% delivered, not `limited`) and the peak deliveries/s."""
    rungs = [r for r in pick(runs, workload, kind) if r.get("result")]
    if not rungs:
        return None
    healthy = [r for r in rungs if r["result"]["delivered_pct"] >= 99.0
               and not limited(r["result"])]
    # The peak counts only rungs that measure the server: one whose p99 reached 1 s delivered
    # much of its count after the offered load stopped, and a generator-limited one measured
    # the generator.
    measured = [r for r in rungs if not limited(r["result"])] or rungs
    peak = max(measured, key=lambda r: r["result"]["deliveries_per_sec"])
    best = max(healthy, key=lambda r: r["params"]["rate"]) if healthy else None
    return {"best": best, "peak": peak}


def peak_of(runs, basis, kind):
    """(f)'s peak: recomputed from the basis workload's rungs (older raw files stored a peak
    that counted late-delivery rungs), falling back to what the run stored."""
    sat = saturation(runs, basis.get("workload"), kind) if basis.get("workload") else None
    if sat:
        return sat["peak"]["result"]["deliveries_per_sec"]
    return basis.get("peak")


def summary(meta, runs, kinds, results=None):
    cfg = meta.get("cfg", {})
    rows = []

    def cell_a(k):
        r = ok_result(runs, "a", k, 3840)
        if not r:
            return "not run", None
        x = r["result"]
        ok = x["delivered_pct"] >= 100.0 and x["latency"]["p99_us"] <= 10_000 \
            and (x.get("server_cpu_pct") or 0) <= 60
        return judged(x, "%s delivered, p99 %s, CPU %s" % (pct(x["delivered_pct"]),
                                                           lat(x["latency"]["p99_us"]),
                                                           cpu(x.get("server_cpu_pct"))), ok)

    def cell_b1(k):
        rs = [r for r in pick(runs, "b", k) if r.get("result")]
        if not rs:
            return "not run", None
        good = [r for r in rs if r["result"]["delivered_pct"] >= 99.9]
        fair = [r for r in good if not limited(r["result"])]
        left = len(good) - len(fair)
        note = " (%d higher rung%s generator-limited or p99 >= 1 s, not counted)" % (
            left, "" if left == 1 else "s") if left and fair and max(
                r["result"]["deliveries_per_sec"] for r in good) > max(
                r["result"]["deliveries_per_sec"] for r in fair) else ""
        if not fair:
            if good:
                return "every rung with >= 99.9% delivered was generator-limited or had " \
                    "p99 >= 1 s", None
            return "no rung with >= 99.9% delivered", False
        best = max(fair, key=lambda r: r["result"]["deliveries_per_sec"])
        v = best["result"]["deliveries_per_sec"]
        return "%s/s (p99 %s)%s" % (si(v), lat(best["result"]["latency"]["p99_us"]),
                                    note), v >= 2e6

    def cell_b2(k):
        r = ok_result(runs, "b", k, 6400)
        if not r:
            return "not run", None
        x = r["result"]
        ok = x["latency"]["p99_us"] <= 20_000 and x["delivered_pct"] >= 99.9
        return judged(x, "p99 %s, %s delivered (%s/s offered)" % (
            lat(x["latency"]["p99_us"]), pct(x["delivered_pct"]),
            si(x["offered_deliveries_per_sec"])), ok)

    def cell_c1(k):
        vals = []
        for r in pick(runs, "c-idle", k):
            if r.get("result") and r["result"].get("server_kib_per_client") is not None:
                vals.append((r["params"]["clients"], r["result"]["server_kib_per_client"]))
        if not vals:
            return "not run", None
        worst = max(v for _, v in vals)
        return ", ".join("%.2f KiB (%s)" % (v, num(n)) for n, v in vals), worst <= 2.0

    def cell_c2(k):
        idle = cfg.get("c", {}).get("idle", [19000])
        n = max(idle) if idle else 19000
        rs = pick(runs, "c-idle", k, n)
        if not rs:
            return "not run", None
        r = rs[0]
        if r.get("result"):
            return "%s held" % num(n), n >= 19000
        return "did not finish (%s)" % short(r.get("error")), False

    def cell_c3(k):
        rs = pick(runs, "c-storm", k)
        if not rs:
            return "not run", None
        r = rs[0]
        if not r.get("result"):
            return "did not finish (%s)" % short(r.get("error")), False
        x = r["result"]
        per = storm_per_client(r)
        before = r.get("server_rss_before_kib")
        peak = x.get("server_peak_rss_kib")
        peak_per = (peak - before) / x["clients"] if peak and before is not None else None
        # Judged on the peak where it is known: "using" means at its worst, not after.
        worst = peak_per if peak_per is not None else per
        ok = x["connect_secs"] <= 2.0 and worst is not None and worst <= 3.0 \
            and x["clients"] >= 5000
        text = "%s in %.2f s, %s KiB/client" % (num(x["clients"]), x["connect_secs"],
                                                "–" if per is None else "%.2f" % per)
        if peak_per is not None:
            text += " (peak %.2f)" % peak_per
        return text, ok

    def cell_d(k):
        b = ok_result(runs, "d", k, "baseline")
        s = ok_result(runs, "d", k, "stalled")
        if not (b and s):
            return "not run", None
        p0 = b["result"]["latency"]["p99_us"]
        p1 = s["result"]["latency"]["p99_us"]
        ch = 100.0 * (p1 - p0) / max(p0, 1)
        text = "%s → %s (%+.0f%%)" % (lat(p0), lat(p1), ch)
        return judged(b["result"], *judged(s["result"], text, abs(ch) < 20))

    def cell_e(k):
        rs = [r for r in pick(runs, "c-idle", k) if r.get("result")]
        if not rs:
            return "not run", None
        r = min(rs, key=lambda r: r["params"]["clients"])
        v = r["result"]["connects_per_sec"]
        return "%s/s (%s clients)" % (num(v), num(r["params"]["clients"])), v >= 20000

    def cell_f(k):
        rs = [r for r in pick(runs, "f", k) if r.get("result")]
        if not rs:
            return "not run", None
        r = rs[0]
        peak = peak_of(runs, r.get("basis", {}), k)
        v = r["result"]["deliveries_per_sec"]
        if not peak:
            return "no peak", None
        rel = 100.0 * v / peak
        text = "%.0f%% of peak (%s/s of %s/s)" % (rel, si(v), si(peak))
        # Overload is meant to build a backlog: only the generator's limit voids this one.
        if gen_limited(r["result"]):
            return text + ", generator-limited: not judged", None
        return text, rel >= 90

    def cell_shared(wl):
        def cell(k):
            rs = [r for r in pick(runs, wl, k) if r.get("result")]
            if not rs:
                return "not run", None
            sat = saturation(runs, wl, k)
            if not sat or not sat["best"]:
                return "no healthy rung", None
            x = sat["best"]["result"]
            return "%s/s offered, %s delivered, p99 %s, CPU %s" % (
                si(x["offered_deliveries_per_sec"]), pct(x["delivered_pct"]),
                lat(x["latency"]["p99_us"]), cpu(x.get("server_cpu_pct"))), None
        return cell

    cells = {"s": cell_shared("s"), "w": cell_shared("w"), "a": cell_a, "b1": cell_b1, "b2": cell_b2, "c1": cell_c1, "c2": cell_c2,
             "c3": cell_c3, "d": cell_d, "e": cell_e, "f": cell_f}
    ks = [k for k in kinds if k != "seed"]
    head = "| target | " + " | ".join(LABEL[k] for k in ks) + " |"
    rows.append(head)
    rows.append("|---" * (len(ks) + 1) + "|")
    for key, text in TARGETS.items():
        if key in ("s", "w") and not pick(runs, key):
            continue
        if key in HAND:
            # Measured by hand or by another driver (bench/mcast/run, bench/ws_idle.py): the
            # row as RESULTS.md has it, or a pointer to its section.
            kept = preserved_row(results, key, len(ks) + 1) if results is not None else None
            where, peers = HAND[key]
            rows.append(kept or "| %s | %s |%s" % (text, where, (" %s |" % peers) * (len(ks) - 1)))
            continue
        out = []
        for k in ks:
            val, ok = cells[key](k)
            out.append(val if ok is None else "%s — %s" % (val, mark(ok)))
        rows.append("| %s | %s |" % (text, " | ".join(out)))
    return "\n".join(rows)


def judged(x, text, ok):
    """(text, ok), or not judged when the result is `limited`."""
    why = limited(x)
    if why and ok is not None:
        return "%s, %s: not judged" % (text, why), None
    return text, ok


def short(s, n=80):
    s = (s or "").replace("|", "/").replace("\n", " ")
    return s if len(s) <= n else s[: n - 1] + "…"


def storm_per_client(r):
    x = r.get("result") or {}
    after = x.get("server_rss_kib")
    before = r.get("server_rss_before_kib")
    if after is None or before is None or not x.get("clients"):
        return None
    return (after - before) / x["clients"]


# ---------------------------------------------------------------------------------------------
# tables


HUB_HEAD = ("| server | offered deliveries/s | delivered | deliveries/s | p50 | p99 | p99.9 "
            "| server CPU | server CPU per delivery | generator CPU |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def hub_row(r, name=None, offered=None):
    name = name or LABEL[r["server"]]
    if r.get("server_alive_after") is False:
        name += " (server exited)"
    if not r.get("result"):
        rate = r.get("params", {}).get("rate")
        return "| %s | (%s msgs/s) | did not finish: %s | | | | | | | |" % (
            name, rate, short(r.get("error")))
    x = r["result"]
    l = x["latency"]
    return "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        name, offered or num(x["offered_deliveries_per_sec"]), pct(x["delivered_pct"]),
        num(x["deliveries_per_sec"]), lat(l["p50_us"]), lat(l["p99_us"]), lat(l["p999_us"]),
        cpu(x.get("server_cpu_pct")), us_per_delivery(x), gen_cell(x))


def ladder_table(runs, workload, kinds):
    lines = [HUB_HEAD]
    for k in kinds:
        rs = pick(runs, workload, k)
        rs.sort(key=lambda r: r["params"]["rate"])
        for r in rs:
            lines.append(hub_row(r))
    return "\n".join(lines)


def flagged(runs, workloads):
    n = 0
    for r in runs:
        if r["workload"] in workloads and r.get("result") and \
                r["result"]["bench_cpu_pct"] > GEN_BOUND:
            n += 1
    return n


# ---------------------------------------------------------------------------------------------
# chart


def marker(kind, x, y, color, r=4.5):
    shape = MARKER.get(kind, "circle")
    if shape == "square":
        return '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>' % (
            x - r, y - r, 2 * r, 2 * r, color)
    if shape == "triangle":
        return '<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s"/>' % (
            x, y - r * 1.3, x - r * 1.2, y + r, x + r * 1.2, y + r, color)
    if shape == "diamond":
        return '<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s"/>' % (
            x, y - r * 1.3, x + r * 1.3, y, x, y + r * 1.3, x - r * 1.3, y, color)
    return '<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>' % (x, y, r, color)


def tick_lat(us):
    if us >= 1e6:
        return "%g s" % (us / 1e6)
    if us >= 1e3:
        return "%g ms" % (us / 1e3)
    return "%g µs" % us


def chart_svg(runs, kinds, cfg):
    a, b, sh = cfg.get("a", {}), cfg.get("b", {}), cfg.get("s", {})
    ta = "(a) 1 room x %s" % num(a.get("clients", 0))
    tb = "(b) %s rooms x %s" % (b.get("rooms", 0),
                                 num(b.get("clients", 0) // max(b.get("rooms", 1), 1)))
    ts = "shared rooms %s x %s, %s per client" % (
        sh.get("rooms", 0),
        num(sh.get("clients", 0) * sh.get("rooms_per_client", 1) // max(sh.get("rooms", 1), 1)),
        sh.get("rooms_per_client", 1))
    rows = [("s", ts)] if pick(runs, "s") else []
    rows += [("a", ta), ("b", tb)]
    panels = []
    for wl, title in rows:
        panels.append((wl, "thr", title + ": delivered vs offered"))
        panels.append((wl, "p99", title + ": p99 latency vs offered"))
    pw, ph = 420, 250
    origins = [(x, 110 + 360 * row) for row in range(len(rows)) for x in (100, 640)]
    W, H = 1100, 80 + 360 * len(rows)
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="DejaVu Sans, Arial, sans-serif">' % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="32" font-size="20" text-anchor="middle" font-weight="bold">'
           'obrol vs ngIRCd vs InspIRCd: deliveries/s and p99 latency (log-log)</text>' % (W / 2)]
    # legend
    lx = 250
    for k in kinds:
        if not any(r["server"] == k and r["workload"] in ("s", "a", "b") and r.get("result")
                   for r in runs):
            continue
        svg.append('<line x1="%d" y1="62" x2="%d" y2="62" stroke="%s" stroke-width="2.5" '
                   'stroke-dasharray="%s"/>' % (lx, lx + 30, COLOR[k], DASH[k]))
        svg.append(marker(k, lx + 15, 62, COLOR[k]))
        svg.append('<text x="%d" y="67" font-size="15">%s</text>' % (lx + 38, esc(LABEL[k])))
        lx += 60 + 9 * len(LABEL[k])
    svg.append('<line x1="%d" y1="62" x2="%d" y2="62" stroke="#888" stroke-width="1.5" '
               'stroke-dasharray="5,4"/>' % (lx, lx + 30))
    svg.append('<text x="%d" y="67" font-size="15">delivered = offered</text>' % (lx + 38))

    for (wl, kind, title), (ox, oy) in zip(panels, origins):
        pts = {}
        for r in runs:
            if r["workload"] != wl or not r.get("result"):
                continue
            x = r["result"]
            xv = x["offered_deliveries_per_sec"]
            yv = x["deliveries_per_sec"] if kind == "thr" else x["latency"]["p99_us"] / 1e6
            if xv > 0 and yv > 0:
                pts.setdefault(r["server"], []).append((xv, yv))
        allx = [p[0] for v in pts.values() for p in v]
        ally = [p[1] for v in pts.values() for p in v]
        svg.append('<text x="%d" y="%d" font-size="16" font-weight="bold">%s</text>'
                   % (ox, oy - 14, esc(title)))
        svg.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>'
                   % (ox, oy, pw, ph))
        if not allx:
            svg.append('<text x="%d" y="%d" font-size="14" text-anchor="middle">no data</text>'
                       % (ox + pw / 2, oy + ph / 2))
            continue
        x0 = math.floor(math.log10(min(allx)))
        x1 = math.ceil(math.log10(max(allx)))
        if kind == "thr":
            y0 = math.floor(math.log10(min(ally + allx)))
            y1 = math.ceil(math.log10(max(ally + allx)))
        else:
            y0 = math.floor(math.log10(min(ally)))
            y1 = math.ceil(math.log10(max(ally)))
        x1 = max(x1, x0 + 1)
        y1 = max(y1, y0 + 1)

        def X(v):
            return ox + pw * (math.log10(v) - x0) / (x1 - x0)

        def Y(v):
            return oy + ph - ph * (math.log10(v) - y0) / (y1 - y0)

        for e in range(x0, x1 + 1):
            xx = X(10 ** e)
            svg.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>'
                       % (xx, oy, xx, oy + ph))
            svg.append('<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%s</text>'
                       % (xx, oy + ph + 18, si(10 ** e)))
        for e in range(y0, y1 + 1):
            yy = Y(10 ** e)
            svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                       % (ox, yy, ox + pw, yy))
            lab = si(10 ** e) if kind == "thr" else tick_lat(10 ** e * 1e6)
            svg.append('<text x="%d" y="%.1f" font-size="13" text-anchor="end">%s</text>'
                       % (ox - 6, yy + 4, esc(lab)))
        svg.append('<text x="%.1f" y="%d" font-size="14" text-anchor="middle">'
                   'offered deliveries/s</text>' % (ox + pw / 2, oy + ph + 38))
        ylab = "delivered deliveries/s" if kind == "thr" else "p99 latency"
        svg.append('<text x="%d" y="%.1f" font-size="14" text-anchor="middle" '
                   'transform="rotate(-90 %d %.1f)">%s</text>'
                   % (ox - 62, oy + ph / 2, ox - 62, oy + ph / 2, ylab))
        if kind == "thr":
            lo, hi = 10 ** max(x0, y0), 10 ** min(x1, y1)
            svg.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" '
                       'stroke-width="1.5" stroke-dasharray="5,4"/>' % (X(lo), Y(lo), X(hi), Y(hi)))
        else:
            # 10 ms and 20 ms target lines are in the text; mark 1 s, the ladder's stop line.
            if y0 <= 0 <= y1:
                svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#bbb" '
                           'stroke-dasharray="2,3"/>' % (ox, Y(1), ox + pw, Y(1)))
        for k in reversed(kinds):  # obrol drawn last, on top
            if k not in pts:
                continue
            p = sorted(pts[k])
            path = " ".join("%.1f,%.1f" % (X(u), Y(v)) for u, v in p)
            svg.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5" '
                       'stroke-dasharray="%s" stroke-opacity="0.9"/>' % (path, COLOR[k], DASH[k]))
            for u, v in p:
                svg.append(marker(k, X(u), Y(v), COLOR[k]))
    svg.append('<text x="%d" y="%d" font-size="12" fill="#555" text-anchor="middle">'
               'Generated by bench/compare from bench/raw/*.json. Server on core 0, generator on '
               'core 1; a new server process for every point.</text>' % (W / 2, H - 14))
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------------
# report


def preserved_section(out, heading=PRESERVE):
    """The section of the current RESULTS.md that starts with `heading` (measured by hand or
    by another driver, not from bench/raw), up to the next `## ` heading."""
    for cand in (Path(out) / "RESULTS.md", BENCH / "RESULTS.md"):
        if not cand.exists():
            continue
        text = cand.read_text()
        at = text.find("\n" + heading)
        if text.startswith(heading):
            at = 0
        if at < 0:
            continue
        body = text[at:].lstrip("\n")
        nxt = body.find("\n## ", len(heading))
        return (body if nxt < 0 else body[:nxt]).rstrip() + "\n"
    return None


def preserved_row(out, key, columns):
    """The summary row of target `key` ("| (i) ...") in the current RESULTS.md, if it has
    `columns` cells (the same servers as now)."""
    summary = preserved_section(out, "## Summary against the targets")
    if not summary:
        return None
    for line in summary.splitlines():
        if line.startswith("| (%s) " % key) and line.rstrip().endswith("|"):
            if line.rstrip().count(" | ") == columns - 1:
                return line.rstrip()
    return None


def relpath(cmd):
    """A command as it reads from the repository's root, wherever the run's checkout was."""
    cmd = (cmd or "").replace(str(ROOT) + "/", "")
    return re.sub(r"(?<![\w.-])/\S*?/(target/release/obrol|seed/)", r"\1", cmd)


def first(runs, workload, server=None):
    for r in runs:
        if r["workload"] == workload and (server is None or r["server"] == server) \
                and r.get("cmd"):
            return r
    return None


def shared_sections(runs, kinds, cfg):
    """The headline (s) and its whole-machine twin (w)."""
    L = []
    for wl in ("s", "w"):
        w = cfg.get(wl, {})
        if not w or not pick(runs, wl):
            continue
        rooms, per = w.get("rooms", 0), w.get("rooms_per_client", 1)
        members = w.get("clients", 0) * per // max(rooms, 1)
        if wl == "s":
            L.append("## Headline: shared rooms, %s rooms x %s members, %s senders each in %s "
                     "rooms\n" % (num(rooms), num(members), w.get("senders", 0), per))
            L.append("%s clients, each in %s of the %s rooms; every room has exactly %s "
                     "members (`obrol bench hub --clients %s --rooms %s --rooms-per-client %s "
                     "--senders %s`). Client *i* is in the %s consecutive rooms (mod %s) from "
                     "`starts[i %% %s]`, where `starts` lists rooms 0, %s, %s, ... first, then "
                     "1, %s, ...: every %s consecutive clients start once at each room, so "
                     "rooms are equal, and neighbouring rooms share %s%% of their members (rooms "
                     "%s or more apart none). The %s senders are clients 0-%s: their windows "
                     "start %s rooms apart, %s, and each sender speaks in its %s rooms in turn (message *k* in its room *k mod %s*). A "
                     "message is owed to the %s other members of its room; a client in several "
                     "rooms gets every message of each of them once. Server and generator are "
                     "pinned to a core each, as in the other workloads.\n" % (
                         num(w.get("clients", 0)), per, rooms, num(members),
                         w.get("clients"), rooms, per, w.get("senders"), per, rooms, rooms,
                         per, 2 * per, per + 1, rooms, round(100 * (per - 1) / per),
                         per, w.get("senders"), w.get("senders", 1) - 1, per,
                         "so each room has exactly one sender"
                         if w.get("senders", 0) * per == rooms else
                         "%s room-sender pairs over %s rooms" % (w.get("senders", 0) * per, rooms),
                         per, per, num(members - 1)))
        else:
            L.append("## Shared rooms on the whole machine\n")
            L.append("The headline workload with nothing pinned: server and generator share "
                     "both cores as the scheduler likes (no `taskset`), obrol runs with its "
                     "default worker threads (one per core: 2), InspIRCd as it is (one main "
                     "thread). *Server CPU* can exceed 100% (two cores); the generator is "
                     "one thread and competes with the server for the same two cores, so "
                     "this is what the machine as a whole carries, not the server alone.\n")
        L.append("Ladder: offered deliveries/s %s (rate = deliveries / %d msgs/s over all "
                 "senders). A server's ladder stops after the second rung below 90%% "
                 "delivered, with p99 above 1 s, or with the generator at %.0f%% of its core "
                 "or more.\n" % (", ".join(si(d) for d in w.get("deliveries", [])),
                                 max(members - 1, 1), GEN_LIMIT))
        L.append(ladder_table(runs, wl, kinds) + "\n")
        for k in kinds:
            sat = saturation(runs, wl, k)
            if not sat:
                continue
            if sat["best"]:
                L.append("- %s: highest rung with >= 99%% delivered, p99 < 1 s and the "
                         "generator below %.0f%%: %s deliveries/s offered; peak delivered "
                         "%s/s (at %s offered)." % (
                             LABEL[k], GEN_LIMIT,
                             num(sat["best"]["result"]["offered_deliveries_per_sec"]),
                             num(sat["peak"]["result"]["deliveries_per_sec"]),
                             num(sat["peak"]["result"]["offered_deliveries_per_sec"])))
            else:
                L.append("- %s: no healthy rung." % LABEL[k])
        L.append("")
    return L


def report(out):
    out = Path(out)
    meta, runs = load(out)
    cfg = meta.get("cfg", {})
    kinds = servers_in(runs, meta)
    m = meta.get("machine", {})
    v = meta.get("versions", {})
    quick = meta.get("mode") == "quick"
    L = []
    L.append("# obrol bench results: obrol compared with ngIRCd and InspIRCd\n")
    L.append("Generated by `bench/compare%s` (%s mode) on %s; the whole run took %s min. "
             "Everything below except the section *What limits obrol now* is regenerated by "
             "the script; raw JSON for every run is in `bench/raw/`, and "
             "`python3 bench/report.py` rebuilds this file and `chart.svg` from it.\n"
             % (" --quick" if quick else "", meta.get("mode", "?"), m.get("date", "?"),
                round(meta.get("elapsed_secs", 0) / 60)))
    if quick:
        L.append("> **Quick mode:** small client counts and 1 s runs, only to check that the "
                 "pipeline works. These numbers are not comparable with the targets or with a "
                 "full run.\n")
    if meta.get("interrupted"):
        L.append("> **This run was interrupted**; workloads after the interruption are "
                 "missing.\n")
    L.append("## Summary against the targets\n")
    L.append("Targets are obrol's; the peers are measured the same way for comparison. "
             "\"met\" / \"not met\" is judged on each server's own numbers.\n")
    L.append(summary(meta, runs, kinds, out) + "\n")
    ngen = flagged(runs, ("s", "w", "a", "b", "d", "f"))
    if ngen:
        L.append("%d load runs had the generator above %.0f%% of its core (⚠ in the tables): "
                 "there the generator, not the server, may be the limit.\n" % (ngen, GEN_BOUND))
    L.append("A rung with the generator at %.0f%% of its core or more (*generator-limited* in "
             "the tables) or with p99 of 1 s or more never counts as a server's saturation "
             "point or as \"met\": it measures the generator or a backlog.\n" % GEN_LIMIT)
    L.extend(shared_sections(runs, kinds, cfg))
    L.append("![deliveries/s and p99 latency versus offered load](chart.svg)\n")

    L.append("## Machine\n")
    L.append("- CPU: %s, %s cores (`nproc`); memory %s GiB; kernel %s; %s" % (
        m.get("cpu", "?"), m.get("nproc", "?"), m.get("mem_gib", "?"), m.get("kernel", "?"),
        m.get("os", "")))
    L.append("- Date (UTC): %s; load average at start: %s" % (m.get("date", "?"),
                                                            m.get("loadavg_start", "?")))
    loads = [r["loadavg"] for r in runs if r.get("loadavg") is not None]
    if loads:
        L.append("- 1-minute load average just before each run: %.1f to %.1f (2 cores: above "
                 "~2 means other work shared the machine with the benchmark)"
                 % (min(loads), max(loads)))
    L.append("- Open files per process: %s; ephemeral ports %s. Loopback only." % (
        m.get("nofile", "?"), m.get("port_range", "?")))
    L.append("- Versions: %s; ngIRCd package %s; InspIRCd package %s; Python %s\n" % (
        v.get("obrol", "?"), v.get("ngircd_pkg", "?"), v.get("inspircd", "?"),
        v.get("python", "?")))

    L.append("## How it was run\n")
    L.append("- Every point is a **new server process** pinned to core 0 (`taskset -c 0`) "
             "and one run of obrol's generator pinned to core 1 (`taskset -c 1`), with "
             "`--pid` so the generator records the server's CPU (over the measurement window) "
             "and RSS. A fresh listening port is used each time. Only *Shared rooms on the "
             "whole machine* pins nothing.")
    L.append("- The generator is open loop: `--rate` is messages/s over all senders and "
             "latency is measured from each message's scheduled send time; deliveries/s = "
             "rate x (room size - 1). Messages are %d bytes of payload. Warm-up %.1f s, "
             "measurement %.1f s (unless stated)." % (64, cfg.get("warmup", 0),
                                                       cfg.get("duration", 0)))
    L.append("- *Server CPU per delivery* = server CPU seconds / deliveries in the window, in "
             "µs. *Generator CPU* above %.0f%% is flagged ⚠ (generator-bound)." % GEN_BOUND)
    L.append("- Before each run the script waits until enough ephemeral ports are free: the "
             "generator binds each client to 127.0.0.1:0, which cannot reuse a port in "
             "TIME_WAIT.")
    L.append("- All servers speak IRC to the generator (`--protocol irc`).\n")
    L.append("Commands (the configs are copies of `bench/conf/*.conf` with `@PORT@` and "
             "`@RUNDIR@` filled in, in a temporary directory):\n")
    L.append("```sh")
    L.append("cargo build --release   # only if target/release/obrol is older than the sources")
    for k in kinds:
        r = first(runs, "s", k) or first(runs, "a", k) or first(runs, "b", k) \
            or first(runs, "c-storm", k)
        if r and r.get("server_cmd"):
            L.append(relpath(r["server_cmd"]))
        r = first(runs, "w", k)
        if r and r.get("server_cmd"):
            L.append(relpath(r["server_cmd"]) + "   # whole machine: not pinned")
    if "inspircd" in kinds:
        L.append("taskset -c 1 python3 bench/inspircd_joiner.py PORT r:ROOMS[:PER_CLIENT]"
                 "   # or: PORT idle")
    for wl, what in (("s", "shared rooms (headline)"), ("w", "shared rooms, whole machine"),
                     ("a", "(a)"), ("b", "(b)"), ("c-idle", "(c) idle, (e)"),
                     ("c-storm", "(c) join storm"), ("d", "(d)"), ("f", "(f)")):
        r = first(runs, wl)
        if r:
            L.append("# %s" % what)
            L.append(relpath(r["cmd"]))
    L.append("```\n")
    L.append("The exact command of every run (server and generator) is stored in its "
             "`bench/raw/*.json` file.\n")

    L.append("## The peers and their tuning\n")
    L.append(TUNING)
    vr = meta.get("verify", {})
    if vr:
        L.append("Registration check before the runs (a Python client sends NICK/USER, waits "
                 "for 001, then JOINs and waits for 366): " + "; ".join(
                     "%s 001 after %.0f ms, 366 after %.0f ms" % (
                         LABEL.get(k, k), i.get("registered_ms", 0), i.get("joined_ms", 0))
                     for k, i in vr.items()) + ".\n")
    for k, why in meta.get("excluded", {}).items():
        L.append("- **%s left out**: %s\n" % (LABEL.get(k, k), why))
    seed = meta.get("seed") or {}
    L.append("**The seed's `server.py`** (`python3 seed/server.py 127.0.0.1 PORT`): it relays "
             "raw bytes to every other connection, with no IRC, no rooms and no replies beyond "
             "a welcome line, so it takes part in workload (a) only, driven with the "
             "generator's `--protocol raw` (a client counts as joined when the welcome arrives; "
             "clients connect one at a time because `server.py` listens with a backlog of 2). "
             "It forwards whatever one `recv(1024)` returned, so lines from several senders "
             "could interleave; with one sender they do not.")
    if seed:
        L.append("\nChecked: the generator (`%s`) %s.\n" % (
            short(relpath(seed.get("cmd", "")), 200),
            "could drive it" if seed.get("drivable") else
            "could not drive it (%s); so it is **left out**" % seed.get("why", "?")))
    else:
        L.append("")

    # (a)
    a = cfg.get("a", {})
    L.append("## (a) One room: %s clients, %s sender\n" % (num(a.get("clients", 0)),
                                                         a.get("senders", 1)))
    L.append("Rates %s msgs/s, i.e. offered deliveries/s = rate x %d. A server's ladder stops "
             "after the second rung below 50%% delivered.\n" % (
                 ", ".join(num(x) for x in a.get("rates", [])), a.get("clients", 1) - 1))
    L.append(ladder_table(runs, "a", kinds) + "\n")
    # (b)
    b = cfg.get("b", {})
    L.append("## (b) %s rooms x %s clients, %s senders\n" % (
        b.get("rooms", 0), num(b.get("clients", 0) // max(b.get("rooms", 1), 1)),
        b.get("senders", 0)))
    L.append("Rates %s msgs/s (x %d deliveries each). A server's ladder stops after the second "
             "rung below 90%% delivered or with p99 above 1 s.\n" % (
                 ", ".join(num(x) for x in b.get("rates", [])),
                 b.get("clients", 0) // max(b.get("rooms", 1), 1) - 1))
    L.append(ladder_table(runs, "b", kinds) + "\n")
    for k in kinds:
        s = saturation(runs, "b", k)
        if s and s["best"]:
            L.append("- %s: highest rung with >= 99%% delivered, p99 < 1 s and the generator "
                     "below %.0f%%: %s deliveries/s offered; peak delivered %s/s (at %s "
                     "offered)." % (
                         LABEL[k], GEN_LIMIT,
                         num(s["best"]["result"]["offered_deliveries_per_sec"]),
                         num(s["peak"]["result"]["deliveries_per_sec"]),
                         num(s["peak"]["result"]["offered_deliveries_per_sec"])))
    L.append("")
    # (c)
    c = cfg.get("c", {})
    L.append("## (c) Idle clients and a join storm\n")
    L.append("`obrol bench idle --clients N`: N registered clients, each in a channel of its "
             "own (`#idle<i>`), held while the server's RSS is read; time limit %s s each.\n"
             % c.get("timeout", "?"))
    L.append("| server | idle clients | result | server RSS before | after | KiB per client "
             "| connect time | registrations/s | listen overflows |")
    L.append("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for k in kinds:
        for r in pick(runs, "c-idle", k):
            n = r["params"]["clients"]
            if not r.get("result"):
                L.append("| %s | %s | did not finish: %s | | | | | | |" % (
                    LABEL[k], num(n), short(r.get("error"))))
                continue
            x = r["result"]
            L.append("| %s | %s | held | %s KiB | %s KiB | %s | %.2f s | %s | %s |" % (
                LABEL[k], num(n), num(x.get("server_rss_before_kib") or 0),
                num(x.get("server_rss_after_kib") or 0),
                "%.2f" % x["server_kib_per_client"] if x.get("server_kib_per_client") is not None
                else "–", x["connect_secs"], num(x["connects_per_sec"]),
                r.get("listen_overflows", "–")))
    L.append("")
    L.append("Join storm: `bench hub --clients %s --rooms 1 --senders 1 --rate 1 --duration 1`: "
             "every client joins the same channel, so each join is announced to every member "
             "and each joiner gets the whole member list. *Join time* is the generator's "
             "connect phase (all clients registered and joined); RSS per client is (RSS with "
             "all clients joined - RSS of the fresh server) / clients; *peak* is the same with "
             "the server's peak RSS (VmHWM), where the generator reported it.\n" % num(c.get("storm", 0)))
    L.append("| server | clients | join time | joins/s | server RSS before | after | KiB per "
             "client | peak KiB per client | server CPU time (whole run) | listen overflows |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in kinds:
        for r in pick(runs, "c-storm", k):
            if not r.get("result"):
                L.append("| %s | %s | did not finish: %s | | | | | | | |" % (
                    LABEL[k], num(r["params"]["clients"]), short(r.get("error"))))
                continue
            x = r["result"]
            per = storm_per_client(r)
            before = r.get("server_rss_before_kib")
            peak = x.get("server_peak_rss_kib")
            peak_per = (peak - before) / x["clients"] if peak and before is not None else None
            L.append("| %s | %s | %.2f s | %s | %s KiB | %s KiB | %s | %s | %s | %s |" % (
                LABEL[k], num(x["clients"]), x["connect_secs"], num(x["connects_per_sec"]),
                num(r.get("server_rss_before_kib") or 0), num(x.get("server_rss_kib") or 0),
                "–" if per is None else "%.2f" % per,
                "–" if peak_per is None else "%.2f" % peak_per,
                "%.2f s" % r["server_cpu_secs_total"] if r.get("server_cpu_secs_total")
                is not None else "–", r.get("listen_overflows", "–")))
    L.append("")
    L.append("*Listen overflows*: the kernel's TcpExt ListenOverflows counter over the run "
             "(connection attempts dropped because the server's listen backlog was full; the "
             "client retries its SYN after 1 s). It is machine-wide, so other programs' "
             "connections can add to it.\n")
    if "inspircd" in kinds:
        L.append("InspIRCd's connect times and registrations/s are bounded by its "
                 "registration tick: it completes a registration only once a second, and the "
                 "generator keeps at most 200 clients connecting at a time, each waiting for its "
                 "join (done here by `bench/inspircd_joiner.py`), so it cannot exceed ~200 "
                 "registrations/s in this setup. A real client waits for 001 too, so the "
                 "~0.5-1 s per registration is real; the per-second rate is a property of the "
                 "generator's window.\n")

    # (d)
    d = cfg.get("d", {})
    L.append("## (d) One stalled client among %s\n" % num(d.get("clients", 0)))
    L.append("Workload (a) at %s msgs/s (%s deliveries/s offered), warm-up %s s, measurement "
             "%s s, run twice on a fresh server: without and with one extra raw TCP client "
             "(Python, receive buffer set to 4 KiB) that registers, joins `#r0` before the "
             "generator's clients and then never reads. The table reports the generator's "
             "clients only.\n" % (num(d.get("rate", 0)),
                                  num(d.get("rate", 0) * (d.get("clients", 1) - 1)),
                                  d.get("warmup"), d.get("duration")))
    L.append(HUB_HEAD.replace("| server |", "| server, case |"))
    for k in kinds:
        for lab in ("baseline", "stalled"):
            for r in pick(runs, "d", k, lab):
                L.append(hub_row(r, name="%s, %s" % (LABEL[k], "no stalled client"
                                                     if lab == "baseline" else
                                                     "one stalled client")))
    L.append("")
    for k in kinds:
        for r in pick(runs, "d", k, "stalled"):
            st = r.get("stall")
            if st:
                L.append("- %s: the stalled client was **%s** at the end of the run "
                         "(server logged %d slow-client drops)." % (
                             LABEL[k], st.get("state"), r.get("server_drops_logged", 0)))
    L.append("")
    L.append("obrol disconnects a client whose unread output exceeds `--max-queue` (1 MiB by "
             "default); ngIRCd drops a client whose write buffer overflows; InspIRCd drops it at "
             "its hard send queue (1 MiB in this config). ngIRCd's write buffer limit is 32 KiB per client, compiled in.\n")

    # (e)
    L.append("## (e) Registrations per second\n")
    L.append("From `connects_per_sec` of the idle runs in (c) (connect, NICK/USER, JOIN of an "
             "own channel, wait for 366; 200 clients in flight at a time):\n")
    L.append("| server | clients | registrations/s |")
    L.append("|---|---:|---:|")
    for k in kinds:
        for r in pick(runs, "c-idle", k):
            if r.get("result"):
                L.append("| %s | %s | %s |" % (LABEL[k], num(r["params"]["clients"]),
                                               num(r["result"]["connects_per_sec"])))
    L.append("")

    # (f)
    L.append("## (f) Overload at twice the saturation rate\n")
    L.append("Saturation = the highest rung of (b) with >= 99% delivered, p99 < 1 s and the "
             "generator below 95% of its core (from (a) if (b) has none); the overload run offers twice that rate. *Relative* = "
             "deliveries/s under overload / the peak deliveries/s of the basis workload's rungs "
             "that measure the server (p99 < 1 s, generator below 95%). Above 100% says the overload run carried more than the highest healthy rung: rungs double, so the true saturation lies between that rung and the next.\n")
    L.append("| server | basis | offered deliveries/s | delivered | deliveries/s | relative to "
             "peak | p99 | server CPU | generator CPU |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for k in kinds:
        for r in pick(runs, "f", k):
            bs = dict(r.get("basis", {}))
            bs["peak"] = peak_of(runs, bs, k)
            basis = "(%s) %s/s offered, peak %s/s" % (bs.get("workload", "?"),
                                                     si(bs.get("offered", 0)),
                                                     si(bs.get("peak") or 0))
            if not r.get("result"):
                L.append("| %s | %s | did not finish: %s | | | | | | |" % (
                    LABEL[k], basis, short(r.get("error"))))
                continue
            x = r["result"]
            rel = 100.0 * x["deliveries_per_sec"] / bs["peak"] if bs.get("peak") else None
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                LABEL[k], basis, num(x["offered_deliveries_per_sec"]), pct(x["delivered_pct"]),
                num(x["deliveries_per_sec"]), "–" if rel is None else "%.0f%%" % rel,
                lat(x["latency"]["p99_us"]), cpu(x.get("server_cpu_pct")), gen_cell(x)))
    for k, why in meta.get("f_skipped", {}).items():
        L.append("| %s | skipped: %s | | | | | | | |" % (LABEL.get(k, k), why))
    L.append("")

    # Measured by bench/mcast/run, by hand (history on vs off) and by bench/ws_idle.py: kept
    # as they are.
    for heading in HAND_SECTIONS:
        kept = preserved_section(out, heading)
        if kept:
            L.append(kept)

    L.append("## Caveats\n")
    L.append("- Two cores only: server and generator each get one. Where the generator runs "
             "near a full core (⚠) the numbers are a lower bound for the server.")
    L.append("- The machine may be shared (see the load averages above); runs are single "
             "samples, not medians.")
    L.append("- obrol has no flood limits yet; ngIRCd and InspIRCd had theirs switched off or "
             "raised (above), so all three relay as fast as they can.")
    L.append("- `net.core.netdev_max_backlog` was raised from 1000 to 65536 for the run (all "
             "servers): with the default, loopback bursts to a thousand sockets overflow the "
             "per-core packet backlog and each drop becomes a 200 ms TCP retransmission, which "
             "measures the kernel rather than the server.")
    L.append("- InspIRCd is driven through `bench/inspircd_joiner.py` (see above); its JOIN is "
             "an oper's SAJOIN, which does the same channel work as a client's JOIN.\n")

    keep = preserved_section(out)
    if keep:
        L.append(keep)
    (out / "RESULTS.md").write_text("\n".join(L).rstrip() + "\n")
    (out / "chart.svg").write_text(chart_svg(runs, kinds, cfg))


TUNING = """\
**obrol** (`target/release/obrol serve --listen irc://127.0.0.1:PORT --no-console --max-clients 19500 --exempt 127.0.0.0/8`):
default settings otherwise (`--max-queue` 1 MiB of unread output per client, 256 MiB for all
clients together, `--round-limit-us` 50000: a round of writes holds back the next for at most
50 ms, and rounds end by themselves once every writer they woke has written; worker threads =
1 because the process is pinned to one core, 2 in the whole-machine runs). `--exempt
127.0.0.0/8` exempts the generator's addresses (it spreads its clients over 127.0.R.X) from obrol's per-address connection limit (64),
its cap on unregistered connections and its line rate (10 lines/s after a burst of 40), as
the peers' flood protection is switched off below; runs recorded before those limits existed
have no `--exempt` in their command (see *Commands*), as there was nothing to switch off.

**ngIRCd 26.1** (Debian package `ngircd`; `ngircd -n -f bench/conf/ngircd.conf`, foreground,
own config, no pid file; as root it switches to user `nobody` by itself). Tuning:
- **listen backlog 4096**, like obrol's and InspIRCd's: ngIRCd's own `listen()` uses a
  compiled-in backlog of 10, so when the generator opens 200 connections at once most SYNs are
  dropped and retried with exponential back-off; in a trial the generator gave up (60 s join
  timeout) after ~1,400 of 2,000 clients. ngIRCd also takes a listening socket from its parent
  (systemd-style socket activation), so the script creates the socket itself
  (`listen(4096)`) and starts ngIRCd with it as fd 3 and `LISTEN_PID=1 LISTEN_FDS=1`
  (ngIRCd then ignores `Ports`); ngIRCd logs "Initialized socket 3 from systemd";
- flood protection off: `MaxPenaltyTime = 0` (no command penalties);
- `MaxConnections = 0` (unlimited), `MaxConnectionsIP = 0` (unlimited; every client is 127.0.0.1),
  `MaxJoins = 0` (unlimited channels per user);
- `MaxNickLength = 30` (the generator's nicks `b<pid>x<i>` are up to 12 characters; default 9);
- `DNS = no`, `Ident = no`, `PAM = no` (no look-ups or helper processes per connection);
- `PingTimeout`/`PongTimeout = 600` s so idle clients are not pinged during a run.
ngIRCd's per-client write buffer limit (32 KiB; a client whose buffer would exceed it is
dropped with "Write buffer space exhausted") is compiled in and cannot be raised.

**InspIRCd 3.15** (Debian package `inspircd`; `inspircd --config bench/conf/inspircd.conf
--nofork --nopid --runasroot`: it refuses to run as root without `--runasroot`). Tuning, all in one
`<connect>` class used by every client:
- flood protection off in practice: `commandrate="1000000000"` (1,000,000 commands/s),
  `threshold="1000000"`, `fakelag="yes"` (delay rather than kill, should it ever trigger);
- `localmax`/`globalmax="100000"` (connections per IP), `limit="100000"` (clients in the class),
  `maxchans="1000"`, `<performance softlimit="19900" somaxconn="4096" clonesonconnect="no"
  netbuffersize="65534">`;
- queues: `hardsendq="1048576"`: a client with more than 1 MiB of unread output is dropped,
  the same bound as obrol's `--max-queue` default (and InspIRCd's example config);
  `softsendq` 1 MiB (default 10 KiB), `recvq` 8 MiB (default 10 KiB);
- no DNS or ident look-ups: `resolvehostnames="no"`, `useident="no"` (no ident module loaded);
- `timeout="300"`, `pingfreq="10m"`; `<limits maxnick="30">`.
- **Registration:** InspIRCd 3 completes a registration only on its once-a-second background
  tick, and refuses a JOIN that arrives before that with 451 *You have not registered*. The
  generator pipelines NICK, USER and JOIN, so on its own it would wait for its 366 forever.
  `bench/inspircd_joiner.py`, an oper client (oper block and the `sajoin` module are in the
  config), watches the connect notices (snomask +c) and SAJOINs each generator client
  `b<pid>x<i>` into the channels the generator expects (`#r<i % rooms>`, the client's
  several rooms in the shared-rooms runs, in the generator's order, or `#idle<i>`). It runs
  on the generator's core (unpinned in the whole-machine runs) and is idle during the
  measurement window.
"""


if __name__ == "__main__":
    report(sys.argv[1] if len(sys.argv) > 1 else BENCH)
