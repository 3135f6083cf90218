/**
 * The push's cryptography checked from the receiving side: the test decryptor against RFC 8291's
 * worked example, then what the server sends (the library's encryption, the server's VAPID token)
 * read back with it, in workerd as the Worker runs.
 */
import { encryptNotification } from "@block65/webcrypto-web-push";
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { vapidKeys } from "../../src/push/config";
import { vapidAuthorization, VAPID_TOKEN_TTL_SECONDS } from "../../src/push/vapid";
import { decryptPush, fromBase64url, knownSubscriber, newSubscriber, verifyVapid } from "../support/push-receiver";

// RFC 8291, Appendix A.
const RFC8291 = {
  plaintext: "When I grow up, I want to be a watermelon",
  asPublic: "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
  uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
  uaPublic: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
  salt: "DGv6ra1nlYgDCS1FRnbzlw",
  auth: "BTBZMqHH6r4Tts7J_aSIgg",
  body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
};

describe("the test's receiving side", () => {
  it("decrypts RFC 8291's worked example", async () => {
    const subscriber = await knownSubscriber(RFC8291.uaPrivate, RFC8291.uaPublic, RFC8291.auth);
    const { plaintext, header } = await decryptPush(fromBase64url(RFC8291.body), subscriber);
    expect(plaintext).toBe(RFC8291.plaintext);
    expect(header.recordSize).toBe(4096);
    expect(header.salt).toEqual(fromBase64url(RFC8291.salt));
    expect(header.senderKey).toEqual(fromBase64url(RFC8291.asPublic));
  });

  it("refuses the example altered by one bit, or read with another subscriber's keys", async () => {
    const subscriber = await knownSubscriber(RFC8291.uaPrivate, RFC8291.uaPublic, RFC8291.auth);
    const altered = fromBase64url(RFC8291.body);
    altered[altered.length - 3]! ^= 1;
    await expect(decryptPush(altered, subscriber)).rejects.toThrow();
    await expect(decryptPush(fromBase64url(RFC8291.body), await newSubscriber())).rejects.toThrow();
  });
});

describe("what the server sends", () => {
  it("encrypts a payload that the subscriber alone decrypts, padded to one 4096-byte record", async () => {
    const subscriber = await newSubscriber();
    const payload = JSON.stringify({ type: "message", chatId: 1, preview: "héllo 😀" });
    const body = await encryptNotification({ endpoint: "https://push.test/x", expirationTime: null, keys: subscriber.keys }, new TextEncoder().encode(payload));
    expect(body.length).toBe(4096);
    const { plaintext, header } = await decryptPush(body, subscriber);
    expect(plaintext).toBe(payload);
    expect(header.recordSize).toBe(4096);
    await expect(decryptPush(body, await newSubscriber())).rejects.toThrow();
  });

  it("signs a VAPID token a push service accepts: ES256 with k, aud the endpoint's origin, exp within 24 h, sub a contact", async () => {
    const keys = vapidKeys(env)!;
    expect(keys).not.toBeNull();
    const endpoint = "https://push.test:8443/send/abc?x=1";
    const now = Math.floor(Date.now() / 1000);
    const header = await vapidAuthorization(keys, endpoint, now);
    const { claims, key } = await verifyVapid(header, endpoint, now);
    expect(key).toBe(keys.publicKey);
    expect(claims.aud).toBe("https://push.test:8443");
    expect(claims.exp).toBe(now + VAPID_TOKEN_TTL_SECONDS);
    expect(claims.sub).toBe(keys.subject);
    // Another origin gets its own token; a push service of another origin refuses this one.
    await expect(verifyVapid(header, "https://other.test/send/abc", now)).rejects.toThrow(/aud/);
    const other = await vapidAuthorization(keys, "https://other.test/send/abc", now);
    expect((await verifyVapid(other, "https://other.test/send/abc", now)).claims.aud).toBe("https://other.test");
  });

  it("a token signed with another key does not verify with k", async () => {
    const keys = vapidKeys(env)!;
    const header = await vapidAuthorization(keys, "https://push.test/a");
    const forged = header.replace(/k=[\w-]+$/, `k=${(await newSubscriber()).keys.p256dh}`);
    await expect(verifyVapid(forged, "https://push.test/a")).rejects.toThrow(/signature/);
  });
});
