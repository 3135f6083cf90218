/** Small socket helpers shared by the chat room and the inbox. */

/** Sends, ignoring a socket that is already closing (its close handler does the bookkeeping). */
export function safeSend(ws: WebSocket, frame: string): void {
  try {
    ws.send(frame);
  } catch {
    // Closing or closed.
  }
}

/** Completes a close the client started, echoing its code where that code may be sent. */
export function echoClose(ws: WebSocket, code: number): void {
  try {
    // 1005/1006/1015 only report what happened; they cannot be sent.
    ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, "closing");
  } catch {
    // Already closed.
  }
}
