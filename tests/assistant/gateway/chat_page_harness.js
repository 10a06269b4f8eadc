// Runs the chat page's script (assistant/gateway/static/chat.js) in Node against a tiny fake DOM and a scripted
// fetch, and prints what it rendered as JSON; test_page.py asserts on it. The fake elements throw on any HTML
// parsing API (innerHTML, outerHTML, insertAdjacentHTML), so rendering message data as HTML fails loudly.
"use strict";

const fs = require("node:fs");
const vm = require("node:vm");

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

/** localStorage that records every access: the page must not keep an id (or anything) there any more. */
class FakeStorage {
  constructor() {
    this.accesses = 0;
  }
  getItem() {
    this.accesses += 1;
    return null;
  }
  setItem() {
    this.accesses += 1;
  }
}

class FakeEventSource {
  constructor(url) {
    this.url = url;
    this.onmessage = null;
    FakeEventSource.instances.push(this);
  }
  emit(data) {
    this.onmessage({ data: typeof data === "string" ? data : JSON.stringify(data) });
  }
}
FakeEventSource.instances = [];

/** A page with the server-rendered skeleton, chat.js loaded and started; `replies` answer POSTs in order,
 * `history` answers GET /api/history. */
async function openPage(replies, { history = { status: 200, body: { messages: [], handoff: "bot" } }, eventSource = true } = {}) {
  const elements = {};
  for (const [id, tag] of [
    ["chat", "main"],
    ["log", "ol"],
    ["composer", "form"],
    ["message", "textarea"],
    ["send", "button"],
    ["typing", "p"],
    ["handoff-status", "p"],
  ]) {
    elements[id] = new FakeElement(tag);
  }
  elements.chat.dataset = { maxMessageChars: "250", requestTimeoutMs: "5000" };
  elements.typing.hidden = true;
  elements["handoff-status"].hidden = true;
  const requests = [];
  const gets = [];
  const fetch = async (url, init = {}) => {
    if (!init.method || init.method === "GET") {
      gets.push(url);
      const answer = url === "/api/history" ? history : { status: 200, body: { messages: [] } };
      if (answer instanceof Error) throw answer;
      return { ok: answer.status < 400, status: answer.status, json: async () => answer.body };
    }
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
    readyState: "loading",
    addEventListener: () => {},
    getElementById: (id) => elements[id],
    createElement: (tag) => new FakeElement(tag),
  };
  const storage = new FakeStorage();
  const intervals = [];
  const window = {
    localStorage: storage,
    fetch,
    setTimeout,
    clearTimeout,
    setInterval: (fn, ms) => intervals.push(ms),
    location: { href: "http://127.0.0.1:8080/" },
  };
  if (eventSource) window.EventSource = FakeEventSource;
  const context = vm.createContext({ document, window, URL, AbortController, console });
  vm.runInContext(source, context, { filename: "chat.js" });
  const ShopChat = vm.runInContext("ShopChat", context);
  FakeEventSource.instances = [];
  const started = ShopChat.start(document, window);
  const stream = await started.ready;
  return { elements, requests, gets, storage, intervals, stream, ShopChat };
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
      ...(byClass(card, "stock").length
        ? { stock: byClass(card, "stock")[0].textContent, stockClass: byClass(card, "stock")[0].className }
        : {}),
    })),
    quickReplies: byClass(log, "quick-reply").map((button) => ({ text: button.textContent, type: button.type })),
    images: log.children.flatMap((entry) => entry.children.filter((c) => c.tagName === "IMG").map((img) => img.src)),
    userImages: log.children.flatMap((entry) =>
      entry.children.filter((c) => c.tagName === "IMG" && c.className === "user-image").map((img) => img.src)
    ),
    notices: byClass(log, "notice").map((notice) => notice.textContent),
    statuses: byClass(log, "status").map((status) => status.textContent),
    statusLine: { text: page.elements["handoff-status"].textContent, hidden: page.elements["handoff-status"].hidden },
    storageAccesses: page.storage.accesses,
    gets: page.gets,
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
  const { ShopChat } = await openPage([]);

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
  results.stockBadge = [
    ShopChat.stockBadge({ level: "low", label: "Only 3 left" }),
    ShopChat.stockBadge({ level: "out" }),
    ShopChat.stockBadge({ level: "sold", label: "x" }),
    ShopChat.stockBadge(null),
  ];
  results.safeUrl = [
    ShopChat.safeUrl("javascript:alert(1)", "http://127.0.0.1:8080/"),
    ShopChat.safeUrl("data:text/html,hi", "http://127.0.0.1:8080/"),
    ShopChat.safeUrl("/static/bag.png", "http://127.0.0.1:8080/"),
    ShopChat.safeUrl("https://example.org/bag.jpg", "http://127.0.0.1:8080/"),
  ];

  // A product search turn, sent with Enter; the reply carries markup that must stay text.
  let page = await openPage(
    [
      {
        status: 200,
        body: {
          messages: [
            { type: "text", text: `Here is what I found for “${EVIL}”:` },
            {
              type: "product_cards",
              products: [
                {
                  sku: "20725",
                  title: "LUNCH BAG RED RETROSPOT",
                  price: "1.65",
                  currency: "GBP",
                  stock: { level: "low", label: "Only 3 left" },
                },
                { sku: EVIL, title: EVIL, price: "12.5", currency: "GBP", stock: { level: "out", label: EVIL } },
              ],
            },
            { type: "image", url: "javascript:alert(1)" },
            { type: "image", url: "/static/bag.png" },
            { type: "custom", payload: { type: "unknown" } },
          ],
        },
      },
    ]
  );
  const shiftEnterPrevented = await typeAndPressEnter(page, "a second line?", true);
  const requestsAfterShiftEnter = page.requests.length;
  const enterPrevented = await typeAndPressEnter(page, "red lunch bag");
  results.search = { ...describe(page), shiftEnterPrevented, requestsAfterShiftEnter, enterPrevented };

  // The gateway answers 503: its message is shown and the typed text comes back to the input.
  page = await openPage([
    { status: 503, body: { error: { code: "assistant_unavailable", message: "The assistant is starting up." } } },
  ]);
  await typeAndPressEnter(page, "red lunch bag");
  results.unavailable = describe(page);

  // The network fails and the error body is not JSON.
  page = await openPage([new TypeError("Failed to fetch"), { status: 502, body: null }]);
  await typeAndPressEnter(page, "first try");
  await typeAndPressEnter(page, "second try");
  results.networkDown = describe(page);

  // Buttons are quick replies: clicking sends the payload and shows the title.
  page = await openPage([
    {
      status: 200,
      body: { messages: [{ type: "buttons", text: "Gift wrap it?", buttons: [{ title: "Yes please", payload: "/affirm" }, { title: EVIL, payload: "/deny" }] }] },
    },
    { status: 200, body: { messages: [{ type: "text", text: "Done." }] } },
  ]);
  await typeAndPressEnter(page, "buy it");
  await byClass(page.elements.log, "quick-reply")[0].dispatch("click");
  results.buttons = describe(page);

  // A reload: the history from the tracker comes first (user text, the shopper's own photo, cards, a staff reply,
  // a handoff), then live events arrive over the stream: a staff reply and the hand back.
  page = await openPage([], {
    history: {
      status: 200,
      body: {
        handoff: "taken",
        messages: [
          { type: "text", text: "red lunch bag", from: "user" },
          { type: "photo", url: "/api/uploads/0123456789abcdef0123456789abcdef", from: "user" },
          { type: "photo", url: "javascript:alert(1)", from: "user" },
          { type: "product_cards", products: [{ sku: "20725", title: "LUNCH BAG RED RETROSPOT", price: "1.65", stock: { level: "in", label: "In stock" } }], from: "bot" },
          { type: "status", handoff: "taken", agent: null, from: "system" },
          { type: "text", text: EVIL, from: "agent", agent: "Alex" },
        ],
      },
    },
  });
  const afterHistory = describe(page);
  page.stream.emit({ type: "messages", items: [{ type: "text", text: "Hello from Alex", from: "agent", agent: EVIL }] });
  page.stream.emit("not json");
  page.stream.emit({ type: "status", handoff: "bot", agent: null });
  page.stream.emit({ type: "messages", items: [{ type: "text", text: "Good news: back in stock." }] });
  results.reload = { afterHistory, live: describe(page), streamUrl: page.stream.url };

  // History that cannot be loaded: a notice, and the chat still works; without EventSource, notices are polled.
  page = await openPage([{ status: 200, body: { messages: [{ type: "text", text: "Hi!" }] } }], {
    history: { status: 503, body: { error: { code: "assistant_unavailable", message: "x" } } },
    eventSource: false,
  });
  await typeAndPressEnter(page, "hello");
  results.noHistory = { ...describe(page), intervals: page.intervals, stream: page.stream };

  // Whitespace only is not sent.
  page = await openPage([]);
  await typeAndPressEnter(page, "   \n ");
  results.blank = describe(page);

  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
