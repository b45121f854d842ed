/**
 * A browser client for this project's chat WebSockets: one ES module, no dependencies, no build
 * step. Copy it into any frontend (README: "Demo page").
 *
 * - Signs in at the JWT endpoint and keeps the access and refresh tokens in memory only, in
 *   private fields: never in localStorage, sessionStorage or a cookie. Reloading the page signs
 *   the user out. Signing out revokes the refresh token when `logoutUrl` is set.
 * - Refreshes the access token before it expires, and tells an open socket about the new one
 *   (`{"type": "auth", "token": ...}`).
 * - Opens every socket, reconnections included, with a fresh credential, as `authMode` says: a
 *   one-time ticket from `ticketUrl` in `?ticket=` ("ticket"), the access token in `?token=`
 *   ("query_jwt"), or the access token offered as the subprotocol `access_token.<jwt>`
 *   ("subprotocol"). Every socket offers the application subprotocol (`chat.v1`) too.
 * - Resumes: it keeps the last position it received in each room (with the room's epoch), and
 *   every socket asks for what came after it (`?epoch=&position=`, or `?history=1` the first
 *   time), so that messages sent while it was away arrive once each, in order, before live ones.
 *   When the server no longer has them ("gap_too_old", "history_lost"), the "history" event says so;
 *   also while the socket is open, when live messages skipped positions the server can no
 *   longer fill ("gap_too_old": the next message follows them, none of the missing ones).
 * - Presence: every socket asks for the room's members (`?presence=1`); the "presence" event
 *   carries them, one entry per user with one meta per open socket of theirs.
 * - Reconnects by itself with exponential backoff and jitter, and stops when a close means that
 *   the credentials are bad. A server restarting (1012) is no failure: it reconnects at once,
 *   within `restartJitterMs`, so that the restarted server's clients do not all arrive together.
 *
 * Events (it is an EventTarget; each event's `detail`):
 * - "state": {state, reason}; state is one of STATES.
 * - "message": a frame from the server, parsed (`{"type": "chat.message", ...}`).
 * - "close": {code, reason, opened}; `opened` is false when the socket never opened.
 * - "tokens": {expiresAt, refreshed}; expiresAt in milliseconds on this machine's clock.
 * - "auth": the server's answer to an in-band token refresh (`{"type": "auth.ok", ...}`).
 * - "history": {resume, missed}: what the server said on (re)joining, or later on a gap it could
 *   not fill or a history lost; resume is "fresh", "ok", "gap_too_old" or "history_lost", missed
 *   how many messages it sent (as "message" events).
 * - "presence": {members, joined, left}: who is in the room (user -> {metas}), and the users who
 *   just came (their first socket) or went (their last).
 *
 * Typed with JSDoc, which TypeScript reads (`tsc --checkJs --strict`; tsconfig.json at the
 * project's root checks this file so): a TypeScript project imports it as it is.
 */

/** @typedef {"signed-out" | "idle" | "connecting" | "open" | "reconnecting" | "stopped"} State */
/** @typedef {"ticket" | "query_jwt" | "subprotocol"} AuthMode */
/**
 * A chat message; epoch and position are there on sockets that asked for history (this
 * client's always do).
 * @typedef {{type: "chat.message", room: string, user: string, message: string,
 *   epoch?: string, position?: number}} ChatFrame
 */
/** @typedef {"fresh" | "ok" | "gap_too_old" | "history_lost"} ResumeOutcome */
/** @typedef {{ref: string, user: string, online_at: number}} PresenceMeta */
/** @typedef {Record<string, {metas: PresenceMeta[]}>} PresenceMembers */
/**
 * A frame from the server (README: "API and frames").
 * @typedef {ChatFrame | {type: "error", error: string}} ServerFrame
 */
/** @typedef {{type: "auth.ok", expires_at: number}} AuthOkFrame */
/**
 * A frame to the server: a chat message, or an in-band access token.
 * @typedef {{message: string} | {type: "auth", token: string}} ClientFrame
 */
/**
 * The events a RealtimeClient dispatches, by type.
 * @typedef {object} RealtimeClientEventMap
 * @property {CustomEvent<{state: State, reason: string}>} state
 * @property {CustomEvent<ServerFrame>} message
 * @property {CustomEvent<{code: number, reason: string, opened: boolean}>} close
 * @property {CustomEvent<{expiresAt: number, refreshed: boolean}>} tokens
 * @property {CustomEvent<AuthOkFrame>} auth
 * @property {CustomEvent<{resume: ResumeOutcome, missed: number}>} history
 * @property {CustomEvent<{members: PresenceMembers, joined: string[], left: string[]}>} presence
 */
