// Two pages of obrol's browser client (one desktop, one phone-sized) against a real hub, with
// an `obrol connect` client that crates/obrol/tests/browser.rs runs beside it. Steps are
// synchronised over stdin/stdout: this prints READY, PM, HISTORY <ms>, DONE; it waits for
// GO lines between them. Screenshots go to $OUT.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const port = process.env.PORT;
const out = process.env.OUT;
const base = `http://127.0.0.1:${port}/`;
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const go = async () => { await input.next(); };
const say = (line) => console.log(line);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const desk = await browser.newContext({ viewport: { width: 1100, height: 640 } });
  const phone = await browser.newContext({ viewport: { width: 390, height: 740 }, isMobile: true });
  const a = await desk.newPage();
  const b = await phone.newPage();
  for (const [page, nick] of [[a, "ani"], [b, "budi"]]) {
    page.on("pageerror", (e) => { console.error(`page error (${nick}): ${e}`); process.exitCode = 1; });
    // The console's errors too (an invalid input pattern, a refused script): none expected.
    page.on("console", (m) => {
      if (m.type() === "error") { console.error(`console error (${nick}): ${m.text()}`); process.exitCode = 1; }
    });
    await page.goto(base);
    await page.fill("#nick", nick);
    await page.fill("#rooms", "#lobby");
    await page.click("#connect");
    await page.waitForSelector('#buffers li[data-name="#lobby"].active', { state: "attached", timeout: 10000 });
  }
  const says = (page, text) => page.waitForSelector(`#log .msg .text >> text="${text}"`, { timeout: 10000 });
  await a.fill("#line", "halo dari ani");
  await a.press("#line", "Enter");
  await says(b, "halo dari ani");
  await says(a, "halo dari ani");
  say("READY");
  await go(); // the terminal client said "dari terminal"
  await says(a, "dari terminal");
  await says(b, "dari terminal");
  await a.fill("#line", "/msg cli rahasia");
  await a.press("#line", "Enter");
  await a.waitForSelector('#buffers li[data-name="cli"].active', { timeout: 10000 });
  say("PM");
  await go(); // the terminal client answered
  await says(a, "iya?");
  // budi reloads: nick and rooms are remembered; the room's history comes back.
  await b.reload();
  await b.waitForSelector("#login:not([hidden])");
  const started = Date.now();
  await b.click("#connect");
  await says(b, "halo dari ani");
  await says(b, "dari terminal");
  say(`HISTORY ${Date.now() - started}`);
  // The unread mark: a message in a room ani is not looking at.
  await a.fill("#line", "/join #dapur");
  await a.press("#line", "Enter");
  await a.waitForSelector('#buffers li[data-name="#dapur"].active', { timeout: 10000 });
  await b.fill("#line", "ani: lihat ini");
  await b.press("#line", "Enter");
  await a.waitForSelector('#buffers li[data-name="#lobby"].mention .badge', { timeout: 10000 });
  await a.click('#buffers li[data-name="#lobby"]');
  await says(a, "ani: lihat ini");
  await a.screenshot({ path: `${out}/browser-desktop.png` });
  await b.screenshot({ path: `${out}/browser-phone.png` });
  // The hub dies and comes back: the pages say so, connect again and rejoin by themselves.
  say("RESTART");
  await go(); // the hub was killed and started again
  for (const page of [a, b]) {
    await page.waitForFunction(() => document.querySelector("#status").textContent.includes("· connected"), null, { timeout: 40000 });
  }
  say("BACK");
  await go(); // the terminal client said something after its own reconnect
  await says(b, "setelah restart");
  await a.click('#buffers li[data-name="#lobby"]');
  await says(a, "setelah restart");
  say("DONE");
} finally {
  await browser.close();
}
// stdin stays open (the test holds it): leave without waiting for it.
process.exit(process.exitCode ?? 0);
