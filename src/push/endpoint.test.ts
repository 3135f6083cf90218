import { describe, expect, it } from "vitest";
import { endpointRefusal, isLoopbackHost } from "./endpoint";

describe("endpointRefusal", () => {
  it("takes https: endpoints anywhere", () => {
    expect(endpointRefusal("https://fcm.googleapis.com/fcm/send/abc", false)).toBeNull();
    expect(endpointRefusal("https://127.0.0.1:8443/push", false)).toBeNull();
  });

  it("takes http: only on loopback, and only when the deployment allows it", () => {
    for (const url of ["http://127.0.0.1:9000/p", "http://127.5.6.7/p", "http://localhost:8080/p", "http://[::1]:8080/p", "http://127.1/p"]) {
      expect(endpointRefusal(url, true), url).toBeNull();
      expect(endpointRefusal(url, false), url).toMatch(/https:/);
    }
    for (const url of ["http://example.com/p", "http://10.0.0.1/p", "http://128.0.0.1/p", "http://localhost.example.com/p", "http://[::2]/p", "http://0.0.0.0/p"]) {
      expect(endpointRefusal(url, true), url).toMatch(/https:/);
    }
  });

  it("refuses other schemes, credentials and non-URLs", () => {
    expect(endpointRefusal("ftp://push.example/p", true)).toMatch(/https:/);
    expect(endpointRefusal("https://user:pw@push.example/p", true)).toMatch(/credentials/);
    expect(endpointRefusal("not a url", true)).toMatch(/URL/);
  });

  it("knows loopback hosts as URL parsing writes them", () => {
    expect(isLoopbackHost(new URL("http://127.000.000.001/").hostname)).toBe(true);
    expect(isLoopbackHost(new URL("http://LOCALHOST/").hostname)).toBe(true);
    expect(isLoopbackHost(new URL("http://[0:0:0:0:0:0:0:1]/").hostname)).toBe(true);
    expect(isLoopbackHost("127.0.0.1.example.com")).toBe(false);
  });
});