/**
 * @typedef {object} Options
 * @property {string} baseUrl where the API and the sockets are
 * @property {string} tokenUrl
 * @property {string} refreshUrl
 * @property {AuthMode} authMode how sockets authenticate, as the server was baked
 * @property {string} ticketUrl the ticket mode's endpoint
 * @property {string} subprotocol the application subprotocol, offered on every socket
 * @property {string | null} logoutUrl set: signOut() revokes the refresh token there
 * @property {(room: string) => string} socketPath
 * @property {number} baseDelayMs
 * @property {number} maxDelayMs
 * @property {number} stableAfterMs
 * @property {number} slowDownMs
 * @property {number} restartJitterMs
 * @property {number} maxRefusals
 * @property {number} refreshAt
 */

// Close codes. 1xxx are RFC 6455's; 44xx follow the graphql-ws convention: 4000 + HTTP status.
export const CLOSE_NORMAL = 1000;
// No close frame. Before `open`, it is also all a browser reports of a refused handshake (HTTP
// 403): it never shows the status, so such a close may mean a bad credential.
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_SERVICE_RESTART = 1012;
export const CLOSE_TRY_AGAIN_LATER = 1013; // the server cannot serve sockets now (Redis down)
export const CLOSE_UNAUTHORIZED = 4401; // the credential expired, or the session was logged out
export const CLOSE_FORBIDDEN = 4403; // authentication failed, or not a member: retrying cannot help
export const CLOSE_TOO_SLOW = 4408; // this client read slower than its messages came: some were dropped
export const CLOSE_TOO_MANY_REQUESTS = 4429; // rate_limited or too_many_connections: slow down
export const CLOSE_BAD_REQUEST = 4400; // malformed history or presence parameters
// Reasons sent with CLOSE_UNAUTHORIZED. Some servers (daphne) drop reasons: none = expired.
export const REASON_TOKEN_EXPIRED = "token_expired";
export const REASON_LOGGED_OUT = "logged_out";
// Sent with CLOSE_FORBIDDEN when the user was removed from the room (or it became private).
export const REASON_NOT_A_MEMBER = "not_a_member";

/** @type {Record<number, string>} */
const CLOSE_DESCRIPTIONS = {
  [CLOSE_NORMAL]: "normal closure",
  1001: "going away",
  [CLOSE_ABNORMAL]: "abnormal closure, no close frame",
  1008: "policy violation",
  1011: "server error",
  [CLOSE_SERVICE_RESTART]: "service restart",
  [CLOSE_TRY_AGAIN_LATER]: "try again later",
  [CLOSE_UNAUTHORIZED]: "unauthorized",
  [CLOSE_FORBIDDEN]: "forbidden",
  [CLOSE_BAD_REQUEST]: "bad request",
  [CLOSE_TOO_SLOW]: "too slow",
  [CLOSE_TOO_MANY_REQUESTS]: "too many requests",
};

/** @type {readonly State[]} */
export const STATES = [
  "signed-out", // no tokens
  "idle", // signed in, no room joined
  "connecting", // fetching a credential or opening the socket
  "open", // connected
  "reconnecting", // waiting to try again
  "stopped", // will not try again on its own; join() tries again
];

/** @type {readonly AuthMode[]} */
export const AUTH_MODES = ["ticket", "query_jwt", "subprotocol"];

/** @type {Readonly<Options>} */
export const DEFAULTS = {
  baseUrl: globalThis.location?.origin, // where the API and the sockets are
  tokenUrl: "/api/token/",
  refreshUrl: "/api/token/refresh/",
  // How sockets authenticate, as the server was baked: "ticket", "query_jwt" or "subprotocol".
  authMode: "ticket",
  ticketUrl: "/api/ws-ticket/", // the ticket mode's endpoint
  subprotocol: "chat.v1", // the application subprotocol, offered on every socket
  logoutUrl: null, // set: signOut() revokes the refresh token there (and the user's sockets)
  socketPath: (room) => `/ws/chat/${encodeURIComponent(room)}/`,
  baseDelayMs: 500, // first reconnection delay; doubles with each failure in a row
  maxDelayMs: 30_000,
  stableAfterMs: 10_000, // a socket open this long resets the backoff; one that flaps does not
  slowDownMs: 5_000, // at least this long after 4408, 4429 or 1013
  restartJitterMs: 1_000, // after 1012 (server restart), reconnect within this long, at random
  maxRefusals: 2, // sockets in a row that close before opening, with the server answering HTTP
  refreshAt: 0.8, // refresh the access token at this fraction of its lifetime
};

