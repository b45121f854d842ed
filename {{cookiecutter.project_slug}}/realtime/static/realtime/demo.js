/**
 * The demo page's wiring: its forms and lists on one side, RealtimeClient on the other. Tokens,
 * tickets and reconnections are all client.js's business; nothing here is needed to reuse it.
 */
import { RealtimeClient, describeClose } from "./client.js";

const $ = (selector) => document.querySelector(selector);
const page = $("#demo");
const client = new RealtimeClient({
  tokenUrl: page.dataset.tokenUrl,
  refreshUrl: page.dataset.refreshUrl,
  authMode: page.dataset.authMode,
  logoutUrl: page.dataset.logoutUrl,
});
let refreshes = 0;

// The baked auth mode's flow, as the page runs it.
$("#flow").textContent = {
  ticket: "token pair, then a one-time ticket for each connection, then the socket with ?ticket=",
  query_jwt: "token pair, then the socket with the access token in ?token=",
  subprotocol: "token pair, then the socket with the access token as a subprotocol",
}[page.dataset.authMode];

function append(list, text, className = "") {
  const item = document.createElement("li");
  item.textContent = text;
  item.className = className;
  list.append(item);
  item.scrollIntoView({ block: "nearest" });
}

function clock(milliseconds = Date.now()) {
  return new Date(milliseconds).toLocaleTimeString([], { hour12: false });
}

client.addEventListener("state", ({ detail }) => {
  $("#state").textContent = detail.state;
  $("#state").dataset.state = detail.state;
  $("#state-reason").textContent = detail.reason;
  $("#sign-in").hidden = client.signedIn;
  $("#chat").hidden = !client.signedIn;
  if (detail.state === "signed-out" && detail.reason) {
    $("#sign-in-error").textContent = detail.reason;
  }
  // A browser never shows why a handshake was refused (HTTP 403): say what it may mean.
  if (detail.state === "stopped" && detail.reason.startsWith("handshake refused")) {
    append(
      $("#messages"),
      `"${client.room}" refused the connection: it may be a private room that you are not a ` +
        "member of, or the server refused your credentials",
      "notice",
    );
  }
});

client.addEventListener("message", ({ detail: frame }) => {
  if (frame.type === "chat.message") {
    append($("#messages"), `${frame.user}: ${frame.message}`);
  } else {
    append($("#messages"), `${frame.type}: ${frame.error ?? JSON.stringify(frame)}`, "notice");
  }
});

// On every (re)join: what the server kept for this page while it was away; and while the page
// is open, a gap in the live messages that the server could no longer fill (gap_too_old).
const LOST = {
  gap_too_old: "some messages are missing here and no longer kept: reload for the rest",
  history_lost: "the server lost its history: messages sent while you were away may be missing",
};
client.on("history", ({ detail }) => {
  if (LOST[detail.resume]) append($("#messages"), LOST[detail.resume], "notice");
  if (detail.missed) {
    append($("#messages"), `${detail.missed} sent while you were away:`, "notice");
  }
});

// Who is online in the room: one entry per user, however many tabs they have open.
client.on("presence", ({ detail }) => {
  const items = Object.entries(detail.members).map(([user, { metas }]) => {
    const item = document.createElement("li");
    item.textContent = metas.length > 1 ? `${user} (${metas.length} tabs)` : user;
    item.dataset.user = user;
    return item;
  });
  $("#online").replaceChildren(...items);
  for (const user of detail.left) append($("#messages"), `${user} left`, "notice");
});

client.addEventListener("close", ({ detail }) => {
  const reason = detail.reason ? ` "${detail.reason}"` : "";
  const when = detail.opened ? "" : ", before opening";
  append($("#closes"), `${clock()} ${describeClose(detail.code)}${reason}${when}`);
});

client.addEventListener("tokens", ({ detail }) => {
  if (detail.refreshed) refreshes += 1;
  $("#token-expiry").textContent = clock(detail.expiresAt);
  $("#refreshes").textContent = String(refreshes);
  $("#auth-ok").textContent = "";
});

// The server's answer to the token that the client sends on the open socket after a refresh.
client.addEventListener("auth", ({ detail }) => {
  $("#auth-ok").textContent = `; the open socket took it, until ${clock(detail.expires_at * 1000)}`;
});

$("#sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const username = form.elements.username.value;
  $("#sign-in-error").textContent = "";
  try {
    await client.signIn(username, form.elements.password.value);
  } catch (error) {
    $("#sign-in-error").textContent = error.message;
    return;
  }
  form.reset();
  $("#user").textContent = username;
  client.join($("#room").value);
});

$("#room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("#messages").replaceChildren();
  client.join($("#room").value);
});

$("#message-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#message");
  if (client.send({ message: input.value })) {
    input.value = "";
  } else {
    append($("#messages"), "not connected: the message was not sent", "notice");
  }
});

$("#sign-out").addEventListener("click", () => client.signOut());
