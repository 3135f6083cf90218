/** What a room's RPC methods answer the Worker: a value, or a refusal in the contract's terms. */
import type { HttpErrorCode } from "./responses";

export interface Refusal {
  ok: false;
  code: HttpErrorCode;
  error: string;
  retryAfterSeconds?: number;
}

export type Answer<T extends object = object> = ({ ok: true } & T) | Refusal;

export const refuse = (code: HttpErrorCode, error: string, retryAfterSeconds?: number): Refusal => ({
  ok: false,
  code,
  error,
  ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
});
