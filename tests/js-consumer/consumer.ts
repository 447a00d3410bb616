// A small app against the package's public types: if pkg/mucsub.d.ts drifts from
// docs/js-api.md, `tsc --noEmit` fails here. Never run, only type-checked.
import init, {
  MucSubClient,
  type RoomEvent,
  type Subscription,
  type Subscriber,
  type ConnectionState,
  type SyncProgress,
  type ReadChange,
  type SyncSummary,
  type MucSubError,
  type HistoryPage,
  type Node,
  type SubscriptionChange,
  type Credentials,
  type ClientOptions,
  type TabRole,
  type SendResult,
} from "mucsub";

export async function app(): Promise<void> {
  await init();
  const client = new MucSubClient({
    url: "ws://127.0.0.1:5280/ws",
    jid: "bob@localhost",
    password: "pw",
    store: "mucsub-bob",
    resource: "web",
  });

  client.on("event", (ev: RoomEvent) => {
    const kind: "message" | "subject" | "presence" | "participants" | "affiliation" |
      "config" | "subscribers" | "system" | "change" = ev.kind;
    const source: "live" | "joined" | "offline" | "archive" = ev.source;
    const when: number = ev.timestamp;
    const text: string | undefined = ev.body ?? ev.subject;
    const ids: (string | undefined)[] = [ev.stanzaId, ev.id, ev.nick, ev.jid];
    console.log(kind, source, when, text, ids, ev.room);
  });
  client.on("connection", (s: ConnectionState) => {
    const known: ConnectionState[] = ["disconnected", "connecting", "online", "reconnecting", "closed"];
    console.log(known.includes(s));
  });
  client.on("sync", (p: SyncProgress) => console.log(p.room, p.fetched, p.complete, p.gap));
  client.on("error", (e: MucSubError) => console.log(e.code, e.message));
  client.on("subscription", (c: SubscriptionChange) => {
    const now: boolean = c.subscribed;
    const nodes: Node[] = c.nodes;
    console.log(c.room, now, c.nick ?? "(gone)", nodes);
  });
  client.on("role", (r: TabRole) => console.log(r === "leader" || r === "follower"));
  client.on("read", (r: ReadChange) => console.log(r.room, r.unread + 1));
  const role: TabRole | undefined = client.role;
  console.log(role);
  // @ts-expect-error unknown event names do not type-check
  client.on("nope", () => {});

  await client.open();
  await client.connect();
  const nodes: Node[] = ["messages", "subject"];
  const sub: Subscription = await client.subscribe("room@conference.localhost", { nick: "bob", nodes });
  const _all: Subscription = await client.subscribe("room@conference.localhost", { nick: "bob", password: "secret" });
  console.log(sub.room, sub.nick, sub.nodes, sub.unread, sub.last?.body, _all);
  await client.unsubscribe("room@conference.localhost");
  const subs: Subscription[] = await client.subscriptions();
  const people: Subscriber[] = await client.subscribers("room@conference.localhost");
  console.log(subs.length, people.map((p) => [p.jid, p.nick, p.nodes]));
  const { id }: { id: string } = await client.send("room@conference.localhost", "hello");
  // Issue 22: replies, corrections, retraction, reactions, moderation, and what a message
  // event carries once they are folded into it.
  const reply: SendResult = await client.send("room@conference.localhost", "yes", { replyTo: id });
  const fixed: SendResult = await client.edit("room@conference.localhost", id, "hello!");
  await client.react("room@conference.localhost", id, ["👍"]);
  await client.retract("room@conference.localhost", reply.id);
  const gone: void = await client.moderate("room@conference.localhost", "stanza-1", "spam");
  client.on("event", (e: RoomEvent) => {
    const who: string | undefined = e.occupantId;
    const before: string[] | undefined = e.edited;
    const why: string | undefined = e.retracted?.reason ?? e.moderated?.reason;
    const by: string | undefined = e.moderated?.by;
    const likes: string[] | undefined = e.reactions?.["👍"];
    const answered: string | undefined = e.replyTo?.id;
    const what: "edit" | "retract" | "moderate" | "react" | undefined = e.change;
    console.log(e.kind === "change", e.target, e.emojis, who, before, why, by, likes, answered, what);
  });
  // The message as a change left it, to replace the one shown by its id.
  client.on("update", (m: RoomEvent) => {
    const shown: string | undefined = m.stanzaId ?? m.id;
    console.log(shown, m.body, m.edited, m.retracted, m.moderated, m.reactions);
  });
  console.log(fixed.id, gone);
  await client.setSubject("room@conference.localhost", "topic");
  const read: void = await client.markRead("room@conference.localhost");
  await client.markRead("room@conference.localhost", id);
  console.log(read);
  const page: HistoryPage = await client.history("room@conference.localhost", { before: id, limit: 20 });
  const first: HistoryPage = await client.history("room@conference.localhost");
  const more: boolean = page.complete || first.complete;
  const events: RoomEvent[] = page.events;
  const summary: SyncSummary = await client.resync();
  console.log(more, events.length, summary.rooms, summary.fetched, summary.gaps);
  try {
    await client.send("not a room", "x");
  } catch (e) {
    const err = e as MucSubError;
    const code: MucSubError["code"] = err.code;
    console.log(code === "bad-request");
  }
  await client.close();
}

// Sign-in with the app's tokens: a callback asked before every connection.
export async function withTokens(mint: () => Promise<string>): Promise<void> {
  const client = new MucSubClient({
    url: "wss://chat.example.org/ws",
    jid: "bob@example.org",
    store: "mucsub-bob",
    credentials: async (): Promise<Credentials> => ({ token: await mint() }),
  });
  await client.connect();
  const sync: ClientOptions = {
    url: "ws://127.0.0.1:5280/ws", jid: "bob@localhost", store: "s",
    credentials: () => ({ password: "pw" }),
  };
  new MucSubClient(sync);
  // @ts-expect-error a password and a callback together do not type-check
  const both: ClientOptions = { url: "u", jid: "j", store: "s", password: "pw", credentials: () => ({ token: "t" }) };
  // @ts-expect-error neither does a callback returning something else
  const wrong: ClientOptions = { url: "u", jid: "j", store: "s", credentials: () => ({ jwt: "t" }) };
  console.log(both, wrong);
  await client.close();
  // After the first sign-in: neither, the device's saved token signs in; signOut revokes it.
  const woken = new MucSubClient({ url: "ws://127.0.0.1:5280/ws", jid: "bob@localhost", store: "s" });
  await woken.connect();
  const signedOut: Promise<void> = woken.signOut();
  await signedOut;
}