/**
 * A short text for a close code: "1012 service restart".
 * @param {number} code
 * @returns {string}
 */
export function describeClose(code) {
  return `${code} ${CLOSE_DESCRIPTIONS[code] ?? "unknown"}`;
}

/** The server could not be reached or asked to wait: try again later. */
class Unavailable extends Error {
  /**
   * @param {string} message
   * @param {number} retryAfterMs
   */
  constructor(message, retryAfterMs = 0) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** The credentials are gone or refused; the client is signed out. */
class SignedOut extends Error {}

export class RealtimeClient extends EventTarget {
  /** @type {Options} */
  #options;
  /** @type {string | null} */
  #access = null;
  /** @type {string | null} */
  #refresh = null;
  #refreshDueAt = 0; // when to refresh the access token, on this machine's clock
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #refreshTimer = undefined;
  /** @type {Promise<void> | null} */
  #refreshing = null; // the refresh in flight, shared by everyone who needs it
  /** @type {string | null} */
  #room = null;
  /** @type {WebSocket | null} */
  #socket = null;
  #generation = 0; // bumped whenever the current socket or retry is abandoned
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #retryTimer = undefined;
  #failures = 0; // attempts in a row that did not end in a stable socket
  #refusals = 0; // sockets in a row that closed before opening
  #staleCredential = false; // refresh the access token before the next attempt
  /** @type {Map<string, {epoch: string, position: number}>} */
  #positions = new Map(); // per room: the last message received, to resume after
  /** @type {Map<string, PresenceMeta>} */
  #presence = new Map(); // the current room's sockets, by ref
  /** @type {State} */
  state = "signed-out";

  /** @param {Partial<Options>} [options] */
  constructor(options = {}) {
    super();
    this.#options = { ...DEFAULTS, ...options };
    if (!AUTH_MODES.includes(this.#options.authMode)) {
      throw new Error(`authMode must be one of ${AUTH_MODES.join(", ")}`);
    }
  }

  /**
   * Listen to one of this client's events, its `detail` typed (RealtimeClientEventMap).
   * @template {keyof RealtimeClientEventMap} K
   * @param {K} type
   * @param {(event: RealtimeClientEventMap[K]) => void} listener
   * @param {boolean | AddEventListenerOptions} [options]
   */
  on(type, listener, options) {
    this.addEventListener(type, /** @type {EventListener} */ (listener), options);
  }

  /** @returns {boolean} */
  get signedIn() {
    return this.#refresh !== null;
  }

  /** @returns {string | null} */
  get room() {
    return this.#room;
  }

  /**
   * Get a token pair with a username and a password; throws an Error that says why not.
   * @param {string} username
   * @param {string} password
   * @returns {Promise<void>}
   */
  async signIn(username, password) {
    const response = await this.#post(this.#options.tokenUrl, { username, password });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.detail ?? `sign-in failed: HTTP ${response.status}`);
    }
    this.#forget();
    this.#storeTokens(await response.json(), false);
    this.#setState("idle");
  }

  /** Forget the tokens, close the socket, and revoke the refresh token at `logoutUrl`. */
  signOut() {
    const { logoutUrl } = this.#options;
    if (logoutUrl && this.#refresh) {
      // Fire and forget: this client is signed out whatever the server answers.
      this.#post(logoutUrl, { refresh: this.#refresh }).catch(() => {});
    }
    this.#signedOut("");
  }

  /**
   * Signed out by the server, or by tokens it refuses: nothing left to revoke.
   * @param {string} reason
   */
  #signedOut(reason) {
    this.#forget();
    this.#setState("signed-out", reason);
  }

  #forget() {
    this.#abandonSocket(CLOSE_NORMAL, "signed out");
    clearTimeout(this.#refreshTimer);
    this.#access = this.#refresh = null;
    this.#room = null;
  }

  /**
   * Connect to a room (leaving the current one), and stay connected until told otherwise.
   * @param {string} room
   */
  join(room) {
    if (!this.signedIn) throw new Error("sign in first");
    this.#abandonSocket(CLOSE_NORMAL, "switching rooms");
    this.#room = room;
    this.#presence.clear();
    this.#failures = this.#refusals = 0;
    this.#connect();
  }

