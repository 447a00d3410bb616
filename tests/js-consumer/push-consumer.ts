// The push part of the public types (src/wasm/push.rs, docs/js-api.md): type-checked only.
import {
  MucSubClient,
  type EnablePushOptions,
  type PushInfo,
  type PushRegistration,
  type PushSubscriptionInput,
} from "mucsub";

export async function notifications(client: MucSubClient, sw: ServiceWorkerRegistration): Promise<void> {
  const info: PushInfo = await client.pushInfo();
  const key: string = info.publicKey;
  const browserSub: PushSubscription = await sw.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: key,
  });
  const options: EnablePushOptions = { includeBody: false };
  const reg: PushRegistration = await client.enablePush(browserSub, options);
  console.log(reg.service, reg.node, info.service);
  const plain: PushSubscriptionInput = { endpoint: "https://push.example/x", keys: { p256dh: "k", auth: "a" } };
  await client.enablePush(plain);
  await client.disablePush(browserSub);
  await client.disablePush();
  await client.pushInfo({ service: "push.localhost" });
}
