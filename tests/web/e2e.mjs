// The web chat page in a real browser: Debian's Chromium driven by
// playwright-core, against the real `ferry` binary. tests/it/web.rs runs
// it: `node tests/web/e2e.mjs --ferry BIN --out DIR`. Exits 0 when every
// step held; each step prints what it checked.
//
// Two people register in two pages, become friends (a request under
// friends-only mode, accepted), talk both ways, meet a plain TCP IRC
// client in a group, reload and find their history, get a message sent
// while they were away, and go on after the server restarts.

import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const FERRY = args.ferry;
const OUT = args.out || mkdtempSync(path.join(os.tmpdir(), "ferry-web-"));
mkdirSync(OUT, { recursive: true });
// Generous: CI runs this beside the other tests on two cores.
const WAIT = 30000;

function step(text) {
  console.log(`ok: ${text}`);
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function waitPort(port) {
  const until = Date.now() + WAIT;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, "127.0.0.1", () => {
        c.destroy();
        resolve(true);
      });
      c.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------- server

const dir = mkdtempSync(path.join(os.tmpdir(), "ferry-web-data-"));
const ircPort = await freePort();
const webPort = await freePort();
const config = path.join(dir, "ferry.toml");
writeFileSync(
  config,
  `[server]\nname = "ferry.test"\nnetwork = "FerryTest"\ndata_dir = "${path.join(dir, "data")}"\n` +
    `[[listen]]\naddress = "127.0.0.1:${ircPort}"\n` +
    `[[listen]]\naddress = "127.0.0.1:${webPort}"\nweb = true\n` +
    `[limits]\nexempt = ["127.0.0.0/8"]\n[privacy]\ncloak = false\n`,
);
let server = null;
async function startServer() {
  server = spawn(FERRY, ["serve", "--config", config], { stdio: ["ignore", "ignore", "pipe"] });
  server.stderr.on("data", () => {});
  await waitPort(ircPort);
  await waitPort(webPort);
}
async function stopServer() {
  const s = server;
  server = null;
  await new Promise((resolve) => {
    s.on("exit", resolve);
    s.kill("SIGTERM");
  });
}
process.on("exit", () => server?.kill("SIGKILL"));
await startServer();
const url = `http://127.0.0.1:${webPort}/`;
step(`ferry serves the page at ${url} and IRC on ${ircPort}`);

// ---------------------------------------------------------------- a TCP client

function tcpClient(nick) {
  const lines = [];
  const waiters = [];
  const sock = net.connect(ircPort, "127.0.0.1");
  let buf = "";
  sock.setEncoding("utf8");
  sock.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\r\n")) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (l.startsWith("PING ")) sock.write(`PONG ${l.slice(5)}\r\n`);
      lines.push(l);
      for (const w of [...waiters]) w();
    }
  });
  const send = (l) => sock.write(`${l}\r\n`);
  const until = (pred, what) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const i = lines.findIndex(pred);
        if (i >= 0) {
          const [l] = lines.splice(0, i + 1).slice(-1);
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolve(l);
        }
      };
      const timer = setTimeout(() => reject(new Error(`${nick}: no ${what}: ${lines.slice(-5).join(" | ")}`)), WAIT);
      waiters.push(check);
      check();
    });
  send(`NICK ${nick}`);
  send(`USER ${nick} 0 * :${nick} on plain IRC`);
  return { send, until, close: () => sock.destroy() };
}

// ---------------------------------------------------------------- pages

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

async function person(name, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-US", acceptDownloads: true, ...opts });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && !/WebSocket/.test(m.text()) && errors.push(m.text()));
  await page.goto(url);
  return { name, page, errors };
}

