/**
 * Keeps a signed-in client signed in: shortly before the token expires it asks for a fresh one
 * (`POST /api/auth/refresh`) and hands it to every attached connection, whose open sockets
 * re-authenticate in band (`auth`) without reconnecting.
 *
 * When the server refuses the refresh with 401 (the session was revoked or has expired) it emits
 * `ended` and stops; other failures (offline, 5xx) are retried with backoff until the token expires.
 */
import { ApiError, type ApiClient } from "./api";
import { backoffDelay } from "./backoff";
import { Emitter } from "./emitter";
import type { SocketEnvironment } from "./socket";

export interface TokenRefresherEvents {
  /** A fresh token is in use (store it: a reload should not sign the user out). */
  token: { token: string; expiresAt: number };
  /** The server refused to extend the session: the user must sign in again. */
  ended: { error: ApiError };
}

/** Refresh this long before expiry, at most: a fifth of the token's life for short-lived tokens. */
const MAX_LEAD_MS = 5 * 60 * 1000;

/** `exp` and `iat` of a JWT, in ms; null for anything that is not a readable JWT. */
export function tokenTimes(token: string): { issuedAt: number; expiresAt: number } | null {
  try {
    const payload = token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/");
    const { iat, exp } = JSON.parse(atob(payload)) as { iat?: unknown; exp?: unknown };
    if (typeof exp !== "number") return null;
    return { issuedAt: typeof iat === "number" ? iat * 1000 : exp * 1000, expiresAt: exp * 1000 };
  } catch {
    return null;
  }
}

/** When to refresh a token issued at `issuedAt` that expires at `expiresAt`. */
export function refreshAt(issuedAt: number, expiresAt: number): number {
  return expiresAt - Math.min(MAX_LEAD_MS, (expiresAt - issuedAt) / 5);
}

export class TokenRefresher extends Emitter<TokenRefresherEvents> {
  private readonly connections = new Set<{ useToken(token: string): void }>();
  private timer: unknown = null;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly api: ApiClient,
    private readonly env: Pick<SocketEnvironment, "setTimeout" | "clearTimeout" | "random">,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** Starts the schedule for the api's current token. */
  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.env.clearTimeout(this.timer);
  }

  /** A connection that should follow the token from now on; returns the detach function. */
  attach(connection: { useToken(token: string): void }): () => void {
    this.connections.add(connection);
    return () => this.connections.delete(connection);
  }

  private schedule(delay?: number): void {
    this.env.clearTimeout(this.timer);
    if (this.stopped || !this.api.token) return;
    const times = tokenTimes(this.api.token);
    if (!times) return;
    const wait = delay ?? Math.max(0, refreshAt(times.issuedAt, times.expiresAt) - this.now());
    this.timer = this.env.setTimeout(() => void this.refresh(times.expiresAt), wait);
  }

  private async refresh(expiresAt: number): Promise<void> {
    try {
      const { token } = await this.api.refresh();
      if (this.stopped) return;
      this.failures = 0;
      for (const connection of this.connections) connection.useToken(token);
      this.emit("token", { token, expiresAt: tokenTimes(token)?.expiresAt ?? expiresAt });
      this.schedule();
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof ApiError && err.fromApi && err.status === 401) {
        this.stop();
        this.emit("ended", { error: err });
        return;
      }
      // Offline or a server hiccup: try again with backoff, and once more right at the expiry.
      const backoff = backoffDelay(this.failures++, this.env.random);
      const left = expiresAt - this.now();
      this.schedule(left > 0 ? Math.min(backoff, left) : backoff);
    }
  }
}
