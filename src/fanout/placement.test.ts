import { describe, expect, it } from "vitest";
import { nearestHint, parseShardName, regionOf, shardName } from "./placement";

describe("nearestHint", () => {
  it("maps a request's continent (and longitude where a continent spans two hints) to a location hint", () => {
    expect(nearestHint({ continent: "NA", longitude: "-122.4" })).toBe("wnam");
    expect(nearestHint({ continent: "NA", longitude: "-74.0" })).toBe("enam");
    expect(nearestHint({ continent: "NA" })).toBe("enam");
    expect(nearestHint({ continent: "EU", longitude: "2.35" })).toBe("weur");
    expect(nearestHint({ continent: "EU", longitude: "37.6" })).toBe("eeur");
    expect(nearestHint({ continent: "AS", longitude: "55.3" })).toBe("me");
    expect(nearestHint({ continent: "AS", longitude: "139.7" })).toBe("apac");
    expect(nearestHint({ continent: "SA" })).toBe("sam");
    expect(nearestHint({ continent: "OC" })).toBe("oc");
    expect(nearestHint({ continent: "AF" })).toBe("afr");
  });

  it("says nothing without cf (local runs) or for Antarctica", () => {
    expect(nearestHint(undefined)).toBeUndefined();
    expect(nearestHint({ continent: "AN" })).toBeUndefined();
  });
});

describe("shard names", () => {
  it("round-trip, and only a known region or 'any' is a region", () => {
    const name = shardName({ chatId: 42, region: "weur", index: 3 });
    expect(name).toBe("42/weur/3");
    expect(parseShardName(name)).toEqual({ chatId: 42, region: "weur", index: 3 });
    expect(parseShardName("42/any/0")).toEqual({ chatId: 42, region: "any", index: 0 });
    for (const bad of ["42", "42/mars/0", "0/any/0", "42/any/-1", "x/any/0", undefined]) expect(() => parseShardName(bad)).toThrow();
  });

  it("a region header that is not a hint (forged, or absent) places the socket with callers from anywhere", () => {
    expect(regionOf("eeur")).toBe("eeur");
    expect(regionOf("../../etc")).toBe("any");
    expect(regionOf(null)).toBe("any");
  });
});