async function login(p, password, register = false) {
  const { page } = p;
  await page.getByLabel("Nickname").fill(p.name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: register ? "Register" : "Log in", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor({ timeout: WAIT });
}

const conversation = (p, name) => p.page.getByRole("list", { name: "Conversations" }).getByRole("button", { name, exact: true });
const friend = (p, name) => p.page.getByRole("list", { name: "Friends" }).getByRole("button", { name, exact: true });
const log = (p) => p.page.getByRole("log");

async function say(p, text) {
  const box = p.page.getByRole("textbox", { name: "Message", exact: true });
  await box.fill(text);
  await box.press("Enter");
}

async function sees(p, text) {
  await log(p).getByText(text, { exact: false }).first().waitFor({ timeout: WAIT });
}

const alice = await person("alice");
const bob = await person("bob");
// bob's browser: notifications permitted, recorded; the tab's
// visibility settable (headless tabs are never hidden by themselves).
await bob.page.addInitScript(() => {
  window.__notes = [];
  window.__hidden = false;
  Object.defineProperty(document, "hidden", { get: () => window.__hidden });
  window.Notification = class {
    static permission = "granted";
    static requestPermission() { return Promise.resolve("granted"); }
    constructor(title, opts) { window.__notes.push({ title, body: opts?.body }); }
  };
});
await bob.page.reload();
await login(alice, "alice-secret-1", true);
await login(bob, "bob-secret-22", true);
step("alice and bob registered in two pages");

// A wrong password is told plainly.
const eve = await person("alice");
await eve.page.getByLabel("Nickname").fill("alice");
await eve.page.getByLabel("Password").fill("not-her-password");
await eve.page.getByRole("button", { name: "Log in", exact: true }).click();
await eve.page.getByRole("alert").filter({ hasText: "Wrong nickname or password." }).waitFor({ timeout: WAIT });
await eve.page.close();
step("a wrong password says so");

// Friends: bob only takes messages from friends; alice asks, bob accepts.
await bob.page.getByLabel("Friends only: others must ask first").check();
await alice.page.getByLabel("Add a friend").fill("bob");
await alice.page.getByRole("button", { name: "Add", exact: true }).click();
await alice.page.getByRole("list", { name: "Friends" }).locator("li.online").filter({ hasText: "bob" }).waitFor({ timeout: WAIT });
step("alice added bob as a friend and sees him online");
await friend(alice, "bob").click();
await say(alice, "may I write to you?");
await bob.page.getByText("alice wants to message you").waitFor({ timeout: WAIT });
await bob.page.getByRole("button", { name: "Accept" }).click();
step("bob got alice's friend request and accepted it");

await say(alice, "你好 bob 😀, now we are friends");
await sees(bob, "你好 bob 😀, now we are friends");
await say(bob, "hi alice 👋 https://example.org/page");
await sees(alice, "hi alice 👋");
const link = log(alice).getByRole("link", { name: "https://example.org/page" });
await link.waitFor({ timeout: WAIT });
step("a DM each way, Chinese and emoji exact, the link clickable");

// With bob's tab hidden, a DM shows a notification.
await bob.page.evaluate(() => { window.__hidden = true; });
await say(alice, "are you looking?");
await bob.page.waitForFunction(() => window.__notes.some((n) => n.body === "are you looking?"), null, { timeout: WAIT });
const note = await bob.page.evaluate(() => window.__notes.find((n) => n.body === "are you looking?"));
if (note.title !== "alice on ferry") throw new Error(`notification: ${JSON.stringify(note)}`);
await bob.page.evaluate(() => { window.__hidden = false; document.dispatchEvent(new Event("visibilitychange")); });
step("a DM while bob's tab was hidden showed a browser notification");

// Nothing from a message is ever HTML.
await say(alice, "<b>bold</b><img src=x onerror=\"window.pwned=1\">");
await sees(bob, "<b>bold</b><img src=x");
if ((await log(bob).locator("b, img").count()) !== 0 || (await bob.page.evaluate(() => window.pwned))) {
  throw new Error("a message was rendered as HTML");
}
step("markup in a message is shown as text");

// A group of three, one of them on plain IRC.
await alice.page.getByLabel("Join or create a group").fill("#trio");
await alice.page.getByRole("button", { name: "Join", exact: true }).click();
await alice.page.getByRole("heading", { name: "#trio" }).waitFor({ timeout: WAIT });
await bob.page.getByLabel("Join or create a group").fill("#trio");
await bob.page.getByRole("button", { name: "Join", exact: true }).click();
const carol = tcpClient("carol");
await carol.until((l) => l.includes(" 376 ") || l.includes(" 422 "), "welcome");
carol.send("JOIN #trio");
await carol.until((l) => l.includes(" 366 carol #trio"), "names");
await alice.page.getByRole("complementary", { name: "Members" }).getByText("carol").waitFor({ timeout: WAIT });
carol.send("PRIVMSG #trio :hello from a plain IRC client");
await sees(alice, "hello from a plain IRC client");
await sees(bob, "hello from a plain IRC client");
await say(alice, "welcome, carol");
await carol.until((l) => l.endsWith("PRIVMSG #trio :welcome, carol"), "alice's line");
await sees(bob, "welcome, carol");
step("a group of three: two pages and a plain TCP client");

// Group settings: alice, its operator, registers the group, gives bob a
// voice on its access list and makes it invite-only; everyone sees it.
await alice.page.getByRole("button", { name: "Group settings" }).click();
const settings = alice.page.getByRole("region", { name: "Group settings" });
await settings.getByText("Not registered").waitFor({ timeout: WAIT });
await settings.getByRole("button", { name: "Register this group" }).click();
await settings.getByText("its founder is alice").waitFor({ timeout: WAIT });
await settings.getByLabel("Give access to account").fill("bob");
await settings.getByLabel("Level").selectOption("v");
await settings.getByRole("button", { name: "Add", exact: true }).click();
await settings.getByRole("list", { name: "Access list" }).getByText("bob").waitFor({ timeout: WAIT });
await settings.getByLabel("Invite only").check();
await carol.until((l) => l.endsWith(" MODE #trio +i"), "the +i");
await alice.page.waitForFunction(() => document.querySelector('[data-mode="i"]')?.checked, null, { timeout: WAIT });
await settings.getByLabel("Invite only").uncheck();
await carol.until((l) => l.endsWith(" MODE #trio -i"), "the -i");
await bob.page.getByRole("button", { name: "Group settings" }).click();
const bobSettings = bob.page.getByRole("region", { name: "Group settings" });
await bobSettings.getByRole("list", { name: "Access list" }).getByText("voice").waitFor({ timeout: WAIT });
if (!(await bobSettings.getByLabel("Invite only").isDisabled())) throw new Error("bob, no operator, may change modes");
await bob.page.getByRole("button", { name: "Group settings" }).click();
await alice.page.getByRole("button", { name: "Group settings" }).click();
step("alice registered the group and set its access list and modes in its settings; bob sees them, unchangeable");

// A friend on a plain IRC client (in a person's hands, WeeChat).
await alice.page.getByLabel("Add a friend").fill("carol");
await alice.page.getByRole("button", { name: "Add", exact: true }).click();
await alice.page.getByRole("list", { name: "Friends" }).locator("li.online").filter({ hasText: "carol" }).waitFor({ timeout: WAIT });
carol.send("PRIVMSG alice :hi alice, it's carol on IRC");
await conversation(alice, "carol").click();
await sees(alice, "it's carol on IRC");
await say(alice, "hello carol 你好");
await carol.until((l) => l.endsWith("PRIVMSG carol :hello carol 你好"), "alice's DM");
step("a friend on a plain IRC client: added, shown online, a DM each way");

// Typing, a reply and a reaction between the pages.
await conversation(alice, "bob").click();
await conversation(bob, "alice").click();
await alice.page.getByRole("textbox", { name: "Message", exact: true }).pressSequentially("typing...");
await bob.page.getByText("alice is typing…").waitFor({ timeout: WAIT });
await alice.page.getByRole("textbox", { name: "Message", exact: true }).fill("");
const original = (p) => log(p).locator("article:not(:has(blockquote))").filter({ hasText: "now we are friends" });
await original(bob).getByRole("button", { name: "Reply" }).click();
await say(bob, "replying to that");
await log(alice).locator("article").filter({ hasText: "replying to that" }).locator("blockquote")
  .filter({ hasText: "now we are friends" }).waitFor({ timeout: WAIT });
await original(bob).getByRole("button", { name: "React with 👍" }).click();
await original(alice).getByText("👍 1").waitFor({ timeout: WAIT });
step("typing shown, a reply quoted, a reaction counted");

await alice.page.screenshot({ path: path.join(OUT, "desktop-en.png") });

// Recall: alice takes a message back; bob sees that it was, not what.
await say(alice, "oops, not for you");
await sees(bob, "oops, not for you");
await log(alice).locator("article").filter({ hasText: "oops, not for you" }).getByRole("button", { name: /^Recall/ }).click();
await sees(bob, "This message was recalled.");
if (await log(bob).getByText("oops, not for you").count()) throw new Error("bob still sees the recalled text");
step("alice recalled a message: bob sees that it was recalled, not its text");

// A display name, set once, shown beside the nick.
await alice.page.getByText("Logged-in browsers").click();
await alice.page.getByLabel("Display name").fill("Alice 爱丽丝");
await alice.page.getByRole("button", { name: "Save", exact: true }).click();
await say(alice, "this is my display name");
await log(bob).locator("article").filter({ hasText: "this is my display name" })
  .getByText("Alice 爱丽丝 (alice)").waitFor({ timeout: WAIT });
step("alice set a display name: bob sees it beside her nick");

// An avatar: bob sees alice's picture beside her name in his friends.
const avatarUrl = `${url.replace(/\/$/, "")}/icon.svg`;
await alice.page.getByLabel("Avatar (image URL)").fill(avatarUrl);
await alice.page.getByRole("button", { name: "Save", exact: true }).click();
const pic = bob.page.locator(`#friends img.avatar[src="${avatarUrl}"]`);
await pic.waitFor({ timeout: WAIT });
await bob.page.waitForFunction((src) => [...document.querySelectorAll("#friends img.avatar")].some((i) => i.src === src && i.complete && i.naturalWidth > 0), avatarUrl, { timeout: WAIT });
step("alice set an avatar: bob sees her picture in his friend list");

// Enough in the group that the oldest lines need scrolling up.
for (let i = 1; i <= 60; i++) carol.send(`PRIVMSG #trio :line ${i}`);
carol.send("PING :sync");
await carol.until((l) => l.includes(" PONG ") && l.endsWith(":sync"), "the server's PONG");

// History after a reload: still logged in (a login token, never the
// password, in the browser's storage), the group and the DM there.
await alice.page.reload();
await alice.page.getByRole("status").filter({ hasText: "Connected" }).waitFor({ timeout: WAIT });
const stored = await alice.page.evaluate(() => JSON.stringify(localStorage));
if (stored.includes("alice-secret-1") || !stored.includes("ferrytok_")) throw new Error(`storage: ${stored}`);
step("after a reload alice is still logged in, with a token and no password stored");
await alice.page.getByText("Logged-in browsers").click();
await alice.page.getByRole("list", { name: "Logged-in browsers" }).getByText("this one").waitFor({ timeout: WAIT });
step("alice's logged-in browsers are listed, this one marked");

// A second device (another browser, logged in with the password): the
// device list shows both; the first logs the second out, which then asks
// for a login again.
const tabletPerson = await person("alice");
await login(tabletPerson, "alice-secret-1");
const tablet = tabletPerson.page;
await alice.page.getByText("Logged-in browsers").click();
await alice.page.getByText("Logged-in browsers").click();
const devices = alice.page.getByRole("list", { name: "Connected devices" });
await devices.getByRole("listitem").nth(1).waitFor({ timeout: WAIT });
if ((await devices.getByRole("listitem").count()) !== 2) throw new Error("not two devices");
await devices.getByText("this one").waitFor({ timeout: WAIT });
await devices.getByRole("button", { name: /^Log out device/ }).click();
await tablet.getByText("You were logged out from another device.").waitFor({ timeout: WAIT });
await tablet.getByLabel("Password").waitFor({ timeout: WAIT });
await alice.page.waitForFunction(() => document.querySelectorAll("#devices li").length === 1, null, { timeout: WAIT });
await tablet.context().close();
step("alice's devices are listed; she logged the other one out from here, and it asks for a login");
const [download] = await Promise.all([
  alice.page.waitForEvent("download", { timeout: WAIT }),
  alice.page.getByRole("button", { name: "Export my data" }).click(),
]);
const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
if (exported.format !== "ferry-export-1" || exported.account.name !== "alice" || !exported.friends.includes("bob")) {
  throw new Error(`export: ${JSON.stringify(exported).slice(0, 300)}`);
}
if (download.suggestedFilename() !== "ferry-export-alice.json") throw new Error(download.suggestedFilename());
step("alice exported her data: a JSON file with her account and friends");
await conversation(alice, "#trio").click();
await sees(alice, "line 60");
if (await log(alice).getByText("hello from a plain IRC client").count()) throw new Error("more than the latest 50 at first");
await log(alice).evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event("scroll")); });
await sees(alice, "hello from a plain IRC client");
step("a group's latest 50 lines on opening, older ones on scrolling up");
await conversation(alice, "bob").click();
await sees(alice, "hi alice 👋");
step("after a reload, the group and the DM have their history");

