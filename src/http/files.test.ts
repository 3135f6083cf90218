import { describe, expect, it } from "vitest";
import { limits } from "../protocol/limits";
import { allowedTypes, byteRange, contentDisposition, essence, fileName, maxUploadBytes } from "./files";

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
