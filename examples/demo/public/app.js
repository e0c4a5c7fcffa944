// The demo page: plain browser JavaScript, no build step. `io` comes from /socket.io/socket.io.js,
// served by the worker; default transports, so each page starts with long-polling and then
// upgrades to websocket, both through the sticky primary.

const room = new URLSearchParams(location.search).get("room") || "lobby";
const socket = io({ query: { room } });
// For the end-to-end test and for the curious, in the devtools console.
window.demo = { socket };

const $ = (selector) => document.querySelector(selector);
const names = ["otter", "heron", "lynx", "wren", "ibex", "orca", "puffin", "marten"];
$("#name").value = `${names[Math.floor(Math.random() * names.length)]}-${Math.floor(Math.random() * 100)}`;
$("#room").textContent = room;

let me = null;
const rates = [];

// One colour per worker, the same on every page; the primary is violet.
function colour(label) {
  if (label === "primary") return "#6d28d9";
  const n = Number(/\d+/.exec(label)?.[0] ?? 0);
  return `hsl(${(n * 137.5 + 200) % 360} 60% 40%)`;
}

function tag(label) {
  const element = document.createElement("b");
  element.className = "tag";
  element.textContent = label;
  element.style.setProperty("--tag", colour(label));
  return element;
}

function showTransport() {
  $("#transport").textContent = socket.io.engine?.transport.name ?? "?";
}

socket.on("connect", () => {
  $("#status").textContent = "connected";
  $("#status").classList.add("up");
  showTransport();
  socket.io.engine.once("upgrade", showTransport);
});

socket.on("disconnect", (reason) => {
  $("#status").textContent = `disconnected (${reason})`;
  $("#status").classList.remove("up");
});

socket.on("welcome", (welcome) => {
  me = welcome.worker;
  $("#worker").replaceWith(Object.assign(tag(me), { id: "worker" }));
  refresh();
});

socket.on("chat", (message) => {
  const item = document.createElement("li");
  item.className = message.from === "primary" ? "message primary" : "message";
  item.dataset.from = message.from;
  item.dataset.via = message.via;
  const name = Object.assign(document.createElement("span"), { className: "name", textContent: message.name });
  const text = Object.assign(document.createElement("span"), { className: "text", textContent: message.text });
  const time = document.createElement("time");
  time.dateTime = new Date(message.at).toISOString();
  time.textContent = new Date(message.at).toLocaleTimeString();
  const route = Object.assign(document.createElement("span"), { className: "route" });
  route.append("sent by ", tag(message.from), " delivered by ", tag(message.via));
  item.append(name, text, time, route);
  const list = $("#messages");
  list.append(item);
  while (list.children.length > 200) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
});

$("#form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("#text").value.trim();
  if (!text) return;
  socket.emit("chat", { name: $("#name").value, text });
  $("#text").value = "";
});

// A worker says "presence" when a client comes or goes; the page then asks its own worker for
// the whole picture (fetchSockets, serverCount), at most every 200 ms, and every 5 s anyway.
let pending = null;
function refresh() {
  if (pending) return;
  pending = setTimeout(async () => {
    pending = null;
    if (!socket.connected) return;
    try {
      showOverview(await socket.timeout(6_000).emitWithAck("overview"));
    } catch {
      // A worker that is stopping answers no more: the next presence or tick asks again.
    }
  }, 200);
}
socket.on("presence", refresh);
setInterval(refresh, 5_000);

function showOverview({ servers, clients }) {
  $("#server-count").textContent = servers;
  const rows = Object.entries(clients).sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }));
  const most = Math.max(1, ...rows.map(([, count]) => count));
  $("#clients tbody").replaceChildren(
    ...rows.map(([label, count]) => {
      const row = document.createElement("tr");
      row.dataset.worker = label;
      row.dataset.count = count;
      if (label === me) row.className = "you";
      const bar = Object.assign(document.createElement("span"), { style: `width:${(100 * count) / most}%` });
      bar.style.setProperty("--tag", colour(label));
      const cells = [document.createElement("td"), document.createElement("td"), document.createElement("td")];
      cells[0].append(tag(label));
      cells[1].className = "count";
      cells[1].textContent = count;
      cells[2].className = "bar";
      cells[2].append(bar);
      row.append(...cells);
      return row;
    }),
  );
}

socket.on("hub:stats", (stats) => {
  $("#rate").textContent = stats.perSecond;
  $("#hub-workers").textContent = stats.workers;
  $("#hub-helpers").textContent = stats.helpers;
  $("#hub-routed").textContent = stats.messagesRouted.toLocaleString("en");
  $("#hub-bytes").textContent = stats.bytesRouted.toLocaleString("en");
  $("#hub-dropped").textContent = stats.messagesDropped;
  $("#hub-ignored").textContent = stats.messagesIgnored.toLocaleString("en");
  rates.push(stats.perSecond);
  if (rates.length > 60) rates.shift();
  const top = Math.max(1, ...rates);
  const step = 120 / Math.max(1, rates.length - 1);
  const points = rates.map((rate, i) => `${i * step},${30 - (28 * rate) / top}`);
  $("#spark polyline").setAttribute("points", points.join(" "));
});
