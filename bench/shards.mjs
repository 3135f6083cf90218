// Fan-out shards (issue 27, item 3; docs/ARCHITECTURE.md "Large rooms: fan-out shards"): one room
// of `clients` sockets, one sender, `messages` messages with at most `window` unacknowledged — the
// `messaging` scenario — plus how the sockets were spread over the room and its shards and what the
// fan-out cost in calls between objects. The service's FANOUT_SHARD_SOCKETS decides the spread:
// compare `npm run bench -- shards` (the default: one object) with
// `npm run bench -- shards --shard-sockets 100` (the room and 9 shards of 100).
import { messaging } from "./scenarios.mjs";

async function benchJson(url, path) {
  try {
    const res = await fetch(url + path);
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

export async function shards(ctx, params) {
  const upgradesBefore = (await benchJson(ctx.url, "/__bench/rooms"))?.shard_upgrades ?? 0;
  const result = await messaging(ctx, params);
  // `messaging` zeroes the call counters after its sockets are open: these are the timed phase's.
  const counters = await benchJson(ctx.url, "/__bench/d1");
  const upgrades = ((await benchJson(ctx.url, "/__bench/rooms"))?.shard_upgrades ?? 0) - upgradesBefore;
  const rpc = counters?.rpc_by_method ?? {};
  const per = (n) => +((n ?? 0) / Math.max(1, result.acked)).toFixed(3);
  return {
    ...result,
    fanout: {
      sockets_on_shards: upgrades,
      sockets_in_room: params.clients - upgrades,
      deliver_calls: rpc["FanoutShard.deliver"] ?? 0,
      deliver_calls_per_message: per(rpc["FanoutShard.deliver"]),
      from_shard_calls_per_message: per(rpc["ChatRoom.fromShard"]),
    },
  };
}
