// Staff console: live updates for the open transcript and the handoff queue (server-sent events).
// Text from the server is only ever set with textContent, never parsed as HTML: messages are shopper input.
"use strict";

(function () {
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function timeNode(iso) {
    var t = el("time", null, iso ? iso.replace("T", " ").slice(0, 19) : "now");
    if (iso) t.setAttribute("datetime", iso);
    return t;
  }

  function turn(kind, who, iso) {
    var li = el("li", "turn " + kind + " live");
    var meta = el("p", "meta");
    meta.appendChild(el("span", "who", who));
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(timeNode(iso));
    li.appendChild(meta);
    return li;
  }

  function itemNodes(item) {
    var nodes = [];
    if (item.type === "text" || item.type === "buttons") {
      if (item.text) nodes.push(el("p", "text", item.text));
      if (item.type === "buttons" && Array.isArray(item.buttons)) {
        var ul = el("ul", "buttons");
        ul.setAttribute("aria-label", "Quick replies offered");
        item.buttons.forEach(function (b) { ul.appendChild(el("li", null, b && b.title)); });
        nodes.push(ul);
      }
    } else if (item.type === "product_cards" && Array.isArray(item.products)) {
      var cards = el("ul", "cards");
      cards.setAttribute("aria-label", "Product cards shown");
      item.products.forEach(function (p) {
        var li = el("li", "card");
        li.appendChild(el("span", "card-title", p && p.title));
        if (p && p.price !== undefined) li.appendChild(el("span", "price", (p.currency || "") + " " + p.price));
        if (p && p.stock && p.stock.label) li.appendChild(el("span", "badge stock-" + (p.stock.level || "unknown"), p.stock.label));
        cards.appendChild(li);
      });
      nodes.push(cards);
    } else if (item.type === "image") {
      nodes.push(el("p", "detail", "[image]"));
    }
    return nodes;
  }

  function liveTranscript(list) {
    var state = document.getElementById("live-state");
    var status = document.getElementById("handoff-status");
    var empty = list.querySelector("li.empty");
    function add(li) {
      if (empty) { empty.remove(); empty = null; }
      list.appendChild(li);
    }
    var source = new EventSource(list.getAttribute("data-live-url"));
    source.onopen = function () { if (state) state.textContent = "Live: new messages appear here."; };
    source.onerror = function () { if (state) state.textContent = "Live updates interrupted; reconnecting…"; };
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type === "shopper_message") {
        var li = turn("user", "Shopper", event.at);
        li.appendChild(el("p", "text", event.text));
        add(li);
      } else if (event.type === "bot_messages" && Array.isArray(event.items)) {
        event.items.forEach(function (item) {
          var agent = item.from === "agent";
          var li = turn(agent ? "agent" : "bot", agent ? "Staff · " + (item.agent || "") : "Assistant", event.at);
          itemNodes(item).forEach(function (n) { li.appendChild(n); });
          add(li);
        });
      } else if (event.type === "status" && status) {
        status.textContent = event.handoff === "taken" ? "held by " + (event.agent || "a person")
          : event.handoff === "waiting" ? "waiting for a person" : "the assistant answers";
      }
    };
  }

  function liveQueue(container) {
    var source = new EventSource(container.getAttribute("data-live-url"));
    var busy = false;
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type !== "queue_changed" || busy) return;
      busy = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) return;
          // The page is our own server-rendered, escaped HTML; only its #queue part is swapped in.
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("queue");
          if (fresh) container.replaceChildren.apply(container, Array.prototype.slice.call(fresh.childNodes));
        })
        .catch(function () {})
        .then(function () { busy = false; });
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("transcript");
    if (list && list.getAttribute("data-live-url") && window.EventSource) liveTranscript(list);
    var queue = document.getElementById("queue");
    if (queue && queue.getAttribute("data-live-url") && window.EventSource) liveQueue(queue);
  });
})();
