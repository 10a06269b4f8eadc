/* The shop assistant's chat page: plain browser JavaScript, no build step, no third-party code.
 *
 * Safety rule: message data is only ever put on the page through textContent and DOM properties,
 * never parsed as HTML, so a reply (or a product title) holding markup shows as text.
 *
 * Identity: the gateway knows the shopper from an HttpOnly cookie; this script never sees or sends an id.
 * On load it shows the conversation so far (GET /api/history), then listens to GET /api/events (server-sent
 * events) for staff replies, handoff status and back-in-stock notices; without EventSource it polls /api/notices.
 */
"use strict";

const ShopChat = (() => {
  const NOTICE_POLL_MS = 30000;
  const STOCK_LEVELS = new Set(["in", "low", "out"]);
  const STOCK_SYMBOLS = { in: "✓", low: "!", out: "✕" };
  const STATUS_TEXT = {
    waiting: "We've asked a member of staff to join; they will reply here. You can keep chatting meanwhile.",
    taken: "A member of staff has joined the chat.",
    bot: "You're back with the assistant.",
  };
  const SMALL_WORDS = new Set(["a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"]);
  const NETWORK_ERROR = "The shop assistant could not be reached. Check your connection and try again.";
  const TIMEOUT_ERROR = "The assistant is taking too long to answer. Please try again in a moment.";
  const PHOTO_TYPES = new Set(["image/jpeg", "image/png", "image/webp"]);

  /** "LUNCH BAG RED RETROSPOT" → "Lunch Bag Red Retrospot"; titles that already hold lower case stay as they are. */
  function titleCase(title) {
    if (typeof title !== "string") return "";
    if (/\p{Ll}/u.test(title)) return title;
    let first = true;
    return title
      .split(/(\s+)/)
      .map((word) => {
        if (word === "" || /^\s+$/.test(word)) return word;
        const isFirst = first;
        first = false;
        if (/^\d+\p{Lu}{1,2}$/u.test(word)) return word; // sizes and counts stay upper case: 3D, 12PC
        const lower = word.toLocaleLowerCase("en-GB");
        if (!isFirst && SMALL_WORDS.has(lower)) return lower;
        // Capital after the start of the word or a separator: T-LIGHT → T-Light, SET/6 → Set/6.
        return lower.replace(/(^|[-/(&+."])(\p{Ll})/gu, (_, sep, ch) => sep + ch.toLocaleUpperCase("en-GB"));
      })
      .join("");
  }

  /** "1.65", "GBP" → "£1.65"; anything unexpected is shown as it came. */
  function formatPrice(price, currency) {
    const amount = typeof price === "string" && price.trim() !== "" ? Number(price) : price;
    if (typeof amount !== "number" || !Number.isFinite(amount)) return price == null ? "" : String(price);
    try {
      return new Intl.NumberFormat("en-GB", { style: "currency", currency: currency || "GBP" }).format(amount);
    } catch (_) {
      return `${price} ${currency || ""}`.trim();
    }
  }

  /** The stock badge of a product card: {level: "in"|"low"|"out", label} → the same, or null when absent/odd. */
  function stockBadge(stock) {
    if (!stock || typeof stock !== "object" || !STOCK_LEVELS.has(stock.level)) return null;
    const label = typeof stock.label === "string" && stock.label.trim() ? stock.label.trim() : null;
    return { level: stock.level, label: label || { in: "In stock", low: "Low stock", out: "Out of stock" }[stock.level] };
  }

  /** The line that names who wrote a staff reply. */
  function agentLabel(name) {
    return typeof name === "string" && name.trim() ? `${name.trim()} (shop staff)` : "Shop staff";
  }

  /** An http(s) URL (absolute or relative to the page), or null. */
  function safeUrl(raw, base) {
    if (typeof raw !== "string" || raw === "") return null;
    try {
      const url = new URL(raw, base);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  class ChatError extends Error {}

  function start(doc, win) {
    const root = doc.getElementById("chat");
    const log = doc.getElementById("log");
    const form = doc.getElementById("composer");
    const input = doc.getElementById("message");
    const sendButton = doc.getElementById("send");
    const typing = doc.getElementById("typing");
    const maxChars = Number.parseInt(root.dataset.maxMessageChars, 10) || 1000;
    const timeoutMs = Number.parseInt(root.dataset.requestTimeoutMs, 10) || 60000;
    const maxUploadBytes = Number.parseInt(root.dataset.maxUploadBytes, 10) || 8 * 1024 * 1024;
    const photoButton = doc.getElementById("photo-button");
    const photoInput = doc.getElementById("photo");
    const statusLine = doc.getElementById("handoff-status");
    let pending = false;
    let handoff = "bot";

    input.maxLength = maxChars;

    function el(tag, className, text) {
      const node = doc.createElement(tag);
      if (className) node.className = className;
      if (text != null) node.textContent = text;
      return node;
    }

    function append(node) {
      log.append(node);
      log.scrollTop = log.scrollHeight;
      return node;
    }

    function entry(who, agentName) {
      const item = el("li", `msg msg-${who}`);
      if (who === "agent") {
        item.append(el("span", "visually-hidden", "Staff reply from "));
        item.append(el("span", "msg-author", `${agentLabel(agentName)}:`));
      } else {
        item.append(el("span", "visually-hidden", who === "user" ? "You said: " : "Assistant: "));
      }
      return item;
    }

    function addUserText(text) {
      const item = entry("user");
      item.append(el("p", "bubble", text));
      return append(item);
    }

    /** The shopper's own photo: a local data: URL while sending, /api/uploads/<id> (their own only) from history. */
    function addUserPhoto(dataUrl, name) {
      const item = entry("user");
      const ownUpload = typeof dataUrl === "string" && /^\/api\/uploads\/[0-9a-f]{32}$/.test(dataUrl);
      if (typeof dataUrl === "string" && (dataUrl.startsWith("data:image/") || ownUpload)) {
        const image = el("img", "user-image");
        image.alt = name ? `Your photo ${name}` : "Your photo";
        image.src = dataUrl;
        item.append(image);
      } else {
        item.append(el("p", "bubble", name ? `Photo: ${name}` : "Photo"));
      }
      return append(item);
    }

    function addBotText(text, who = "bot", agentName = null) {
      const item = entry(who, agentName);
      item.append(el("p", "bubble", text));
      return append(item);
    }

    /** A handoff change: a line in the log (announced politely) and the status line under the header. */
    function showStatus(state, agentName) {
      if (!Object.hasOwn(STATUS_TEXT, state) || state === handoff) return;
      handoff = state;
      let text = STATUS_TEXT[state];
      if (state === "taken" && typeof agentName === "string" && agentName.trim()) {
        text = `You're now chatting with ${agentName.trim()} from the shop.`;
      }
      const item = el("li", `status status-${state}`);
      item.append(el("span", null, text));
      append(item);
      if (statusLine) {
        statusLine.textContent = state === "bot" ? "" : text;
        statusLine.hidden = state === "bot";
      }
    }

    function addNotice(text) {
      const item = el("li", "notice");
      item.append(el("span", "visually-hidden", "Notice: "));
      item.append(el("span", null, text));
      return append(item);
    }

    function addButtons(text, buttons, who = "bot") {
      const item = entry(who);
      if (text) item.append(el("p", "bubble", text));
      const group = el("div", "quick-replies");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", text ? `Replies to: ${text}` : "Suggested replies");
      for (const button of buttons) {
        const title = String(button.title ?? "");
        const payload = String(button.payload || title);
        const choice = el("button", "quick-reply", title);
        choice.type = "button";
        choice.addEventListener("click", () => submit(payload, title));
        group.append(choice);
      }
      item.append(group);
      return append(item);
    }

    function addProducts(products) {
      const item = entry("bot");
      const list = el("ul", "cards");
      list.setAttribute("aria-label", `${products.length} product${products.length === 1 ? "" : "s"}`);
      for (const product of products) {
        const card = el("li", "card");
        card.append(el("p", "card-title", titleCase(product.title)));
        card.append(el("p", "card-price", formatPrice(product.price, product.currency)));
        const stock = stockBadge(product.stock);
        if (stock) {
          // colour and words: the label says it, the symbol repeats it, the colour is only a third hint
          const badge = el("p", `stock stock-${stock.level}`);
          const symbol = el("span", "stock-symbol", STOCK_SYMBOLS[stock.level]);
          symbol.setAttribute("aria-hidden", "true");
          badge.append(symbol);
          badge.append(el("span", null, stock.label));
          card.append(badge);
        }
        if (product.sku != null) card.append(el("p", "card-sku", `SKU ${product.sku}`));
        list.append(card);
      }
      item.append(list);
      return append(item);
    }

    function addImage(rawUrl) {
      const url = safeUrl(rawUrl, win.location.href);
      if (!url) return null;
      const item = entry("bot");
      const image = el("img", "bot-image");
      image.alt = "Image from the assistant";
      image.loading = "lazy";
      image.src = url;
      item.append(image);
      return append(item);
    }

    function addAttachment(payload) {
      const url = safeUrl(typeof payload === "string" ? payload : payload && payload.url, win.location.href);
      if (!url) return null;
      const item = entry("bot");
      const link = el("a", "bubble attachment", "Open the attachment");
      link.href = url;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      item.append(link);
      return append(item);
    }

    /** One chat item. `from`: "bot" (default), "agent" (a person of the shop), "user" (history), "system". */
    function render(message) {
      if (!message || typeof message !== "object") return;
      if (message.from === "user") {
        if (message.type === "photo") addUserPhoto(message.url, null);
        else if (message.type === "text") addUserText(String(message.text ?? ""));
        return;
      }
      const who = message.from === "agent" ? "agent" : "bot";
      switch (message.type) {
        case "text":
          addBotText(String(message.text ?? ""), who, message.agent);
          break;
        case "status":
          showStatus(message.handoff, message.agent);
          break;
        case "buttons":
          addButtons(
            message.text ? String(message.text) : "",
            Array.isArray(message.buttons) ? message.buttons : [],
            who
          );
          break;
        case "product_cards":
          addProducts((Array.isArray(message.products) ? message.products : []).filter((p) => p && typeof p === "object"));
          break;
        case "image":
          addImage(message.url);
          break;
        case "attachment":
          addAttachment(message.payload);
          break;
        default:
          break; // custom payloads this page does not know are not shown
      }
    }

    function setBusy(busy) {
      pending = busy;
      typing.hidden = !busy;
      log.setAttribute("aria-busy", String(busy));
      sendButton.disabled = busy;
      if (photoButton) photoButton.disabled = busy;
      for (const choice of log.querySelectorAll(".quick-reply")) choice.disabled = busy;
    }

    function post(text) {
      return call("/api/chat", {
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ text }),
      });
    }

    /** POST to the gateway and return its chat items; a failure becomes a ChatError with the gateway's message. */
    async function call(url, init) {
      const controller = new AbortController();
      const timer = win.setTimeout(() => controller.abort(), timeoutMs);
      let response;
      try {
        response = await win.fetch(url, { method: "POST", ...init, signal: controller.signal });
      } catch (error) {
        throw new ChatError(error && error.name === "AbortError" ? TIMEOUT_ERROR : NETWORK_ERROR);
      } finally {
        win.clearTimeout(timer);
      }
      let data = null;
      try {
        data = await response.json();
      } catch (_) {
        data = null;
      }
      if (!response.ok) {
        const message = data && data.error && typeof data.error.message === "string" ? data.error.message : null;
        throw new ChatError(message || `The assistant could not answer (HTTP ${response.status}). Please try again.`);
      }
      return data && Array.isArray(data.messages) ? data.messages : [];
    }

    /** Send `text` (shown as `shown`); on failure show a notice and give the text back to the input. */
    async function submit(text, shown) {
      if (pending || !text.trim()) return false;
      const bubble = addUserText(shown);
      setBusy(true);
      try {
        for (const message of await post(text)) render(message);
        return true;
      } catch (error) {
        bubble.classList.add("msg-failed");
        bubble.append(el("span", "visually-hidden", " (not answered)"));
        addNotice(error instanceof ChatError ? error.message : NETWORK_ERROR);
        return false;
      } finally {
        setBusy(false);
      }
    }

    function readAsDataUrl(file) {
      return new Promise((resolve, reject) => {
        const reader = new win.FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(file);
      });
    }

    /** Upload one photo (checked here for type and size first; the gateway checks again, for real). */
    async function sendPhoto(file) {
      if (pending || !file) return false;
      if (file.type && !PHOTO_TYPES.has(file.type)) {
        addNotice("Only photos can be sent: JPEG, PNG or WebP.");
        return false;
      }
      if (file.size > maxUploadBytes) {
        addNotice(`That photo is larger than ${Math.round(maxUploadBytes / (1024 * 1024))} MB. Send a smaller one.`);
        return false;
      }
      let preview = null;
      try {
        preview = await readAsDataUrl(file);
      } catch (_) {
        preview = null;
      }
      const bubble = addUserPhoto(preview, file.name);
      const body = new win.FormData();
      body.append("photo", file, file.name || "photo");
      setBusy(true);
      try {
        for (const message of await call("/api/upload", { headers: { Accept: "application/json" }, body })) {
          render(message);
        }
        return true;
      } catch (error) {
        bubble.classList.add("msg-failed");
        bubble.append(el("span", "visually-hidden", " (not answered)"));
        addNotice(error instanceof ChatError ? error.message : NETWORK_ERROR);
        return false;
      } finally {
        setBusy(false);
      }
    }

    function hasFiles(event) {
      const types = event.dataTransfer && event.dataTransfer.types;
      return Boolean(types && Array.from(types).includes("Files"));
    }

    if (photoButton && photoInput) {
      photoButton.addEventListener("click", () => photoInput.click());
      photoInput.addEventListener("change", () => {
        const file = photoInput.files && photoInput.files[0];
        photoInput.value = "";
        sendPhoto(file);
      });
      root.addEventListener("dragover", (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        root.classList.add("dragging");
      });
      root.addEventListener("dragleave", () => root.classList.remove("dragging"));
      root.addEventListener("drop", (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        root.classList.remove("dragging");
        sendPhoto(event.dataTransfer.files[0]);
      });
    }

    function resize() {
      input.style.height = "auto";
      input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value;
      if (pending || !text.trim()) {
        input.focus();
        return;
      }
      input.value = "";
      resize();
      const ok = await submit(text, text);
      if (!ok && input.value === "") {
        input.value = text; // keep what the shopper typed so they can resend it
        resize();
      }
      input.focus();
    });

    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    input.addEventListener("input", resize);
    input.focus();

    /** The conversation so far, from the gateway (the tracker store): shown before anything else. */
    async function loadHistory() {
      try {
        const response = await win.fetch("/api/history", { headers: { Accept: "application/json" } });
        const data = response.ok ? await response.json() : null;
        if (!data) {
          if (response.status >= 500) addNotice("Your earlier messages could not be loaded just now.");
          return;
        }
        for (const message of Array.isArray(data.messages) ? data.messages : []) render(message);
        if (typeof data.handoff === "string") showStatus(data.handoff, null);
      } catch (_) {
        addNotice(NETWORK_ERROR);
      }
    }

    function handleEvent(event) {
      if (!event || typeof event !== "object") return;
      if (event.type === "messages") {
        for (const message of Array.isArray(event.items) ? event.items : []) render(message);
      } else if (event.type === "status") {
        showStatus(event.handoff, event.agent);
      }
    }

    // Messages the shop sends unasked (staff replies, "... is back in stock"): pushed over server-sent events; a
    // browser without EventSource asks for notices every 30 s instead.
    async function pollNotices() {
      if (pending) return;
      try {
        const response = await win.fetch("/api/notices", { headers: { Accept: "application/json" } });
        const data = response.ok ? await response.json() : null;
        for (const message of data && Array.isArray(data.messages) ? data.messages : []) render(message);
      } catch (_) {
        // offline or the gateway restarting: the next poll tries again
      }
    }

    function listen() {
      if (typeof win.EventSource !== "function") {
        if (typeof win.setInterval === "function") win.setInterval(pollNotices, NOTICE_POLL_MS);
        return null;
      }
      const source = new win.EventSource("/api/events");
      source.onmessage = (message) => {
        try {
          handleEvent(JSON.parse(message.data));
        } catch (_) {
          // not JSON: ignored
        }
      };
      // on error EventSource reconnects by itself after the server's `retry:` delay
      return source;
    }

    const ready = loadHistory().then(() => {
      root.dataset.ready = "true";
      return listen();
    });
    return { ready, handleEvent };
  }

  return { titleCase, formatPrice, stockBadge, agentLabel, safeUrl, start };
})();

if (typeof document !== "undefined") {
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => ShopChat.start(document, window));
  } else {
    ShopChat.start(document, window);
  }
}
