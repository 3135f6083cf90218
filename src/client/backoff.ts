/**
 * Retry delay: exponential from `baseMs` (doubling per attempt), capped at `maxMs`, with "equal
 * jitter": a uniformly random delay in the upper half, [ceiling / 2, ceiling]. Clients spread out,
 * yet none retries almost at once (as full jitter, [0, ceiling], would let some do).
 */
export function backoffDelay(attempt: number, random: () => number, baseMs = 500, maxMs = 30_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
