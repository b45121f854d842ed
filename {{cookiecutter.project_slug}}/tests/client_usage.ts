// How a TypeScript project uses realtime/static/realtime/client.js: tsc -p . (tsconfig.json)
// checks this file against the client's JSDoc types. Each @ts-expect-error is a misuse the types
// must refuse: if the types were lost (any), the directive itself would fail the check.
import { DEFAULTS, RealtimeClient, describeClose, type State } from "../realtime/static/realtime/client.js";

const client = new RealtimeClient({ authMode: "ticket", logoutUrl: "/api/logout/" });
// @ts-expect-error: not an auth mode
new RealtimeClient({ authMode: "cookie" });

client.on("state", (event) => {
  const state: State = event.detail.state;
  const reason: string = event.detail.reason;
  console.log(state, reason);
});
client.on("message", (event) => {
  const frame = event.detail;
  if (frame.type === "chat.message") {
    const text: string = frame.message;
    console.log(frame.room, frame.user, text);
  } else {
    const error: string = frame.error;
    console.log(error);
  }
});
client.on("close", (event) => {
  const code: number = event.detail.code;
  console.log(describeClose(code), event.detail.opened);
});
client.on("auth", (event) => {
  const expiresAt: number = event.detail.expires_at;
  console.log(expiresAt);
});
// @ts-expect-error: no such event
client.on("closed", () => {});

async function chat(): Promise<void> {
  await client.signIn("alice", "password");
  client.join("lobby");
  const sent: boolean = client.send({ message: "hello" });
  // @ts-expect-error: a chat frame holds a message
  client.send({ text: "hello" });
  console.log(sent, client.room, client.signedIn, client.state, DEFAULTS.tokenUrl);
  client.signOut();
}

void chat();
