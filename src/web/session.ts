/** The signed-in user, kept in localStorage so a reload stays signed in; logout clears it. */
import type { AuthResponse } from "../protocol/models";

const KEY = "edge-chat-session";

export function loadSession(): AuthResponse | null {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "null");
    return value && typeof value.token === "string" ? value : null;
  } catch {
    return null;
  }
}

export const saveSession = (session: AuthResponse) => localStorage.setItem(KEY, JSON.stringify(session));
export const clearSession = () => localStorage.removeItem(KEY);
