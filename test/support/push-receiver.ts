/**
 * The receiving side of Web Push, as a browser and a push service do it, for tests only: a
 * subscriber's keys, decryption of an `aes128gcm` body (RFC 8291 §3.4 over RFC 8188), and the push
 * service's check of a VAPID `Authorization` header (RFC 8292 §2–3). Written from the RFCs with
 * WebCrypto's ECDH, HKDF, AES-GCM and ECDSA (no primitive by hand), independently of the server's
 * library, and checked against RFC 8291's worked example (test/workers/push-crypto.test.ts). Runs in
 * workerd and in Node 24 (erasable TypeScript only: the e2e tests import it as it is).
 */

const encoder = new TextEncoder();

export function toBase64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, ""));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A browser's keys for one subscription: the ECDH key pair (`p256dh`) and the 16-byte auth secret. */
export interface Subscriber {
  privateKey: CryptoKey;
  /** The uncompressed public point, 65 bytes. */
  publicKey: Uint8Array<ArrayBuffer>;
  authSecret: Uint8Array<ArrayBuffer>;
  /** As `PushSubscription.toJSON().keys` gives them. */
  keys: { p256dh: string; auth: string };
}

/** New subscriber keys, as `pushManager.subscribe` makes them. */
export async function newSubscriber(): Promise<Subscriber> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
  const publicKey = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  const authSecret = crypto.getRandomValues(new Uint8Array(16));
  return { privateKey: pair.privateKey, publicKey, authSecret, keys: { p256dh: toBase64url(publicKey), auth: toBase64url(authSecret) } };
}

/** A subscriber from known keys (RFC 8291 Appendix A's, in the crypto test): `d` and the public point, base64url. */
export async function knownSubscriber(privateD: string, publicPoint: string, auth: string): Promise<Subscriber> {
  const publicKey = fromBase64url(publicPoint);
  const jwk = { kty: "EC", crv: "P-256", x: toBase64url(publicKey.subarray(1, 33)), y: toBase64url(publicKey.subarray(33, 65)), d: privateD };
  const privateKey = await crypto.subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  return { privateKey, publicKey, authSecret: fromBase64url(auth), keys: { p256dh: publicPoint, auth } };
}

async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const key = await crypto.subtle.importKey("raw", new Uint8Array(ikm), "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(salt), info: new Uint8Array(info) }, key, bytes * 8));
}

/** What an `aes128gcm` body's header says (RFC 8188 §2.1). */
export interface Aes128gcmHeader {
  salt: Uint8Array<ArrayBuffer>;
  recordSize: number;
  /** The application server's ephemeral public key (RFC 8291 §4: the key id). */
  senderKey: Uint8Array<ArrayBuffer>;
}

/** Decrypts a push body with the subscriber's keys, as a browser does; throws when it does not decrypt. */
export async function decryptPush(body: Uint8Array, subscriber: Subscriber): Promise<{ plaintext: string; header: Aes128gcmHeader }> {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const salt = new Uint8Array(body.subarray(0, 16));
  const recordSize = view.getUint32(16);
  const idLength = body[20]!;
  const senderKey = new Uint8Array(body.subarray(21, 21 + idLength));
  if (idLength !== 65) throw new Error(`the key id is ${idLength} bytes, not an uncompressed P-256 point`);
  const sender = await crypto.subtle.importKey("raw", senderKey, { name: "ECDH", namedCurve: "P-256" }, false, []);
  // The runtime's parameter is `public` (WebCrypto); the Workers types spell it `$public`.
  const ecdh = { name: "ECDH", public: sender } as unknown as SubtleCryptoDeriveKeyAlgorithm;
  const shared = new Uint8Array(await crypto.subtle.deriveBits(ecdh, subscriber.privateKey, 256));
  // RFC 8291 §3.4: the input keying material from the ECDH secret and the auth secret.
  const ikm = await hkdf(subscriber.authSecret, shared, concat(encoder.encode("WebPush: info\0"), subscriber.publicKey, senderKey), 32);
  const cek = await hkdf(salt, ikm, encoder.encode("Content-Encoding: aes128gcm\0"), 16);
  const nonceBase = await hkdf(salt, ikm, encoder.encode("Content-Encoding: nonce\0"), 12);
  const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
  const records = body.subarray(21 + idLength);
  const out: Uint8Array[] = [];
  for (let seq = 0, at = 0; at < records.length; seq++, at += recordSize) {
    // RFC 8188 §2.3: the record's nonce is the base XOR its sequence number.
    const nonce = nonceBase.slice();
    const tail = new DataView(nonce.buffer, 4);
    tail.setUint32(4, tail.getUint32(4) ^ seq);
    const plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, key, records.slice(at, at + recordSize)));
    // Padding: the data, one delimiter (2 for the last record, 1 otherwise), then zeros.
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    const last = at + recordSize >= records.length;
    if (end < 0 || plain[end] !== (last ? 2 : 1)) throw new Error("bad padding delimiter");
    out.push(plain.subarray(0, end));
  }
  return { plaintext: new TextDecoder().decode(concat(...out)), header: { salt, recordSize, senderKey } };
}

export interface VapidClaims {
  aud: string;
  exp: number;
  sub: string;
  [claim: string]: unknown;
}

/**
 * A push service's check of `Authorization: vapid t=<JWT>, k=<key>` for a push to `endpoint`: ES256
 * signed with the key `k`, `aud` the endpoint's origin, `exp` in the future and at most 24 hours
 * away, `sub` a `mailto:` or `https:` URL. Returns the claims and the key; throws saying what is wrong.
 */
export async function verifyVapid(authorization: string | null, endpoint: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<{ claims: VapidClaims; key: string }> {
  const match = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(authorization ?? "");
  if (!match) throw new Error(`not a vapid Authorization header: ${authorization}`);
  const [, token, key] = match as unknown as [string, string, string];
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const decodeJson = (part: string) => JSON.parse(new TextDecoder().decode(fromBase64url(part)));
  const { alg } = decodeJson(header);
  if (alg !== "ES256") throw new Error(`JWT alg ${alg}, not ES256`);
  const publicKey = await crypto.subtle.importKey("raw", fromBase64url(key), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const valid = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, publicKey, fromBase64url(signature), encoder.encode(`${header}.${payload}`));
  if (!valid) throw new Error("the JWT's signature does not verify with k");
  const claims = decodeJson(payload) as VapidClaims;
  if (claims.aud !== new URL(endpoint).origin) throw new Error(`aud ${claims.aud} is not the endpoint's origin`);
  if (!(claims.exp > nowSeconds && claims.exp <= nowSeconds + 24 * 60 * 60)) throw new Error(`exp ${claims.exp} is not within 24 hours of ${nowSeconds}`);
  if (!/^(mailto:|https:\/\/)/.test(claims.sub)) throw new Error(`sub ${claims.sub} is neither mailto: nor https:`);
  return { claims, key };
}
