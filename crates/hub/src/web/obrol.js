// obrol's browser client: IRC over WebSocket (IRCv3 text.ircv3.net) to the hub that served
// this page. No libraries: everything it shows is set as text, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const WANTED = ["batch", "server-time", "message-tags", "echo-message", "draft/chathistory",
  "labeled-response", "multi-prefix", "away-notify", "account-tag"];
const PAGE = 50;
// Most lines a buffer keeps (older ones are dropped; scrolling up fetches them again).
const MAX_LINES = 2000;

const state = {
  ws: null, nick: "", account: "", password: "", registered: false, caps: new Set(), nickTries: 0,
  buffers: new Map(), active: null, batches: new Map(), retry: 0, retryTimer: null,
  wantRooms: [], pingSent: 0, lag: null, leaving: false,
};

// ------------------------------------------------------------------------------------------
// IRC lines

function unescapeTag(v) {
  // A lone backslash at the end is dropped (IRCv3 message-tags).
  return v.replace(/\\(.?)/g, (_, c) => ({ ":": ";", s: " ", r: "\r", n: "\n" })[c] ?? c);
}

function parse(line) {
  const msg = { tags: {}, prefix: "", command: "", params: [] };
  let rest = line;
  if (rest.startsWith("@")) {
    const sp = rest.indexOf(" ");
    for (const t of rest.slice(1, sp).split(";")) {
      const eq = t.indexOf("=");
      if (eq < 0) msg.tags[t] = ""; else msg.tags[t.slice(0, eq)] = unescapeTag(t.slice(eq + 1));
    }
    rest = rest.slice(sp + 1).trimStart();
  }
  if (rest.startsWith(":")) {
    const sp = rest.indexOf(" ");
    msg.prefix = rest.slice(1, sp);
    rest = rest.slice(sp + 1).trimStart();
  }
  while (rest.length) {
    if (rest.startsWith(":")) { msg.params.push(rest.slice(1)); break; }
    const sp = rest.indexOf(" ");
    if (sp < 0) { msg.params.push(rest); break; }
    msg.params.push(rest.slice(0, sp));
    rest = rest.slice(sp + 1).trimStart();
  }
  msg.command = (msg.params.shift() || "").toUpperCase();
  return msg;
}

const nickOf = (prefix) => prefix.split("!")[0];
const fold = (s) => s.toLowerCase();
const isRoom = (name) => name.startsWith("#");

function send(line) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(line);
}

// ------------------------------------------------------------------------------------------
// Buffers (rooms, conversations, the server's own)

function buffer(name, create = true) {
  const key = fold(name);
  let b = state.buffers.get(key);
  if (!b && create) {
    b = { name, lines: [], ids: new Set(), unread: 0, mention: false, members: new Map(), topic: "",
          oldest: null, loading: false, done: false, joined: false };
    state.buffers.set(key, b);
    renderBuffers();
  }
  return b;
}

