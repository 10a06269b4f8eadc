// Runs the chat page's script (assistant/gateway/static/chat.js) in Node against a tiny fake DOM and a scripted
// fetch, and prints what it rendered as JSON; test_page.py asserts on it. The fake elements throw on any HTML
// parsing API (innerHTML, outerHTML, insertAdjacentHTML), so rendering message data as HTML fails loudly.
"use strict";

const fs = require("node:fs");
const vm = require("node:vm");
const { webcrypto } = require("node:crypto");

const source = fs.readFileSync(process.argv[2], "utf8");

class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.ownText = "";
    this.attributes = {};
    this.dataset = {};
    this.style = {};
    this.listeners = {};
    this.className = "";
    this.hidden = false;
    this.disabled = false;
    this.value = "";
    this.scrollTop = 0;
    this.scrollHeight = 100;
  }
  get classList() {
    const element = this;
    const names = () => element.className.split(/\s+/).filter(Boolean);
    return {
      add: (...added) => {
        element.className = [...new Set([...names(), ...added])].join(" ");
      },
      contains: (name) => names().includes(name),
    };
  }
  set innerHTML(_) {
    throw new Error("innerHTML was set");
  }
  get innerHTML() {
    throw new Error("innerHTML was read");
  }
  set outerHTML(_) {
    throw new Error("outerHTML was set");
  }
  insertAdjacentHTML() {
    throw new Error("insertAdjacentHTML was called");
  }
  get textContent() {
    return this.ownText + this.children.map((child) => child.textContent).join("");
  }
  set textContent(value) {
    this.children = [];
    this.ownText = String(value);
  }
  append(...nodes) {
    for (const node of nodes) {
      if (!(node instanceof FakeElement)) throw new Error(`append() got a ${typeof node}, not an element`);
      this.children.push(node);
    }
  }
  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }
  getAttribute(name) {
    return name in this.attributes ? this.attributes[name] : null;
  }
  addEventListener(type, listener) {
    (this.listeners[type] ||= []).push(listener);
  }
  async dispatch(type, properties = {}) {
    const event = {
      type,
      defaultPrevented: false,
      preventDefault() {
        this.defaultPrevented = true;
      },
      ...properties,
    };
    for (const listener of this.listeners[type] || []) await listener(event);
    return event;
  }
  requestSubmit() {
    this.pendingSubmit = this.dispatch("submit");
  }
  focus() {}
  querySelectorAll(selector) {
    const name = selector.replace(/^\./, "");
    const found = [];
    const walk = (node) => {
      for (const child of node.children) {
        if (child.classList.contains(name)) found.push(child);
        walk(child);
      }
    };
    walk(this);
    return found;
  }
}

function byClass(root, name) {
  return root.querySelectorAll(`.${name}`);
}

class FakeStorage {
  constructor(initial = {}, { broken = false } = {}) {
    this.items = { ...initial };
    this.broken = broken;
  }
  getItem(key) {
    if (this.broken) throw new Error("SecurityError");
    return key in this.items ? this.items[key] : null;
  }
  setItem(key, value) {
    if (this.broken) throw new Error("SecurityError");
    this.items[key] = String(value);
  }
}

/** A page with the server-rendered skeleton, chat.js loaded and started; `replies` answer fetch in order. */
function openPage(replies, storage = new FakeStorage()) {
  const elements = {};
  for (const [id, tag] of [
    ["chat", "main"],
    ["log", "ol"],
    ["composer", "form"],
    ["message", "textarea"],
    ["send", "button"],
    ["typing", "p"],
  ]) {
    elements[id] = new FakeElement(tag);
  }
  elements.chat.dataset = { maxMessageChars: "250", requestTimeoutMs: "5000" };
  elements.typing.hidden = true;
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({
      url,
      method: init.method,
      headers: init.headers,
      body: JSON.parse(init.body),
      typingShown: !elements.typing.hidden,
      sendDisabled: elements.send.disabled,
    });
    const reply = replies.shift();
    if (reply instanceof Error) throw reply;
    return { ok: reply.status < 400, status: reply.status, json: async () => reply.body };
  };
  const document = {
    readyState: "complete",
    getElementById: (id) => elements[id],
    createElement: (tag) => new FakeElement(tag),
  };
  const window = {
    localStorage: storage,
    crypto: webcrypto,
    fetch,
    setTimeout,
    clearTimeout,
    location: { href: "http://127.0.0.1:8080/" },
  };
  const context = vm.createContext({ document, window, URL, AbortController, console });
  vm.runInContext(source, context, { filename: "chat.js" });
  return { elements, requests, storage, ShopChat: vm.runInContext("ShopChat", context) };
}

async function typeAndPressEnter(page, text, shiftKey = false) {
  const input = page.elements.message;
  input.value = text;
  const event = await input.dispatch("keydown", { key: "Enter", shiftKey, isComposing: false });
  await page.elements.composer.pendingSubmit;
  page.elements.composer.pendingSubmit = undefined;
  return event.defaultPrevented;
}

