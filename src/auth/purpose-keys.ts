/**
 * HMAC keys derived from the signing secret, one per purpose (HMAC of the purpose's label), so that
 * what is signed for one purpose (a download URL, a push topic) can never be taken for another's, nor
 * for a token. Derived once per secret and purpose per isolate.
 */
const encoder = new TextEncoder();

const keys = new WeakMap<Uint8Array, Map<string, Promise<CryptoKey>>>();

function hmac(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

export function purposeKey(secret: Uint8Array, purpose: string): Promise<CryptoKey> {
  let bySecret = keys.get(secret);
  if (!bySecret) keys.set(secret, (bySecret = new Map()));
  let key = bySecret.get(purpose);
  if (!key) {
    key = hmac(secret)
      .then((root) => crypto.subtle.sign("HMAC", root, encoder.encode(purpose)))
      .then((derived) => hmac(new Uint8Array(derived)));
    bySecret.set(purpose, key);
  }
  return key;
}