function nickColour(nick) {
  let h = 0;
  for (const c of fold(nick)) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 55% 42%)`;
}

// IRC formatting (bold, colours, ...) is dropped: text is shown as text.
const plainText = (s) => s.replace(/\x03(\d{1,2}(,\d{1,2})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g, "");

function timeOf(msg) {
  const t = msg.tags.time ? new Date(msg.tags.time) : new Date();
  return isNaN(t) ? new Date() : t;
}

function mentions(text) {
  if (!state.nick) return false;
  const re = new RegExp(`(^|[^\\w])${state.nick.replace(/[^\w]/g, "\\$&")}([^\\w]|$)`, "i");
  return re.test(text);
}

/// The buffer's lines in time order after `lines` (from history, or live) are merged in,
/// without copies (by msgid); at most MAX_LINES, the oldest dropped.
function merge(b, lines) {
  const fresh = lines.filter((l) => !l.msgid || !b.ids.has(l.msgid));
  for (const l of fresh) if (l.msgid) b.ids.add(l.msgid);
  // Stable: lines of the same time keep their order.
  b.lines = b.lines.concat(fresh).map((l, i) => [l, i])
    .sort((x, y) => x[0].time - y[0].time || x[1] - y[1]).map((x) => x[0]);
  if (b.lines.length > MAX_LINES) {
    for (const l of b.lines.splice(0, b.lines.length - MAX_LINES)) if (l.msgid) b.ids.delete(l.msgid);
    b.done = false;
  }
  b.oldest = b.lines.find((l) => l.msgid)?.msgid ?? null;
  return fresh.length;
}

/// Adds a live line to a buffer: {time, nick, text, kind, msgid}.
function add(name, line) {
  const b = buffer(name);
  if (line.msgid && b.ids.has(line.msgid)) return;
  if (line.msgid) b.ids.add(line.msgid);
  b.lines.push(line);
  if (b.lines.length > MAX_LINES) {
    const old = b.lines.shift();
    if (old.msgid) b.ids.delete(old.msgid);
    b.done = false;
  }
  if (!b.oldest && line.msgid) b.oldest = line.msgid;
  if (b !== state.active && line.kind !== "event" && line.kind !== "info") {
    b.unread += 1;
    if (!isRoom(b.name) || mentions(line.text)) b.mention = true;
    renderBuffers();
  }
  if (b === state.active) appendLine(line);
}

function lineElement(line) {
  const div = document.createElement("div");
  div.className = `msg ${line.kind || "chat"}`;
  if (line.kind === "chat" && line.nick !== state.nick && mentions(line.text)) div.classList.add("highlight");
  const time = document.createElement("time");
  time.dateTime = line.time.toISOString();
  time.textContent = line.time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const nick = document.createElement("span");
  nick.className = "nick";
  const text = document.createElement("span");
  text.className = "text";
  if (line.kind === "chat" || line.kind === "notice") {
    nick.textContent = line.kind === "notice" ? `-${line.nick}-` : line.nick;
    nick.style.color = nickColour(line.nick);
  } else if (line.kind === "action") {
    nick.textContent = "*";
    text.append(Object.assign(document.createElement("b"), { textContent: line.nick + " " }));
  } else {
    nick.textContent = line.kind === "error" ? "!" : "•";
  }
  text.append(plainText(line.text));
  div.append(time, nick, text);
  return div;
}

function appendLine(line) {
  const log = $("log");
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(lineElement(line));
  if (atEnd) log.scrollTop = log.scrollHeight;
}

function renderLog(keepPlace = false) {
  const log = $("log");
  const b = state.active;
  const fromEnd = log.scrollHeight - log.scrollTop;
  log.replaceChildren();
  if (!b) return;
  if ((isRoom(b.name) || b.lines.length) && state.caps.has("draft/chathistory")) {
    const more = document.createElement("div");
    more.className = "more";
    more.textContent = b.done ? "start of history" : b.loading ? "loading…" : "scroll up for older messages";
    log.append(more);
  }
  for (const line of b.lines) log.append(lineElement(line));
  log.scrollTop = keepPlace ? log.scrollHeight - fromEnd : log.scrollHeight;
}

// The server's own buffer ("*": notices, errors, /help) is shown as "server".
const label = (b) => (b.name === "*" ? "server" : b.name);

function renderBuffers() {
  const ul = $("buffers");
  ul.replaceChildren();
  for (const b of state.buffers.values()) {
    const li = document.createElement("li");
    li.dataset.name = b.name;
    li.className = "buffer" + (b === state.active ? " active" : "") + (b.unread ? " unread" : "") + (b.mention ? " mention" : "");
    li.append(Object.assign(document.createElement("span"), { textContent: label(b) }));
    if (b.unread) li.append(Object.assign(document.createElement("span"), { className: "badge", textContent: String(b.unread) }));
    li.onclick = () => { show(b); $("app").classList.remove("show-side"); };
    ul.append(li);
  }
}

function renderMembers() {
  const ul = $("member-list");
  ul.replaceChildren();
  const b = state.active;
  const inRoom = b && isRoom(b.name);
  $("toggle-members").textContent = inRoom ? `${b.members.size} here` : "";
  $("toggle-members").hidden = !inRoom;
  if (!inRoom) return;
  const rank = (p) => (p.includes("@") ? 0 : p.includes("+") ? 1 : 2);
  const sorted = [...b.members.entries()].sort((x, y) => rank(x[1]) - rank(y[1]) || x[0].localeCompare(y[0]));
  for (const [nick, prefix] of sorted) {
    const li = document.createElement("li");
    li.textContent = (prefix ? prefix[0] : "") + nick;
    li.style.color = nickColour(nick);
    li.onclick = () => show(buffer(nick));
    ul.append(li);
  }
}

function show(b) {
  state.active = b;
  b.unread = 0;
  b.mention = false;
  $("title").textContent = label(b);
  $("topic").textContent = plainText(b.topic || "");
  renderBuffers();
  renderLog();
  renderMembers();
  if (!isRoom(b.name) && b.name !== "*" && !b.asked) {
    b.asked = true;
    fetchLatest(b);
  }
  $("line").focus();
}

function fetchLatest(b) {
  if (state.caps.has("draft/chathistory")) send(`CHATHISTORY LATEST ${b.name} * ${PAGE}`);
}

function fetchOlder() {
  const b = state.active;
  if (!b || b.loading || b.done || !b.oldest || !state.caps.has("draft/chathistory")) return;
  b.loading = true;
  b.older = true;
  send(`CHATHISTORY BEFORE ${b.name} msgid=${b.oldest} ${PAGE}`);
  renderLog(true);
}

function info(text, kind = "info") {
  add(state.active ? state.active.name : "*", { time: new Date(), nick: "", text, kind });
}

// ------------------------------------------------------------------------------------------
// What the server says

function chatLine(msg) {
  const from = nickOf(msg.prefix);
  let text = msg.params[1] ?? "";
  let kind = msg.command === "NOTICE" ? "notice" : "chat";
  const action = text.match(/^\x01ACTION (.*?)\x01?$/);
  if (action) { kind = "action"; text = action[1]; } else if (text.startsWith("\x01")) return null;
  const target = msg.params[0];
  // A private message is filed under the other party.
  const name = isRoom(target) ? target : fold(from) === fold(state.nick) ? target : from;
  return { name, line: { time: timeOf(msg), nick: from, text, kind, msgid: msg.tags.msgid } };
}

function onBatchEnd(batch) {
  if (batch.type === "chathistory" && batch.target) {
    const b = buffer(batch.target);
    const older = !!b.older;
    const lines = batch.lines.map((m) => chatLine(m)).filter(Boolean).map((c) => c.line);
    // Merged by time and msgid: history after a reconnect fills the gap where it belongs.
    merge(b, lines);
    // Fewer messages than asked for (counting every line of the batch): nothing older.
    if (batch.lines.length < PAGE) b.done = true;
    b.loading = false;
    b.older = false;
    if (b === state.active) {
      renderLog(older);
      // A page that fits on the screen gives nothing to scroll: ask for the one before.
      const log = $("log");
      if (!b.done && log.scrollHeight <= log.clientHeight) fetchOlder();
    }
  } else if (batch.type === "soju.im/search") {
    info(`search: ${batch.lines.length} found`);
    for (const m of batch.lines) {
      const c = chatLine(m);
      if (c) info(`[${c.line.time.toLocaleString()}] ${c.name} <${c.line.nick}> ${c.line.text}`);
    }
  }
}

function onMessage(msg) {
  const batchRef = msg.tags.batch;
  if (batchRef && state.batches.has(batchRef) && msg.command !== "BATCH") {
    state.batches.get(batchRef).lines.push(msg);
    return;
  }
  const p = msg.params;
  const from = nickOf(msg.prefix);
  const mine = fold(from) === fold(state.nick);
  switch (msg.command) {
    case "PING": send(`PONG :${p[0] ?? ""}`); break;
    case "PONG":
      if (state.pingSent) { state.lag = Date.now() - state.pingSent; state.pingSent = 0; status(); }
      break;
    case "CAP": onCap(p); break;
    case "AUTHENTICATE":
      if (p[0] === "+") {
        // The account given at login (not the nick now), in pieces of 400 bytes; a last
        // piece of exactly 400 is followed by "+".
        const b64 = btoa(unescape(encodeURIComponent(`${state.account}\0${state.account}\0${state.password}`)));
        for (let i = 0; i < b64.length; i += 400) send(`AUTHENTICATE ${b64.slice(i, i + 400)}`);
        if (b64.length % 400 === 0) send("AUTHENTICATE +");
      }
      break;
    case "903": case "904": case "905": case "906": case "907":
      if (msg.command !== "903") loginError("wrong account or password: joined as a guest");
      send("CAP END");
      break;
    case "001":
      if (!p[0]) break;
      state.registered = true;
      state.nick = p[0];
      state.retry = 0;
      state.nickTries = 0;
      status();
      for (const room of state.wantRooms) send(`JOIN ${room}`);
      // Conversations open before a drop: what was missed.
      for (const b of state.buffers.values()) if (!isRoom(b.name) && b.name !== "*" && b.asked) fetchLatest(b);
      break;
    case "433":
      if (!state.registered) {
        state.nickTries += 1;
        if (state.nickTries > 6) { info("every nick tried is taken: choose another with /nick", "error"); break; }
        const base = state.nick.replace(/_+$|\d+$/, "").slice(0, 24);
        state.nick = state.nickTries < 4 ? base + "_".repeat(state.nickTries) : base + Math.floor(Math.random() * 10000);
        send(`NICK ${state.nick}`);
      } else info(p.slice(1).join(" "), "error");
      break;
    case "BATCH": {
      if (!p[0]) break;
      const ref = p[0].slice(1);
      if (p[0].startsWith("+")) state.batches.set(ref, { type: p[1], target: p[2], lines: [] });
      else { const b = state.batches.get(ref); state.batches.delete(ref); if (b) onBatchEnd(b); }
      break;
    }
    case "PRIVMSG": case "NOTICE": {
      const c = chatLine(msg);
      if (!c) break;
      if (!isRoom(c.name) && (c.name === "*" || c.name.includes("."))) { info(c.line.text); break; }
      add(c.name, c.line);
      break;
    }
    case "JOIN": {
      if (!p[0]) break;
      const b = buffer(p[0]);
      b.members.set(from, "");
      if (mine) {
        b.joined = true;
        b.done = false;
        if (!state.wantRooms.some((r) => fold(r) === fold(b.name))) state.wantRooms.push(b.name);
        saveRooms();
        if (!state.active || state.active.name === "*" || state.wantRooms.length === 1 || b.showOnJoin) show(b);
        b.showOnJoin = false;
        fetchLatest(b);
      } else add(b.name, { time: timeOf(msg), nick: from, text: `${from} joined`, kind: "event" });
      if (b === state.active) renderMembers();
      break;
    }
    case "PART": case "KICK": {
      if (!p[0]) break;
      const b = buffer(p[0]);
      const who = msg.command === "KICK" ? p[1] : from;
      b.members.delete(who);
      const why = msg.command === "KICK" ? `${who} was kicked by ${from} (${p[2] ?? ""})` : `${who} left${p[1] ? ` (${p[1]})` : ""}`;
      add(b.name, { time: timeOf(msg), nick: who, text: why, kind: "event" });
      if (fold(who) === fold(state.nick ?? "")) {
        b.joined = false;
        b.members.clear();
        state.wantRooms = state.wantRooms.filter((r) => fold(r) !== fold(b.name));
        saveRooms();
      }
      if (b === state.active) renderMembers();
      break;
    }
    case "QUIT":
      for (const b of state.buffers.values()) {
        if (b.members.delete(from)) add(b.name, { time: timeOf(msg), nick: from, text: `${from} quit${p[0] ? ` (${p[0]})` : ""}`, kind: "event" });
      }
      renderMembers();
      break;
    case "NICK":
      if (!p[0]) break;
      if (mine) { state.nick = p[0]; status(); }
      for (const b of state.buffers.values()) {
        if (b.members.has(from)) {
          const prefix = b.members.get(from);
          b.members.delete(from);
          b.members.set(p[0], prefix);
          add(b.name, { time: timeOf(msg), nick: from, text: `${from} is now ${p[0]}`, kind: "event" });
        }
      }
      renderMembers();
      break;
    case "TOPIC": case "332": {
      const room = msg.command === "TOPIC" ? p[0] : p[1];
      if (!room) break;
      const b = buffer(room);
      b.topic = p[p.length - 1];
      if (msg.command === "TOPIC") add(room, { time: timeOf(msg), nick: from, text: `${from} set the topic: ${b.topic}`, kind: "event" });
      if (b === state.active) $("topic").textContent = plainText(b.topic);
      break;
    }
    case "353": {
      if (p.length < 4) break;
      const b = buffer(p[2]);
      for (const entry of p[3].split(" ").filter(Boolean)) {
        const m = entry.match(/^([@+]*)(.*)$/);
        b.members.set(nickOf(m[2]), m[1]);
      }
      if (b === state.active) renderMembers();
      break;
    }
    case "FAIL": {
      info(p.slice(2).join(" "), "error");
      // FAIL CHATHISTORY CODE [SUBCOMMAND] TARGET ...: the buffer that asked stops waiting.
      const asked = p[0] === "CHATHISTORY" && (p.slice(2, -1).map((t) => buffer(t, false)).find(Boolean) || state.active);
      if (asked) { asked.loading = false; asked.older = false; asked.done = true; }
      break;
    }
    case "ERROR": info(p.join(" "), "error"); break;
    default:
      // Numerics worth showing: errors (4xx, 5xx) and the server's notes.
      if (/^[45]\d\d$/.test(msg.command)) info(p.slice(1).join(" "), "error");
      else if (["372", "375", "376", "366", "005", "002", "003", "004", "251", "252", "253", "254", "255", "265", "266", "001", "333", "329"].includes(msg.command)) break;
      else if (/^\d\d\d$/.test(msg.command)) info(p.slice(1).join(" "));
  }
}

function onCap(p) {
  const sub = p[1];
  if (sub === "LS") {
    const offered = (p[p.length - 1] || "").split(" ").map((c) => c.split("=")[0]);
    const want = WANTED.filter((c) => offered.includes(c));
    if (state.password && offered.includes("sasl")) want.push("sasl");
    if (p[2] === "*") { state.offered = (state.offered || []).concat(want); return; }
    const all = (state.offered || []).concat(want);
    state.offered = [];
    if (all.length) send(`CAP REQ :${all.join(" ")}`); else send("CAP END");
  } else if (sub === "ACK") {
    for (const c of (p[2] || "").split(" ")) if (c) state.caps.add(c);
    if (state.caps.has("sasl") && state.password) send("AUTHENTICATE PLAIN"); else send("CAP END");
  } else if (sub === "NAK") send("CAP END");
}

// ------------------------------------------------------------------------------------------
// Connecting, and again after a drop

function status() {
  const s = $("status");
  const open = state.ws && state.ws.readyState === WebSocket.OPEN && state.registered;
  s.classList.toggle("down", !open);
  if (open) s.textContent = `${state.nick} · connected${state.lag != null ? ` · lag ${state.lag} ms` : ""}`;
}

function connect() {
  clearTimeout(state.retryTimer);
  if (state.leaving) return;
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
  const ws = new WebSocket(url, ["text.ircv3.net"]);
  state.ws = ws;
  state.registered = false;
  state.caps = new Set();
  state.batches.clear();
  $("status").textContent = "connecting…";
  ws.onopen = () => {
    send("CAP LS 302");
    send(`NICK ${state.nick}`);
    send(`USER ${state.nick.replace(/[^A-Za-z0-9]/g, "") || "web"} 0 * :obrol web`);
  };
  ws.onmessage = (e) => {
    const text = typeof e.data === "string" ? e.data : "";
    for (const line of text.split(/\r?\n/)) if (line) onMessage(parse(line));
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.registered = false;
    for (const b of state.buffers.values()) { b.joined = false; b.members.clear(); b.loading = false; b.older = false; }
    renderMembers();
    if (state.leaving) { $("status").textContent = "disconnected"; return; }
    const wait = Math.min(30, 2 ** state.retry);
    state.retry += 1;
    $("status").classList.add("down");
    $("status").textContent = `disconnected · reconnecting in ${wait} s`;
    if (state.active) info(`connection lost; reconnecting in ${wait} s`, "error");
    state.retryTimer = setTimeout(connect, wait * 1000);
  };
}

function saveRooms() {
  try { localStorage.setItem("obrol.rooms", state.wantRooms.join(" ")); } catch (_) { /* private mode */ }
}

function loginError(text) { info(text, "error"); }

// ------------------------------------------------------------------------------------------
// What the user types

const HELP = "/join #room, /part [#room], /msg nick text, /query nick, /me action, /nick name, " +
  "/topic text, /search words, /quit; other lines go to the room or conversation shown";

function submit(text) {
  const b = state.active;
  if (!text.startsWith("/") || text.startsWith("//")) {
    const line = text.startsWith("//") ? text.slice(1) : text;
    if (!b || b.name === "*") return info("join a room first: /join #lobby", "error");
    if (!state.registered) return info("not connected: not sent", "error");
    send(`PRIVMSG ${b.name} :${line}`);
    if (!state.caps.has("echo-message")) add(b.name, { time: new Date(), nick: state.nick, text: line, kind: "chat" });
    return;
  }
  const [cmd, ...args] = text.slice(1).split(" ");
  const rest = args.join(" ");
  switch (cmd.toLowerCase()) {
    case "join": case "j": {
      const room = args[0] ? (isRoom(args[0]) ? args[0] : `#${args[0]}`) : "";
      if (!room) return info("usage: /join #room", "error");
      buffer(room).showOnJoin = true;
      send(`JOIN ${room}`);
      break;
    }
    case "part": case "leave": send(`PART ${args[0] || b?.name || ""}`); break;
    case "msg": case "query": {
      if (!args[0]) return info("usage: /msg nick text", "error");
      const q = buffer(args[0]);
      show(q);
      // The text as it is, even if it starts with "/".
      const said = args.slice(1).join(" ");
      if (said) {
        if (!state.registered) return info("not connected: not sent", "error");
        send(`PRIVMSG ${q.name} :${said}`);
        if (!state.caps.has("echo-message")) add(q.name, { time: new Date(), nick: state.nick, text: said, kind: "chat" });
      }
      break;
    }
    case "me":
      if (b) send(`PRIVMSG ${b.name} :\x01ACTION ${rest}\x01`);
      if (b && !state.caps.has("echo-message")) add(b.name, { time: new Date(), nick: state.nick, text: rest, kind: "action" });
      break;
    case "nick": if (args[0]) send(`NICK ${args[0]}`); break;
    case "topic": if (b) send(`TOPIC ${b.name} :${rest}`); break;
    case "search":
      if (!rest) return info("usage: /search words", "error");
      send(`SEARCH text=${rest.replace(/\\/g, "\\\\").replace(/;/g, "\\:").replace(/ /g, "\\s")}`);
      break;
    case "quit": state.leaving = true; clearTimeout(state.retryTimer); send(`QUIT :${rest || "bye"}`); break;
    case "help": info(HELP); break;
    default: send(text.slice(1));
  }
}

