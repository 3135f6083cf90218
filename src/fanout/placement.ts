/**
 * Where a chat's sockets go once its room holds as many as it should: fan-out shards named after
 * the chat, a region and a number, each created near the users of its region (a Durable Object
 * location hint, taken from the connecting request's `cf` properties).
 */

/** Set by the Worker on the upgrade it forwards to the room: the caller's region (a location hint). */
export const NEAR_HEADER = "X-Edge-Chat-Near";
/** Set by the room on its answer to an upgrade it places on a shard: the shard's name. Never reaches a client. */
export const SHARD_HEADER = "X-Edge-Chat-Shard";

/** Shards of callers whose region is unknown (local runs have no `cf`). */
export const ANYWHERE = "any";

const HINTS = new Set<string>(["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"]);

/**
 * The Durable Object location hint nearest a request, from Cloudflare's `cf` properties (continent,
 * longitude); undefined when they say nothing (local runs, tests).
 */
export function nearestHint(cf: Pick<IncomingRequestCfProperties, "continent" | "longitude"> | undefined): DurableObjectLocationHint | undefined {
  const longitude = Number(cf?.longitude);
  const east = (limit: number) => Number.isFinite(longitude) && longitude >= limit;
  switch (cf?.continent) {
    case "NA":
      return Number.isFinite(longitude) && longitude < -100 ? "wnam" : "enam";
    case "SA":
      return "sam";
    case "EU":
      return east(20) ? "eeur" : "weur";
    case "AF":
      return "afr";
    case "AS":
      return Number.isFinite(longitude) && longitude < 60 ? "me" : "apac";
    case "OC":
      return "oc";
    default:
      return undefined;
  }
}

export interface ShardName {
  chatId: number;
  /** A location hint, or "any". */
  region: string;
  index: number;
}

export const shardName = ({ chatId, region, index }: ShardName): string => `${chatId}/${region}/${index}`;

export function parseShardName(name: string | undefined): ShardName {
  const [chatId, region, index] = (name ?? "").split("/");
  const parsed = { chatId: Number(chatId), region: region ?? "", index: Number(index) };
  if (!Number.isSafeInteger(parsed.chatId) || parsed.chatId <= 0 || !Number.isSafeInteger(parsed.index) || parsed.index < 0 || !isRegion(parsed.region)) {
    throw new Error(`not a fan-out shard's name: ${name}`);
  }
  return parsed;
}

/** A region as the Worker's header names it: a known hint, or "any" for anything else (a forged header included). */
export const regionOf = (header: string | null): string => (header !== null && HINTS.has(header) ? header : ANYWHERE);

const isRegion = (region: string) => region === ANYWHERE || HINTS.has(region);

/** The location hint a shard is created with; none for "any". */
export const hintOf = (region: string): DurableObjectLocationHint | undefined =>
  HINTS.has(region) ? (region as DurableObjectLocationHint) : undefined;

/** A shard's stub; created, the first time, near its region's users. */
export function shardStub(env: Env, name: string) {
  const hint = hintOf(parseShardName(name).region);
  return env.FANOUT_SHARD.get(env.FANOUT_SHARD.idFromName(name), hint ? { locationHint: hint } : undefined);
}