// Offline: bob logs out (which revokes his token); alice writes; bob
// logs in and finds it.
await bob.page.getByRole("button", { name: "Log out", exact: true }).click();
await bob.page.getByLabel("Nickname").waitFor({ timeout: WAIT });
await alice.page.getByRole("list", { name: "Friends" }).locator("li.offline").filter({ hasText: "bob" }).waitFor({ timeout: WAIT });
await say(alice, "written while you were away");
await login(bob, "bob-secret-22");
await conversation(bob, "alice").click();
await sees(bob, "written while you were away");
step("a message sent while bob was offline reached him at login, in its conversation");

// The server restarts: the pages say so, reconnect, and send what was typed meanwhile.
await stopServer();
await alice.page.getByRole("status").filter({ hasText: "Reconnecting" }).waitFor({ timeout: WAIT });
await say(alice, "typed while the server was down");
await log(alice).getByText("not sent yet").first().waitFor({ timeout: WAIT });
await startServer();
await alice.page.getByRole("status").filter({ hasText: "Connected" }).waitFor({ timeout: 40000 });
await bob.page.getByRole("status").filter({ hasText: "Connected" }).waitFor({ timeout: 40000 });
await sees(bob, "typed while the server was down");
step("after a server restart both pages reconnected and the line typed meanwhile arrived");

// Chinese, phone width.
await alice.page.getByRole("button", { name: "Switch to Chinese" }).click();
await alice.page.setViewportSize({ width: 375, height: 740 });
await alice.page.getByRole("status").filter({ hasText: "已连接" }).waitFor({ timeout: WAIT });
await alice.page.screenshot({ path: path.join(OUT, "phone-zh.png") });
step("the page in Chinese at phone width");

const errors = [...alice.errors, ...bob.errors];
if (errors.length) throw new Error(`errors in the pages: ${errors.join("; ")}`);
carol.close();
await browser.close();
await stopServer();
console.log(`screenshots in ${OUT}`);
