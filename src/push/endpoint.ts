/**
 * Which push endpoints the server sends to. RFC 8030 push services are `https:`; a deployment may
 * also allow `http:` on loopback so that a push service of the tests' own can stand in
 * (`PUSH_ALLOW_LOOPBACK_HTTP`). Anything else would let a user make the Worker post to any host of
 * their choosing, so it is refused when the subscription is made (400), not when a push is sent.
 */

/** 127.0.0.0/8, `localhost` and `[::1]`, as WHATWG URL parsing normalises them. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Why `endpoint` cannot be a subscription's (a sentence for the 400), or null when it can. */
export function endpointRefusal(endpoint: string, allowLoopbackHttp: boolean): string | null {
  if (!URL.canParse(endpoint)) return "endpoint must be a URL";
  const url = new URL(endpoint);
  if (url.username || url.password) return "endpoint must not carry credentials";
  if (url.protocol === "https:") return null;
  if (url.protocol === "http:" && allowLoopbackHttp && isLoopbackHost(url.hostname)) return null;
  return allowLoopbackHttp ? "endpoint must be an https: URL (or http: on loopback)" : "endpoint must be an https: URL";
}
