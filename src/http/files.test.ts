import { describe, expect, it } from "vitest";
import { limits } from "../protocol/limits";
import { allowedTypes, byteRange, contentDisposition, essence, evaluatePreconditions, fileName, maxUploadBytes, parseHttpDate } from "./files";

describe("upload and download rules", () => {
  it("compares types by their lower-cased essence", () => {
    expect(essence("Image/PNG; charset=x")).toBe("image/png");
    expect(essence("nonsense")).toBeNull();
    expect(essence(undefined)).toBeNull();
    expect([...allowedTypes(" image/png , TEXT/plain,bad")]).toEqual(["image/png", "text/plain"]);
  });

  it("reads the size limit, falling back to 10 MiB for anything but a positive integer", () => {
    expect(maxUploadBytes("2048")).toBe(2048);
    for (const v of [undefined, "", "0", "-1", "1e6", "ten"]) expect(maxUploadBytes(v)).toBe(limits.attachmentMaxBytesDefault);
  });

  it("cleans file names", () => {
    expect(fileName(undefined)).toBeNull();
    expect(fileName("%ZZ")).toBeNull();
    expect(fileName(encodeURIComponent("a/b\\c\u0007.txt"))).toBe("a_b_c.txt");
    expect(fileName(encodeURIComponent("\u202Etxt.exe"))).toBe("txt.exe");
    expect(fileName("%20%20")).toBe("file");
  });

  it("never offers SVG or HTML inline", () => {
    expect(contentDisposition("a.svg", "image/svg+xml")).toMatch(/^attachment;/);
    expect(contentDisposition("a.html", "text/html")).toMatch(/^attachment;/);
    expect(contentDisposition("a.png", "image/png")).toMatch(/^inline;/);
    expect(contentDisposition("ä'(x).pdf", "application/pdf")).toBe(`attachment; filename="_'(x).pdf"; filename*=UTF-8''%C3%A4%27%28x%29.pdf`);
  });

  it("reads single byte ranges and ignores what it may", () => {
    expect(byteRange(undefined, 10)).toBeNull();
    expect(byteRange("bytes=0-4", 10)).toEqual({ offset: 0, length: 5 });
    expect(byteRange("bytes=5-", 10)).toEqual({ offset: 5, length: 5 });
    expect(byteRange("bytes=8-100", 10)).toEqual({ offset: 8, length: 2 });
    expect(byteRange("bytes=-3", 10)).toEqual({ offset: 7, length: 3 });
    expect(byteRange("bytes=-30", 10)).toEqual({ offset: 0, length: 10 });
    expect(byteRange("bytes=10-", 10)).toBe("unsatisfiable");
    expect(byteRange("bytes=-0", 10)).toBe("unsatisfiable");
    expect(byteRange("bytes=5-2", 10)).toBeNull();
    expect(byteRange("bytes=0-1,3-4", 10)).toBeNull();
    expect(byteRange("items=0-1", 10)).toBeNull();
  });
});

describe("HTTP-dates and preconditions (RFC 9110)", () => {
  it("reads the three HTTP-date forms, any year, and nothing else", () => {
    const t = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")).toBe(t);
    expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", Date.UTC(2026, 0, 1))).toBe(t);
    expect(parseHttpDate("Sun Nov  6 08:49:37 1994")).toBe(t);
    expect(parseHttpDate("Fri, 31 Dec 9999 23:59:59 GMT")).toBe(Date.UTC(9999, 11, 31, 23, 59, 59));
    expect(new Date(parseHttpDate("Mon, 01 Jan 0001 00:00:00 GMT")!).getUTCFullYear()).toBe(1);
    for (const bad of [undefined, "", "garbage", "Tue, 31 Feb 2026 00:00:00 GMT", "Mon, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Fri, 31 Dec 99999 23:59:59 GMT", "2026-01-01T00:00:00Z", "1e400"]) {
      expect(parseHttpDate(bad), String(bad)).toBeNull();
    }
  });

  it("evaluates preconditions in RFC 9110's order, at whole seconds, ignoring a future If-Modified-Since", () => {
    const file = { etag: '"abc"', uploaded: Date.UTC(2026, 0, 1, 12, 0, 0, 700) };
    const now = Date.UTC(2026, 0, 2);
    const at = (headers: Record<string, string>) => evaluatePreconditions((n) => headers[n], file, now);
    const lm = new Date(file.uploaded).toUTCString();
    expect(at({})).toBe("send");
    expect(at({ "If-Modified-Since": lm })).toBe("not_modified");
    expect(at({ "If-Modified-Since": new Date(file.uploaded - 1000).toUTCString() })).toBe("send");
    expect(at({ "If-Modified-Since": new Date(now + 1000).toUTCString() })).toBe("send");
    expect(at({ "If-None-Match": '"x"', "If-Modified-Since": lm })).toBe("send");
    expect(at({ "If-None-Match": 'W/"abc"' })).toBe("not_modified");
    expect(at({ "If-Match": 'W/"abc"' })).toBe("failed");
    expect(at({ "If-Match": '"abc"', "If-Unmodified-Since": "Mon, 01 Jan 0001 00:00:00 GMT" })).toBe("send");
    expect(at({ "If-Unmodified-Since": "Mon, 01 Jan 0001 00:00:00 GMT" })).toBe("failed");
    expect(at({ "If-Unmodified-Since": lm, "If-None-Match": "*" })).toBe("not_modified");
  });
});