  /** Close the socket and stay disconnected. */
  leave() {
    this.#abandonSocket(CLOSE_NORMAL, "left");
    this.#room = null;
    this.#setState(this.signedIn ? "idle" : "signed-out");
  }

  /**
   * Send a JSON frame; false when no socket is open.
   * @param {ClientFrame} frame
   * @returns {boolean}
   */
  send(frame) {
    if (this.#socket?.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  async #connect() {
    const generation = ++this.#generation;
    this.#setState(this.#failures ? "reconnecting" : "connecting");
    let target;
    try {
      target = await this.#socketTarget();
    } catch (error) {
      if (generation !== this.#generation || error instanceof SignedOut) return;
      const retryAfterMs = error instanceof Unavailable ? error.retryAfterMs : 0;
      this.#retry(retryAfterMs, error instanceof Error ? error.message : String(error));
      return;
    }
    if (generation !== this.#generation) return;
    // The browser fails the handshake unless the server accepts one of these subprotocols.
    const socket = new WebSocket(target.url, target.protocols);
    this.#socket = socket;
    let opened = false;
    let openedAt = 0;
    socket.addEventListener("open", () => {
      opened = true;
      openedAt = Date.now();
      this.#refusals = 0;
      this.#setState("open");
    });
    socket.addEventListener("message", (event) => this.#receive(event.data));
    socket.addEventListener("close", (event) => {
      if (this.#socket === socket) this.#socket = null;
      if (opened && Date.now() - openedAt >= this.#options.stableAfterMs) this.#failures = 0;
      this.#emit("close", { code: event.code, reason: event.reason, opened });
      if (generation === this.#generation) this.#closed(event.code, event.reason, opened);
    });
  }

  /**
   * What to do after the server (or the network) closed the socket.
   * @param {number} code
   * @param {string} reason
   * @param {boolean} opened
   */
  #closed(code, reason, opened) {
    if (code === CLOSE_UNAUTHORIZED) {
      if (reason === REASON_LOGGED_OUT) {
        this.#signedOut("logged out by the server");
        return;
      }
      this.#staleCredential = true; // expired: reconnect with a refreshed token
      this.#retry(0, "credential expired");
      return;
    }
    if (code === CLOSE_BAD_REQUEST) {
      this.#positions.delete(this.#room ?? ""); // never sent by this client: start afresh
      this.#stop(`the server refused the request (${describeClose(code)})`);
      return;
    }
    if (code === CLOSE_FORBIDDEN) {
      const why =
        reason === REASON_NOT_A_MEMBER
          ? "not a member of this room"
          : "the server refused the credentials";
      this.#stop(`${why} (${describeClose(code)})`);
      return;
    }
    if (code === CLOSE_SERVICE_RESTART && opened) {
      // A deploy, not a failure: start the backoff afresh and come back at once, spread out.
      this.#failures = 0;
      this.#schedule(Math.random() * this.#options.restartJitterMs, describeClose(code));
      return;
    }
    if (!opened) {
      // Most likely a refused handshake. The credential came from a server that answered HTTP
      // just before (the next attempt proves it again), so after a few in a row, give up.
      this.#refusals += 1;
      if (this.#refusals >= this.#options.maxRefusals) {
        this.#stop(`handshake refused ${this.#refusals} times in a row`);
        return;
      }
      this.#staleCredential = true;
    }
    const slow = [CLOSE_TOO_SLOW, CLOSE_TOO_MANY_REQUESTS, CLOSE_TRY_AGAIN_LATER].includes(code);
    this.#retry(slow ? this.#options.slowDownMs : 0, describeClose(code));
  }

  /**
   * Try again after an exponential backoff with jitter, never sooner than `floorMs`.
   * @param {number} floorMs
   * @param {string} why
   */
  #retry(floorMs, why) {
    const { baseDelayMs, maxDelayMs } = this.#options;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** this.#failures);
    // "Equal jitter": half fixed, half random, so that clients cut off together spread out.
    this.#schedule(Math.max(floorMs, ceiling / 2 + (Math.random() * ceiling) / 2), why);
  }

  /**
   * Connect again after `delay` ms; the attempt counts as a failure until a socket is stable.
   * @param {number} delay
   * @param {string} why
   */
  #schedule(delay, why) {
    this.#failures += 1;
    clearTimeout(this.#retryTimer);
    const generation = ++this.#generation;
    this.#retryTimer = setTimeout(() => {
      if (generation === this.#generation) this.#connect();
    }, delay);
    this.#setState("reconnecting", `${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
  }

  /** @param {string} reason */
  #stop(reason) {
    this.#abandonSocket(CLOSE_NORMAL, "stopped");
    this.#setState("stopped", reason);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #abandonSocket(code, reason) {
    this.#generation += 1; // whatever is in flight for the old socket no longer counts
    clearTimeout(this.#retryTimer);
    this.#socket?.close(code, reason);
    this.#socket = null;
  }

  /**
   * The socket's URL and subprotocols, with a fresh credential: a new ticket, or a valid
   * access token.
   * @returns {Promise<{url: string, protocols: string[]}>}
   */
  async #socketTarget() {
    const { authMode, baseUrl, socketPath, subprotocol } = this.#options;
    if (this.#staleCredential || Date.now() >= this.#refreshDueAt) {
      await this.#refreshAccess();
      this.#staleCredential = false;
    }
    const url = new URL(socketPath(this.#room ?? ""), baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const protocols = [subprotocol];
    if (authMode === "ticket") {
      url.searchParams.set("ticket", await this.#ticket());
    } else if (authMode === "query_jwt") {
      url.searchParams.set("token", this.#access ?? "");
    } else {
      protocols.push(`access_token.${this.#access}`);
    }
    // After the credential: what this socket asks for (README: "Presence and history").
    const since = this.#positions.get(this.#room ?? "");
    url.searchParams.set("presence", "1");
    if (since) {
      url.searchParams.set("epoch", since.epoch);
      url.searchParams.set("position", String(since.position));
    } else {
      url.searchParams.set("history", "1");
    }
    return { url: url.href, protocols };
  }

  /**
   * @param {boolean} refreshed
   * @returns {Promise<string>}
   */
  async #ticket(refreshed = false) {
    const response = await this.#post(this.#options.ticketUrl, {}, this.#access);
    if (response.status === 401 && !refreshed) {
      await this.#refreshAccess(); // the access token was refused: one refresh, one more try
      return this.#ticket(true);
    }
    if (response.status === 401) {
      this.#signedOut("the server refused the access token");
      throw new SignedOut();
    }
    if (!response.ok) throw unavailable(response);
    return (await response.json()).ticket;
  }

  /** @returns {Promise<void>} */
  #refreshAccess() {
    this.#refreshing ??= this.#doRefresh().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #doRefresh() {
    const refresh = this.#refresh;
    if (refresh === null) throw new SignedOut();
    const response = await this.#post(this.#options.refreshUrl, { refresh });
    const tokens = response.ok ? await response.json() : null;
    if (this.#refresh !== refresh) throw new SignedOut(); // signed out (or in again) meanwhile
    if (response.status === 400 || response.status === 401) {
      this.#signedOut("session expired: sign in again");
      throw new SignedOut();
    }
    if (!response.ok) throw unavailable(response);
    this.#storeTokens(tokens, true);
    // An open socket learns about the new token; a server that supports it answers "auth.ok".
    this.send({ type: "auth", token: tokens.access });
  }

  /**
   * @param {{access: string, refresh?: string}} tokens
   * @param {boolean} refreshed
   */
  #storeTokens({ access, refresh }, refreshed) {
    this.#access = access;
    if (refresh) this.#refresh = refresh; // a new one when the server rotates refresh tokens
    // The token's lifetime, counted from now on this machine's clock: clock skew does not matter.
    // `iat` and `exp` are whole seconds, so up to one second of it may be gone already.
    const { iat, exp } = jwtClaims(access);
    const lifetimeMs = Math.max(exp - iat - 1, 1) * 1000;
    const now = Date.now();
    this.#refreshDueAt = now + lifetimeMs * this.#options.refreshAt;
    clearTimeout(this.#refreshTimer);
    // setTimeout fires at once for delays past 2^31 - 1 ms (24.8 days).
    const delay = Math.min(this.#refreshDueAt - now, 2 ** 31 - 1);
    this.#refreshTimer = setTimeout(() => this.#refreshSoon(), delay);
    this.#emit("tokens", { expiresAt: now + lifetimeMs, refreshed });
  }

  /** The scheduled refresh; when the server is unreachable, try again a little later. */
  async #refreshSoon() {
    try {
      await this.#refreshAccess();
    } catch (error) {
      if (error instanceof SignedOut) return;
      clearTimeout(this.#refreshTimer);
      const delay = Math.max(error instanceof Unavailable ? error.retryAfterMs : 0, 2000);
      this.#refreshTimer = setTimeout(() => this.#refreshSoon(), delay);
    }
  }

  /** @param {string} data */
  #receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame?.type === "auth.ok") {
      this.#emit("auth", frame);
    } else if (frame?.type === "history") {
      this.#resumed(frame);
    } else if (frame?.type === "presence.state" || frame?.type === "presence.diff") {
      this.#presenceChanged(frame);
    } else {
      if (frame?.type === "chat.message" && !this.#take(frame)) return;
      this.#emit("message", frame);
    }
  }

  /**
   * Record a chat frame's position; false if it was received already.
   * @param {ChatFrame} frame
   * @returns {boolean}
   */
  #take(frame) {
    const { epoch, position, room } = frame;
    if (epoch === undefined || position === undefined) return true;
    const last = this.#positions.get(room);
    if (last && last.epoch === epoch && position <= last.position) return false;
    this.#positions.set(room, { epoch, position });
    return true;
  }

  /**
   * The server's answer on joining (where the room is, and the missed messages), or while open
   * on a gap it could not fill or a history lost: the same shape, handled the same way.
   * @param {{room: string, epoch: string, position: number, resume: ResumeOutcome,
   *   messages: ChatFrame[]}} frame
   */
  #resumed(frame) {
    const { room, epoch, position, resume, messages } = frame;
    const last = this.#positions.get(room);
    if (!last || last.epoch !== epoch) this.#positions.set(room, { epoch, position: 0 });
    this.#emit("history", { resume, missed: messages.length });
    for (const message of messages) {
      if (this.#take(message)) this.#emit("message", message);
    }
    this.#positions.set(room, { epoch, position });
  }

  /**
   * Apply a presence state (every socket in the room) or diff (sockets that came and went).
   * @param {{type: string, members?: PresenceMembers, joins?: PresenceMembers,
   *   leaves?: PresenceMembers}} frame
   */
  #presenceChanged(frame) {
    const before = new Set(this.#users());
    if (frame.type === "presence.state") this.#presence.clear();
    for (const { metas } of Object.values(frame.members ?? frame.joins ?? {})) {
      for (const meta of metas) this.#presence.set(meta.ref, meta);
    }
    for (const { metas } of Object.values(frame.leaves ?? {})) {
      for (const meta of metas) this.#presence.delete(meta.ref);
    }
    const after = new Set(this.#users());
    this.#emit("presence", {
      members: this.presence,
      joined: [...after].filter((user) => !before.has(user)),
      left: [...before].filter((user) => !after.has(user)),
    });
  }

  /** @returns {string[]} */
  #users() {
    return [...this.#presence.values()].map((meta) => meta.user);
  }

  /**
   * Who is in the current room: user -> {metas}, one meta per open socket of theirs.
   * @returns {PresenceMembers}
   */
  get presence() {
    /** @type {PresenceMembers} */
    const members = Object.create(null); // keys are user names: no inherited ones
    for (const meta of this.#presence.values()) {
      (members[meta.user] ??= { metas: [] }).metas.push(meta);
    }
    return members;
  }

  /**
   * POST JSON; a network failure becomes Unavailable.
   * @param {string} path
   * @param {object} payload
   * @param {string | null} bearer
   * @returns {Promise<Response>}
   */
  async #post(path, payload, bearer = null) {
    /** @type {Record<string, string>} */
    const headers = { "Content-Type": "application/json" };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    try {
      return await fetch(new URL(path, this.#options.baseUrl), {
        method: "POST",
        headers,
        body: JSON.stringify(payload),
        credentials: "omit", // bearer tokens only: no cookie goes along
        cache: "no-store",
      });
    } catch (error) {
      throw new Unavailable(`server unreachable: ${error instanceof Error ? error.message : error}`);
    }
  }

  /**
   * @param {State} state
   * @param {string} reason
   */
  #setState(state, reason = "") {
    this.state = state;
    this.#emit("state", { state, reason });
  }

  /**
   * @template {keyof RealtimeClientEventMap} K
   * @param {K} type
   * @param {RealtimeClientEventMap[K]["detail"]} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * A JWT's claims, unverified: only to schedule refreshes. The server verifies tokens.
 * @param {string} token
 * @returns {{iat: number, exp: number}}
 */
function jwtClaims(token) {
  const base64 = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
  return JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")));
}

/**
 * An HTTP error that retrying may fix (429, 503, ...), honouring Retry-After.
 * @param {Response} response
 * @returns {Unavailable}
 */
function unavailable(response) {
  const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return new Unavailable(`HTTP ${response.status}`, Number.isNaN(seconds) ? 0 : seconds * 1000);
}