function start() {
  const saved = (() => { try { return localStorage; } catch (_) { return null; } })();
  $("nick").value = saved?.getItem("obrol.nick") || "";
  $("rooms").value = saved?.getItem("obrol.rooms") || "#lobby";
  $("login").onsubmit = (e) => {
    e.preventDefault();
    state.nick = $("nick").value.trim();
    state.account = state.nick;
    state.password = $("password").value;
    state.wantRooms = $("rooms").value.split(/[\s,]+/).filter(Boolean).map((r) => (isRoom(r) ? r : `#${r}`));
    try { saved?.setItem("obrol.nick", state.nick); } catch (_) { /* private mode */ }
    $("login").hidden = true;
    $("app").hidden = false;
    show(buffer("*"));
    connect();
  };
  $("input").onsubmit = (e) => {
    e.preventDefault();
    const text = $("line").value;
    if (text.trim()) submit(text);
    $("line").value = "";
  };
  $("log").onscroll = () => { if ($("log").scrollTop < 30) fetchOlder(); };
  $("toggle-side").onclick = () => $("app").classList.toggle("show-side");
  $("toggle-members").onclick = () => $("app").classList.toggle("show-members");
  // Lag: a PING a minute.
  setInterval(() => { if (state.registered) { state.pingSent = Date.now(); send("PING :lag"); } }, 60000);
}

start();