function describe(page) {
  const log = page.elements.log;
  return {
    entries: log.children.map((entry) => ({ className: entry.className, text: entry.textContent })),
    cards: byClass(log, "card").map((card) => ({
      title: byClass(card, "card-title")[0].textContent,
      price: byClass(card, "card-price")[0].textContent,
      sku: byClass(card, "card-sku")[0].textContent,
    })),
    quickReplies: byClass(log, "quick-reply").map((button) => ({ text: button.textContent, type: button.type })),
    images: log.children.flatMap((entry) => entry.children.filter((c) => c.tagName === "IMG").map((img) => img.src)),
    notices: byClass(log, "notice").map((notice) => notice.textContent),
    input: page.elements.message.value,
    maxLength: page.elements.message.maxLength,
    typingHidden: page.elements.typing.hidden,
    sendDisabled: page.elements.send.disabled,
    ariaBusy: log.getAttribute("aria-busy"),
    requests: page.requests,
  };
}

const EVIL = '<img src=x onerror="alert(1)">';

async function main() {
  const results = {};
  const { ShopChat } = openPage([]);

  results.titleCase = [
    "LUNCH BAG RED RETROSPOT",
    "SET OF 3 CAKE TINS PANTRY DESIGN",
    "WHITE HANGING HEART T-LIGHT HOLDER",
    "SET/6 RED SPOTTY PAPER PLATES",
    "CHILDREN'S CIRCUS PARADE MUG",
    "JUMBO BAG 50'S CHRISTMAS",
    "3D TRADITIONAL CHRISTMAS STICKERS",
    "I LOVE LONDON MINI BACKPACK",
    "Already Mixed case",
  ].map((title) => ShopChat.titleCase(title));
  results.formatPrice = [
    ShopChat.formatPrice("1.65", "GBP"),
    ShopChat.formatPrice("12.5", "GBP"),
    ShopChat.formatPrice("1250", "GBP"),
    ShopChat.formatPrice("2.00", "EUR"),
    ShopChat.formatPrice("3.10", undefined),
    ShopChat.formatPrice("n/a", "GBP"),
    ShopChat.formatPrice("4.00", "NOT-A-CURRENCY"),
  ];

  const storage = new FakeStorage();
  const first = ShopChat.senderId(storage, webcrypto);
  results.senderId = {
    first,
    again: ShopChat.senderId(storage, webcrypto),
    stored: storage.items["shopassist.sender_id"],
    replacesInvalid: ShopChat.senderId(new FakeStorage({ "shopassist.sender_id": "bad id!" }), webcrypto),
    blockedStorage: ShopChat.senderId(new FakeStorage({}, { broken: true }), webcrypto),
    withoutRandomUUID: ShopChat.newSenderId({ getRandomValues: (a) => webcrypto.getRandomValues(a) }),
  };
  results.safeUrl = [
    ShopChat.safeUrl("javascript:alert(1)", "http://127.0.0.1:8080/"),
    ShopChat.safeUrl("data:text/html,hi", "http://127.0.0.1:8080/"),
    ShopChat.safeUrl("/static/bag.png", "http://127.0.0.1:8080/"),
    ShopChat.safeUrl("https://example.org/bag.jpg", "http://127.0.0.1:8080/"),
  ];

  // A product search turn, sent with Enter; the reply carries markup that must stay text.
  let page = openPage(
    [
      {
        status: 200,
        body: {
          messages: [
            { type: "text", text: `Here is what I found for “${EVIL}”:` },
            {
              type: "product_cards",
              products: [
                { sku: "20725", title: "LUNCH BAG RED RETROSPOT", price: "1.65", currency: "GBP" },
                { sku: EVIL, title: EVIL, price: "12.5", currency: "GBP" },
              ],
            },
            { type: "image", url: "javascript:alert(1)" },
            { type: "image", url: "/static/bag.png" },
            { type: "custom", payload: { type: "unknown" } },
          ],
        },
      },
    ],
    new FakeStorage({ "shopassist.sender_id": "kept-id_123" })
  );
  const shiftEnterPrevented = await typeAndPressEnter(page, "a second line?", true);
  const requestsAfterShiftEnter = page.requests.length;
  const enterPrevented = await typeAndPressEnter(page, "red lunch bag");
  results.search = { ...describe(page), shiftEnterPrevented, requestsAfterShiftEnter, enterPrevented };

  // The gateway answers 503: its message is shown and the typed text comes back to the input.
  page = openPage([
    { status: 503, body: { error: { code: "assistant_unavailable", message: "The assistant is starting up." } } },
  ]);
  await typeAndPressEnter(page, "red lunch bag");
  results.unavailable = describe(page);

  // The network fails and the error body is not JSON.
  page = openPage([new TypeError("Failed to fetch"), { status: 502, body: null }]);
  await typeAndPressEnter(page, "first try");
  await typeAndPressEnter(page, "second try");
  results.networkDown = describe(page);

  // Buttons are quick replies: clicking sends the payload and shows the title.
  page = openPage([
    {
      status: 200,
      body: { messages: [{ type: "buttons", text: "Gift wrap it?", buttons: [{ title: "Yes please", payload: "/affirm" }, { title: EVIL, payload: "/deny" }] }] },
    },
    { status: 200, body: { messages: [{ type: "text", text: "Done." }] } },
  ]);
  await typeAndPressEnter(page, "buy it");
  await byClass(page.elements.log, "quick-reply")[0].dispatch("click");
  results.buttons = describe(page);

  // Whitespace only is not sent.
  page = openPage([]);
  await typeAndPressEnter(page, "   \n ");
  results.blank = describe(page);

  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
